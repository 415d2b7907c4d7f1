"""``python -m ossconnector.emulator`` with bad values: one clear line on
stderr naming the option, exit status 2, never a traceback (issue 14,
defect 9d: ``--bucket b2`` used to end in an OssError traceback)."""

import subprocess
import sys

import pytest

from ossconnector.emulator.process import PACKAGE_ROOT

BAD = [
    (["--bucket", "b2"], "argument --bucket: invalid bucket name 'b2'"),
    (["--bucket", "Upper-Case"], "argument --bucket: invalid bucket name 'Upper-Case'"),
    (["--bucket", "dash-"], "argument --bucket: invalid bucket name 'dash-'"),
    (["--port", "70000"], "argument --port: port 70000 is out of range"),
    (["--port", "-1"], "argument --port: port -1 is out of range"),
    (["--port", "http"], "argument --port: 'http' is not a port number"),
    (["--max-skew", "-5"], "argument --max-skew: '-5' must be a finite number >= 0"),
    (["--max-skew", "inf"], "argument --max-skew: 'inf' must be a finite number >= 0"),
    (["--min-part-size", "-1"], "argument --min-part-size: '-1' must be a finite number >= 0"),
    (["--min-part-size", "1.5"], "argument --min-part-size: '1.5' is not a number"),
    (["--access-key-id", ""], "argument --access-key-id: the access key id must not be empty"),
    (["--region", ""], "argument --region: the region must not be empty"),
    (["--credential", "just-an-id"], "--credential: invalid credential 'just-an-id'"),
    (["--host", "999.1.1.1"], "cannot listen on 999.1.1.1 port 0"),
]


def run_cli(args, **env):
    import os
    child_env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, **env)
    return subprocess.run([sys.executable, "-m", "ossconnector.emulator", "--quiet"] + args,
                          capture_output=True, text=True, env=child_env, timeout=120)


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) or "empty" for a, _ in BAD])
def test_bad_value_is_a_message_not_a_traceback(args, message):
    proc = run_cli(args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no "listening" line: it never served


def test_bad_extra_credentials_variable_is_named():
    proc = run_cli([], OSSEMU_EXTRA_CREDENTIALS="ak1:sk1,broken")
    assert proc.returncode == 2, proc.stderr
    assert "OSSEMU_EXTRA_CREDENTIALS: invalid credential 'broken'" in proc.stderr
    assert "sk1" not in proc.stderr and "Traceback" not in proc.stderr


def test_port_in_use_is_a_message():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        proc = run_cli(["--port", str(port)])
    assert proc.returncode == 2, proc.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
