"""Paper cuts: the emulator names the credentials it accepts; errors name
the endpoint's port and say the URI once."""

import json
import socket
import subprocess
import sys

from tests_helpers import reaped


def test_emulator_prints_the_credentials_it_accepts():
    cmd = [sys.executable, "-m", "ossconnector.emulator", "--quiet"]
    with reaped(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)) as proc:
        first = proc.stdout.readline()
        assert first.startswith("ossemu listening on http://127.0.0.1:")
        accepts = proc.stderr.readline()
        assert accepts.startswith("ossemu accepts OSS_ACCESS_KEY_ID=ossemu-access-key-id "
                                  "OSS_ACCESS_KEY_SECRET=ossemu-access-key-secret")
        assert "OSS_ENDPOINT=" + first.split()[-1] in proc.stderr.readline()
        proc.terminate()
        proc.wait(timeout=60)


def test_emulator_never_echoes_a_secret_it_was_given():
    cmd = [sys.executable, "-m", "ossconnector.emulator", "--quiet", "--access-key-id", "me",
           "--access-key-secret", "s3cr3t-value"]
    with reaped(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)) as proc:
        proc.stdout.readline()
        line = proc.stderr.readline()
        proc.terminate()
        _, rest = proc.communicate(timeout=60)
    assert "OSS_ACCESS_KEY_ID=me" in line
    assert "s3cr3t-value" not in line + rest


def test_unreachable_endpoint_names_the_port_and_the_uri_once(ossc, tmp_path):
    with socket.socket() as s:           # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cred = tmp_path / "cred"
    cred.write_text(json.dumps({"AccessKeyId": "a", "AccessKeySecret": "b"}))
    src = tmp_path / "f"
    src.write_bytes(b"x")
    conn = ["--endpoint", f"http://127.0.0.1:{port}", "--cred-path", str(cred)]
    r = ossc(*conn, "cp", str(src), "oss://bkt/k", connect=False)
    assert r.code == 1
    assert f"port {port}" in r.err
    first = r.err.splitlines()[0]
    assert first.count("oss://bkt/k") == 2, first    # "SRC -> DST: PUT DST via ...", no more
