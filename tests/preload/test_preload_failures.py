"""Failures under LD_PRELOAD: the application gets a failing open or read
with a meaningful errno and a clear message — never wrong bytes, never a
hang — and MODEL_DIR never loses a file the connector did not create."""

import errno
import json
import os
import signal
import time

import pytest

from ossconnector.emulator.testing import running_emulator
from preload_helpers import fast_fail_config, make_sharded_model, preload_env, run, upload

READ_ALL = """
import errno, json, os, sys
d = os.environ['MODEL_DIR']
res = {}
for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
    try:
        with open(os.path.join(d, name), 'rb') as f:
            res[name] = len(f.read())
    except OSError as e:
        res[name] = errno.errorcode.get(e.errno, str(e.errno))
try:
    open(os.path.join(d, 'model-00001-of-00003.safetensors'), 'rb').read(10)
    res['direct'] = 'ok'
except OSError as e:
    res['direct'] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(res))
"""


def test_missing_bucket(emu, tmp_path):
    env = preload_env(emu, "no-such-bucket-zz", "m/", tmp_path / "model", tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    start = time.monotonic()
    proc = run(READ_ALL, env)
    assert time.monotonic() - start < 60
    assert "cannot prepare MODEL_DIR" in proc.stderr and "no-such-bucket-zz" in proc.stderr
    assert json.loads(proc.stdout)["direct"] == "ENOENT"
    assert os.listdir(tmp_path / "cache") == []  # no empty cache directory left behind


def test_failed_setup_is_reported_once_through_wrappers(emu, tmp_path):
    """A wrapper script that runs several programs (as pyenv's shims do):
    the process that failed to prepare MODEL_DIR reports it; the processes
    it starts do not try again."""
    env = preload_env(emu, "no-such-bucket-zz", "m/", tmp_path / "model", tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    proc = run(["bash", "-c", "x=$(true); ls / > /dev/null; echo $ENABLE_CONNECTOR; "
                "exec env true"], env, timeout=120)
    assert proc.stderr.count("cannot prepare MODEL_DIR") == 1, proc.stderr
    assert proc.stdout.strip() == ""  # the script's children did not inherit it


def test_missing_prefix(emu, bucket, tmp_path):
    env = preload_env(emu, bucket, "nothing-here/", tmp_path / "model", tmp_path / "cache")
    proc = run(READ_ALL, env)
    assert "no objects under" in proc.stderr
    assert json.loads(proc.stdout)["direct"] == "ENOENT"


def test_access_denied_at_setup(emu, toy_model, bucket):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_ACCESS_KEY_SECRET="wrong-secret")
    proc = run(READ_ALL, env)
    assert "SignatureDoesNotMatch" in proc.stderr
    assert "wrong-secret" not in proc.stderr
    assert json.loads(proc.stdout)["direct"] == "ENOENT"


@pytest.mark.parametrize("status,code,expected", [(404, "NoSuchKey", "ENOENT"),
                                                   (403, "AccessDenied", "EACCES")])
def test_object_errors_after_setup(emu, bucket, toy_model, tmp_path, status, code, expected):
    m = toy_model
    emu.faults.error(status=status, code=code, count=1000, bucket=bucket,
                     key=m["prefix"] + "model-00001-of-00003.safetensors", method="GET")
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    res = json.loads(run(READ_ALL, env).stdout)
    emu.faults.clear()
    assert res["model-00001-of-00003.safetensors"] == expected
    assert res["direct"] == expected
    # The other shards are unaffected and complete.
    for rel, data in m["files"].items():
        if rel != "model-00001-of-00003.safetensors":
            assert res[rel] == len(data)
    log = (tmp_path / "connector.log").read_text()
    assert "model-00001-of-00003.safetensors" in log and code in log


def test_server_down_mid_download(tmp_path):
    """The server dies while shards are in flight: reads fail with an errno
    in bounded time instead of hanging or returning zeros."""
    with running_emulator() as emu:
        emu.create_bucket("dying")
        files = make_sharded_model(str(tmp_path / "local"), shards=2, rows=2048)
        upload(emu, "dying", "m/", files)
        emu.faults.delay(3.0, count=1000, bucket="dying", method="GET",
                         key_prefix="m/model-")
        env = preload_env(emu, "dying", "m/", tmp_path / "model", tmp_path / "cache",
                          OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path),
                          EMU_PID=emu.pid)
        code = "import os, signal, time\nos.kill(int(os.environ['EMU_PID']), signal.SIGKILL)\n" + READ_ALL
        start = time.monotonic()
        res = json.loads(run(code, env, timeout=120).stdout)
        elapsed = time.monotonic() - start
    assert elapsed < 60
    shards = [k for k in res if k.endswith(".safetensors")]
    assert shards and all(res[k] in ("ECONNREFUSED", "EIO", "ETIMEDOUT") for k in shards), res


def test_foreign_files_are_never_deleted(emu, bucket, toy_model):
    m = toy_model
    m["model_dir"].mkdir()
    precious = m["model_dir"] / "my-notes.txt"
    precious.write_text("do not delete")
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    proc = run(READ_ALL, env)
    assert "holds files the connector did not create" in proc.stderr
    assert "my-notes.txt" in proc.stderr
    assert precious.read_text() == "do not delete"
    assert sorted(os.listdir(m["model_dir"])) == ["my-notes.txt"]


def test_rerun_replaces_only_its_own_files(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    first = json.loads(run(READ_ALL, env).stdout)
    second = json.loads(run(READ_ALL, env).stdout)
    assert first == second
    for rel, data in m["files"].items():
        assert second[rel] == len(data)


def test_fetching_process_dies_and_another_takes_over(emu, bucket, tmp_path):
    """The leader (prefetching) process is killed mid-download; a child that
    is waiting for the same shards takes the work over and finishes."""
    files = make_sharded_model(str(tmp_path / "local"), shards=2, rows=4096)
    upload(emu, bucket, "takeover/", files)
    # The leader's first GETs stall past its death.
    emu.faults.delay(3.0, count=6, bucket=bucket, method="GET", key_prefix="takeover/model-")
    out = tmp_path / "child.json"
    env = preload_env(emu, bucket, "takeover/", tmp_path / "model", tmp_path / "cache",
                      CHILD_OUT=str(out), OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    child = "import json, os, sys\n" + READ_ALL.replace("print(json.dumps(res))",
                                                         "open(os.environ['CHILD_OUT'], 'w').write(json.dumps(res))")
    parent = f"""
import os, subprocess, sys, time
subprocess.Popen([sys.executable, '-c', {child!r}])
time.sleep(1.0)
os.kill(os.getpid(), 9)
"""
    import subprocess
    import sys

    # No pipes: the orphaned child must not keep the parent's run() waiting.
    subprocess.run([sys.executable, "-c", parent], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)
    deadline = time.monotonic() + 90
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.2)
    res = json.loads(out.read_text())
    for rel, data in files.items():
        assert res[rel] == len(data), res
    assert "chunks unfinished; fetching them again" in (tmp_path / "connector.log").read_text()


def test_exec_while_prefetching_fetches_the_lost_chunks_again(emu, bucket, tmp_path):
    """A process that exec's while its prefetches are in flight (a pyenv
    shim, a wrapper script ending in ``exec python``): the transfers land
    before the exec, or, past the drain deadline, are abandoned or lost with
    the old image and fetched again; the new image reads every byte right."""
    files = make_sharded_model(str(tmp_path / "local"), shards=2, rows=4096)
    upload(emu, bucket, "execd/", files)
    emu.faults.delay(3.0, count=6, bucket=bucket, method="GET", key_prefix="execd/model-")
    env = preload_env(emu, bucket, "execd/", tmp_path / "model", tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    parent = f"""
import os, sys, time
time.sleep(1.0)   # the prefetcher's first GETs are stalled at the server
os.execv(sys.executable, [sys.executable, '-c', {READ_ALL!r}])
"""
    res = json.loads(run(parent, env).stdout)
    for rel, data in files.items():
        assert res[rel] == len(data), res
    log = (tmp_path / "connector.log").read_text()
    assert ("before exec:" in log or  # drained (test_preload_exec.py)
            "this process claimed before it exec'd are fetched again" in log), log


@pytest.mark.parametrize("name,value", [("OSSC_PREFETCH_WINDOW", "wide"),
                                        ("OSSC_MEMORY_LIMIT", "lots"),
                                        ("OSS_PATH", "oss://b/x/")])
def test_bad_setting_is_reported_on_stderr(emu, bucket, tmp_path, name, value):
    """A malformed setting: one line on stderr naming the variable, the
    program runs without the connector (MODEL_DIR untouched)."""
    env = preload_env(emu, bucket, "m/", tmp_path / "model", tmp_path / "cache",
                      **{name: value})
    proc = run(["/bin/true"], env, timeout=60)
    assert proc.stderr.count("oss-connector:") == 1 and name in proc.stderr, proc.stderr
    assert "connector disabled" in proc.stderr
    assert not (tmp_path / "model").exists()
