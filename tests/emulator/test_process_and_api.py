"""CLI, subprocess and in-process APIs, admin helpers."""

import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import oss2
import pytest

from ossconnector.emulator import Emulator
from ossconnector.emulator.process import PACKAGE_ROOT
from ossconnector.emulator.testing import oss2_bucket, running_emulator


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_cli_prints_line_and_exits_cleanly_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "ossconnector.emulator", "--port", "0", "--bucket", "cli-bucket",
                             "--domain", "cli.test", "--quiet", "--access-key-id", "cli-ak",
                             "--access-key-secret", "cli-sk"], stdout=subprocess.PIPE, env=child_env())
    try:
        line = proc.stdout.readline().decode()
        match = re.fullmatch(r"ossemu listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        endpoint = match.group(1)
        with urllib.request.urlopen(endpoint + "/_emulator/health") as resp:
            assert resp.status == 200
        bucket = oss2.Bucket(oss2.Auth("cli-ak", "cli-sk"), endpoint, "cli-bucket")
        bucket.put_object("k", b"cli")
        assert bucket.get_object("k").read() == b"cli"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(endpoint + "/cli-bucket/k")  # anonymous: 403
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        proc.stdout.close()
    assert rc == 0


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "ossconnector.emulator", "--help"], capture_output=True,
                         env=child_env(), timeout=30)
    assert out.returncode == 0 and b"--access-key-id" in out.stdout


def test_spawn_api():
    emu = Emulator.spawn(access_key_id="sp-ak", access_key_secret="sp-sk", buckets=["spawned"])
    try:
        assert emu.pid and emu.port
        bucket = oss2_bucket(emu, "spawned")
        bucket.put_object("x", b"1")
        assert emu.object_stats("spawned", "x")["PUT"] == 1
    finally:
        emu.stop()
    assert emu.returncode == 0


def test_in_process_emulator_and_admin_helpers():
    with Emulator(access_key_id="ip-ak", access_key_secret="ip-sk", buckets=["inproc-bucket"],
                  domain="inproc.test") as emu:
        assert emu.endpoint == "http://127.0.0.1:%d" % emu.port
        info = emu.put_object("inproc-bucket", "dir/obj", b"hello", content_type="text/plain")
        assert info["size"] == 5 and info["crc64"]
        bucket = oss2_bucket(emu, "inproc-bucket", auth_version="v4")
        got = bucket.get_object("dir/obj")
        assert got.read() == b"hello" and got.content_type == "text/plain"
        assert got.headers["x-oss-hash-crc64ecma"] == info["crc64"]
        emu.faults.error(503)
        with pytest.raises(oss2.exceptions.OssError):
            bucket.get_object("dir/obj")
        emu.create_bucket("inproc-bucket")  # idempotent
        emu.reset()
        with pytest.raises(oss2.exceptions.NoSuchBucket):
            bucket.get_object("dir/obj")
        port = emu.port
    with pytest.raises(OSError):
        urllib.request.urlopen("http://127.0.0.1:%d/_emulator/health" % port, timeout=2)


def test_running_emulator_in_process_context_manager():
    with running_emulator(in_process=True, buckets=["ctx-bucket"]) as emu:
        assert emu.health()["ok"] is True
        oss2_bucket(emu, "ctx-bucket").put_object("a", b"b")


def test_admin_errors(emu):
    from ossconnector.emulator.client import AdminRequestError
    with pytest.raises(AdminRequestError) as exc:
        emu._call("GET", "/nope")
    assert exc.value.status == 404
    with pytest.raises(AdminRequestError):
        emu.put_object("no-such-bucket-x", "k", b"x")
    with pytest.raises(ValueError):
        emu.faults.add("explode")
