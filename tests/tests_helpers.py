"""Plain helpers the test modules import (fixtures live in conftest.py, except
tmp_path_on_tmpfs, which the conftests that want it import)."""

import contextlib
import json
import os
import time

import pytest

PART_SIZE = 1 << 20  # small parts so multi-part paths run on small objects
EMULATOR_DOMAIN = "ossemu.test"  # virtual-hosted names: <bucket>.ossemu.test


def write_config(tmp_path, **overrides):
    """A config.json for tests: small parts, logs under tmp_path."""
    cfg = {
        "logLevel": 1,
        "logPath": str(tmp_path / "connector.log"),
        "auditPath": str(tmp_path / "audit.log"),
        "prefetch": {"vcpus": 2, "workers": 8},
        "http": {"partSize": PART_SIZE, "retryBaseMs": 10, "retryMaxMs": 200,
                 "connectTimeoutMs": 2000, "lowSpeedTimeoutSec": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


write_config_file = write_config


def wait_until(ready, what, timeout=120.0, proc=None):
    """Polls ready() -- an event the code under test causes (a request held
    at the server, a fetch done) -- every 10 ms; fails naming what after
    timeout seconds, or at once when proc (a Popen) ended first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc is not None:
            assert proc.poll() is None, f"exited {proc.returncode} before {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.01)


@contextlib.contextmanager
def reaped(proc):
    """proc (a subprocess.Popen) for a with block, killed and waited for
    when the block leaves it running (a failed assertion), so that no
    server or child outlives its test."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def read_tree(root):
    """{path relative to root: bytes} of every file below root."""
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as fh:
                files[os.path.relpath(p, root)] = fh.read()
    return files


def _is_tmpfs(path: str) -> bool:
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == path and line.split()[2] == "tmpfs" for line in f)
    except OSError:
        return False


@pytest.fixture(name="tmp_path")
def tmp_path_on_tmpfs(request, tmp_path_factory):
    """``tmp_path`` for the tests of a conftest that imports it: a fresh
    directory on /dev/shm, tmpfs like the LD_PRELOAD cache's default
    location (the engine lands bytes in tmpfs files through mappings,
    elsewhere with pwrite), so caches made under it take the path that
    ships; removed after the test.  pytest's usual directory when /dev/shm
    is not tmpfs."""
    import shutil
    import tempfile
    from pathlib import Path

    if not _is_tmpfs("/dev/shm"):
        yield tmp_path_factory.mktemp(request.node.name[:30])
        return
    d = Path(tempfile.mkdtemp(prefix=f"ossc-test-{request.node.name[:40]}-", dir="/dev/shm"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
