"""Rules of the shared cache: one cache per MODEL_DIR (a second OSS_PATH is
refused while the first is in use), nothing left behind by processes that
only look (no ENABLE_CONNECTOR) or fail to start, and a malformed setting
reported once per process tree."""

import hashlib
import json
import os
import subprocess
import sys
import time

from preload_helpers import make_sharded_model, preload_env, run, upload

HOLDER = """
import hashlib, json, os, sys, time
d = os.environ['MODEL_DIR']
def digest():
    return {n: hashlib.sha256(open(os.path.join(d, n), 'rb').read()).hexdigest()
            for n in sorted(os.listdir(d)) if not n.startswith('.')}
first = digest()
open(sys.argv[1], 'w').write('ready')
deadline = time.monotonic() + 240
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.05)
print(json.dumps({'first': first, 'again': digest()}))
"""


def wait_for(path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_second_oss_path_on_same_model_dir_is_refused(emu, bucket, toy_model, tmp_path):
    m = toy_model
    other = make_sharded_model(str(tmp_path / "other-local"), shards=2, rows=64, seed=7)
    upload(emu, bucket, "models/other/", other)
    env1 = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    ready, go = tmp_path / "ready", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", HOLDER, str(ready), str(go)], env=env1,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(ready, first)
        env2 = preload_env(emu, bucket, "models/other/", m["model_dir"], m["cache"])
        second = run(["cat", str(m["model_dir"] / "config.json")], env2, check=False)
        go.write_text("go")
        out, err = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    msg = second.stderr
    assert f"MODEL_DIR {m['model_dir']} is in use for oss://{bucket}/{m['prefix']}" in msg, msg
    assert f"process {first.pid}" in msg and f"oss://{bucket}/models/other/" in msg, msg
    want = {n: hashlib.sha256(b).hexdigest() for n, b in m["files"].items()}
    res = json.loads(out)
    assert res["first"] == want and res["again"] == want
    assert second.stdout == m["files"]["config.json"].decode()  # the first model's, intact


def test_no_leak_from_lookers_and_failed_starts(emu, bucket, tmp_path):
    """Processes without ENABLE_CONNECTOR create nothing when no cache is
    live; a failed start removes what it created."""
    root = tmp_path / "cache-root"
    root.mkdir(mode=0o700)
    env = preload_env(emu, bucket, "m/", tmp_path / "model", root)
    del env["ENABLE_CONNECTOR"]
    for _ in range(5):
        run(["/bin/true"], env)
    run(["bash", "-c", "true; /bin/true; ls / >/dev/null"], env)
    assert os.listdir(root) == []
    bad = preload_env(emu, "no-such-bucket-zz", "m/", tmp_path / "model", root)
    proc = run(["/bin/true"], bad, check=False)
    assert "cannot prepare MODEL_DIR" in proc.stderr
    assert os.listdir(root) == []
    assert not (tmp_path / "model").exists() or os.listdir(tmp_path / "model") == []


def test_no_leak_when_cache_root_is_missing(emu, bucket, tmp_path):
    env = preload_env(emu, bucket, "m/", tmp_path / "model", tmp_path / "never-made")
    del env["ENABLE_CONNECTOR"]
    run(["bash", "-c", "true; /bin/true"], env)
    assert not (tmp_path / "never-made").exists()


def test_bad_setting_reported_once_per_process_tree(emu, bucket, tmp_path):
    script = "true; /bin/true; cat /dev/null; ls / >/dev/null; bash -c '/bin/true; true'"
    for enable in ("1", None):
        env = preload_env(emu, bucket, "m/", tmp_path / "model", tmp_path / "cache",
                          OSSC_PREFETCH_WINDOW="wide")
        if enable is None:
            del env["ENABLE_CONNECTOR"]
        proc = run(["bash", "-c", script], env, timeout=120)
        assert proc.stderr.count("OSSC_PREFETCH_WINDOW='wide'") == 1, (enable, proc.stderr)
        assert proc.stderr.count("oss-connector:") == 1, (enable, proc.stderr)
