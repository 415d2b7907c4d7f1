"""ossc emulator (a real server process) and ossc tar."""

import os
import signal
import subprocess
import sys

from ossconnector.cli import main
from tests_helpers import reaped


def test_emulator_serves_and_stops_on_sigterm(tmp_path):
    cmd = [sys.executable, "-m", "ossconnector.cli", "emulator", "--port", "0",
           "--access-key-id", "AK", "--access-key-secret", "SK", "--bucket", "demo", "--quiet"]
    with reaped(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)) as proc:
        line = proc.stdout.readline()
        assert line.startswith("ossemu listening on http://127.0.0.1:"), proc.stderr.read()
        endpoint = line.split()[-1]
        env = dict(os.environ, OSS_ENDPOINT=endpoint, OSS_ACCESS_KEY_ID="AK",
                   OSS_ACCESS_KEY_SECRET="SK", OSS_CONNECTOR_CONFIG=_config(tmp_path))
        (tmp_path / "f.txt").write_text("hello")
        ossc = [sys.executable, "-m", "ossconnector.cli"]
        up = subprocess.run([*ossc, "cp", str(tmp_path / "f.txt"), "oss://demo/f.txt"],
                            env=env, capture_output=True, text=True, timeout=60)
        assert up.returncode == 0, up.stderr
        ls = subprocess.run([*ossc, "ls", "oss://demo/"], env=env, capture_output=True,
                            text=True, timeout=60)
        assert ls.stdout == "oss://demo/f.txt\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _config(tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{"logPath": "%s", "auditPath": ""}' % (tmp_path / "c.log"))
    return str(p)


def test_emulator_help_and_bad_option(capsys):
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--access-key-id" in out and "ossc emulator" in out
    assert main(["emulator", "--no-such-option"]) == 2


def test_tar_builds_archive_and_index(ossc, bucket, tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.jpg").write_bytes(os.urandom(100 + i))
    r = ossc("tar", "--tar-path", f"oss://{bucket}/t.tar", "--index-path",
             f"oss://{bucket}/t.idx", "--source-path", str(src))
    assert r.code == 0, r.err
    assert r.out.strip() == f"3 members indexed in oss://{bucket}/t.idx"
    listing = ossc("ls", f"oss://{bucket}/").out.split()
    assert listing == [f"oss://{bucket}/t.idx", f"oss://{bucket}/t.tar"]


def test_tar_usage_and_failure(ossc, bucket, tmp_path):
    r = ossc("tar", "--tar-path", "x.tar", "--index-path", "x.idx")
    assert r.code == 2 and "--source-path is required" in r.err
    r = ossc("tar", "--tar-path", str(tmp_path / "x.tar"), "--index-path",
             str(tmp_path / "x.idx"), "--source-path", str(tmp_path / "missing"))
    assert r.code == 1
