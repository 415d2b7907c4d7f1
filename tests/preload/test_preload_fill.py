"""How chunks land in the node cache (engine/landing.c) and how the cache
goes when the last process leaves (nodecache/owners.c): every byte right
(SHA-256 against the source) with huge pages asked for and not, on private
``huge=advise`` and ``huge=within_size`` mounts, on a kernel without
MADV_POPULATE_WRITE (seccomp makes it answer EINVAL), a full tmpfs (a clear
error naming the cache directory; the application gets an error, never
wrong bytes, never SIGBUS), and a process that starts while the last one
exits and the watcher frees the cache (right bytes; nothing left once all
are gone).

The mounts need root (skipped otherwise); each test mounts its own small
tmpfs under its tmp_path and unmounts it afterwards."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from preload_helpers import preload_env, run, upload

MiB = 1 << 20
PART = 3 * MiB  # chunks of 3 MiB: 2 MiB landing steps straddle their edges

# Reads every file named on the command line with read() and one of them
# through mmap, and prints {name: sha256} (or {name: "errno N"}) as JSON.
READER = r"""
import hashlib, json, mmap, os, sys
out = {}
for p in sys.argv[1:]:
    try:
        with open(p, "rb") as f:
            h = hashlib.sha256()
            while chunk := f.read(1 << 20):
                h.update(chunk)
            out[os.path.basename(p)] = h.hexdigest()
            if p == sys.argv[1] and os.path.getsize(p):
                with mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
                    out["mmap"] = hashlib.sha256(m).hexdigest()
    except OSError as e:
        out[os.path.basename(p)] = f"errno {e.errno}"
print(json.dumps(out), flush=True)
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def model(emu, bucket, tmp_path):
    """Three large files of sizes that align with nothing, one small file."""
    rng = __import__("random").Random(17)
    files = {"a.bin": rng.randbytes(7 * MiB + 12345), "sub/c.bin": rng.randbytes(5 * MiB),
             "d.bin": rng.randbytes(3 * MiB // 2 + 1), "config.json": b'{"model_type": "toy"}'}
    prefix = "fill/"
    upload(emu, bucket, prefix, files)
    config = tmp_path / "connector.json"
    config.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"), "auditPath": "",
                                  "http": {"partSize": PART}}))
    large = ["a.bin", "sub/c.bin", "d.bin"]
    return {"files": files, "prefix": prefix, "config": str(config), "large": large,
            "model_dir": tmp_path / "model"}


def env_for(emu, bucket, m, cache_dir, **extra):
    return preload_env(emu, bucket, m["prefix"], m["model_dir"], cache_dir,
                       OSS_CONNECTOR_CONFIG=m["config"], **extra)


def read_all(m, env, prefix_cmd=()):
    paths = [str(m["model_dir"] / rel) for rel in m["large"]]
    proc = run([*prefix_cmd, sys.executable, "-c", READER, *paths], env, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    return json.loads(proc.stdout.splitlines()[-1]), proc.stderr


# Runs the reader once ("one") or twice ("race": the second starts the
# moment the first has printed, while it exits), as a child subreaper: the
# cache's watchers, detached by a double fork, become its children, so it
# can wait (wait(), an event) until every process that held the cache is
# gone, its pages freed.  It prints the readers' outputs as a JSON list.  It
# runs without LD_PRELOAD itself (the readers get it back).
RUNNER = r"""
import ctypes, json, os, subprocess, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
env = dict(os.environ, LD_PRELOAD=os.environ.pop("READER_LD_PRELOAD"))
mode, cmd = sys.argv[1], sys.argv[2:]
first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
procs, lines = [first], [first.stdout.readline()]
if mode == "race":
    procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
outs = [p.communicate() for p in procs]
lines += [o.splitlines()[-1] if o.strip() else "" for o, _ in outs[1:]]
codes = [p.returncode for p in procs]
while True:  # the watchers, reparented to us
    try:
        os.wait()
    except ChildProcessError:
        break
print(json.dumps({"lines": lines, "codes": codes, "stderr": [e for _, e in outs]}))
"""


def read_and_wait_all(m, env, mode="one"):
    """The reader ("one"), or two ("race"), then every process that held
    the cache gone (watchers included); [result of each reader] and their
    stderr."""
    paths = [str(m["model_dir"] / rel) for rel in m["large"]]
    runner_env = {k: v for k, v in env.items() if k != "LD_PRELOAD"}
    runner_env["READER_LD_PRELOAD"] = env["LD_PRELOAD"]
    proc = subprocess.run([sys.executable, "-c", RUNNER, mode, sys.executable, "-c", READER,
                           *paths], env=runner_env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.splitlines()[-1])
    assert res["codes"] == [0] * len(res["codes"]), res["stderr"]
    return [json.loads(line) for line in res["lines"]], "".join(res["stderr"])


def assert_right_bytes(m, got):
    want = {os.path.basename(rel): sha(m["files"][rel]) for rel in m["large"]}
    want["mmap"] = sha(m["files"][m["large"][0]])
    assert got == want


@contextmanager
def tmpfs(path, options):
    """A private tmpfs mounted at path (root only: skips otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "ossc-test", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({proc.stderr.strip()[:200]}): needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def used_bytes(path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


# ------------------------------------------------------------------ huge pages

@pytest.mark.parametrize("huge", ["1", "0"])
def test_bytes_right_with_huge_pages_on_and_off(emu, bucket, model, tmp_path, huge):
    """On /dev/shm-like tmpfs (the default cache place), on a tmpfs that
    gives huge pages only to mappings that ask (huge=advise: none to the
    cache's fallocated steps), and on one that gives them to every file
    within its size (huge=within_size, the mount docs/ld_preload.md
    suggests for the cache): the same bytes."""
    m = model
    got, _ = read_all(m, env_for(emu, bucket, m, tmp_path / "cache", OSSC_CACHE_HUGEPAGES=huge))
    assert_right_bytes(m, got)
    for mode in ("advise", "within_size"):
        with tmpfs(tmp_path / f"huge-{mode}", f"size=64m,huge={mode},mode=0700") as mnt:
            (got,), _ = read_and_wait_all(m, env_for(emu, bucket, m, mnt,
                                                     OSSC_CACHE_HUGEPAGES=huge))
            assert_right_bytes(m, got)
            assert os.listdir(mnt) == []
            assert used_bytes(mnt) == 0


def test_bad_hugepages_setting_is_named(emu, bucket, model, tmp_path):
    m = model
    env = env_for(emu, bucket, m, tmp_path / "cache", OSSC_CACHE_HUGEPAGES="yes")
    proc = run([sys.executable, "-c", "pass"], env, check=False)
    assert "OSSC_CACHE_HUGEPAGES='yes' must be 0 or 1" in proc.stderr


# ------------------------------------------------------------------ no MADV_POPULATE_WRITE

def seccomp_no_populate_prefix(tmp_path):
    """A command prefix that runs the rest with madvise(MADV_POPULATE_WRITE)
    answering EINVAL, as on kernels before 5.14 (libseccomp through ctypes;
    the filter outlives the exec); None when libseccomp is not there."""
    lib = ctypes.util.find_library("seccomp")
    if not lib:
        return None
    launcher = tmp_path / "no_populate.py"
    launcher.write_text(f"""
import ctypes, errno, os, sys
class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
s = ctypes.CDLL({lib!r}, use_errno=True)
s.seccomp_init.restype = ctypes.c_void_p
ctx = s.seccomp_init(ctypes.c_uint32(0x7fff0000))             # SCMP_ACT_ALLOW
nr = s.seccomp_syscall_resolve_name(b"madvise")
cmp = Cmp(2, 4, 23, 0)                                         # arg 2 == MADV_POPULATE_WRITE
act = ctypes.c_uint32(0x00050000 | errno.EINVAL)              # SCMP_ACT_ERRNO(EINVAL)
assert s.seccomp_rule_add_array(ctypes.c_void_p(ctx), act, nr, 1, ctypes.byref(cmp)) == 0
assert s.seccomp_load(ctypes.c_void_p(ctx)) == 0
os.execv(sys.argv[1], sys.argv[1:])
""")
    return [sys.executable, str(launcher)]


def test_bytes_right_without_populate(emu, bucket, model, tmp_path):
    """A kernel that refuses MADV_POPULATE_WRITE: pages are fallocated step
    by step instead (a copy may fault, never into SIGBUS)."""
    m = model
    prefix = seccomp_no_populate_prefix(tmp_path)
    if prefix is None:
        pytest.skip("libseccomp is not installed")
    probe = subprocess.run([*prefix, sys.executable, "-c",
                            "import mmap, ctypes; m = mmap.mmap(-1, 4096); "
                            "print(m.madvise(23) if hasattr(m, 'madvise') else 'none')"],
                           capture_output=True, text=True)
    assert "Invalid argument" in probe.stderr, probe  # the filter works
    got, _ = read_all(m, env_for(emu, bucket, m, tmp_path / "cache"), prefix)
    assert_right_bytes(m, got)


# ------------------------------------------------------------------ a full tmpfs

def test_full_tmpfs_is_an_error_never_sigbus(emu, bucket, model, tmp_path):
    """The cache's file system holds 4 MiB of a 13.5 MiB model: the chunks
    that do not fit fail with a message naming the cache directory and its
    size; reads of their files fail (read and mmap), no wrong byte is
    served, no SIGBUS; once the process is gone, nothing is left."""
    m = model
    with tmpfs(tmp_path / "small", "size=4m,mode=0700") as mnt:
        env = env_for(emu, bucket, m, mnt, OSSC_CACHE_HUGEPAGES="1")
        (got,), _ = read_and_wait_all(m, env)
        assert got["a.bin"].startswith("errno "), got
        for name, value in got.items():
            rel = next((r for r in m["large"] if os.path.basename(r) == name), m["large"][0])
            assert value.startswith("errno ") or value == sha(m["files"][rel]), (name, value)
        log = (tmp_path / "connector.log").read_text()  # the config's logPath
        assert "no space left in the cache directory " + str(mnt) in log, log[-3000:]
        assert "its file system is 4 MiB" in log, log[-3000:]
        assert log.count("no space left in the cache directory") == 1  # once, not per chunk
        assert os.listdir(mnt) == []
        assert used_bytes(mnt) == 0


# ------------------------------------------------------------------ exit and teardown

def test_start_while_the_last_process_exits(emu, bucket, model, tmp_path):
    """The first process prints its hashes and exits; the second starts at
    that moment, while the first leaves and its watcher waits to free the
    cache: right bytes in both, and once every process (watchers included)
    is gone, the cache's file system is empty and MODEL_DIR holds only the
    small files."""
    m = model
    with tmpfs(tmp_path / "cache", "size=64m,mode=0700") as mnt:
        (first, second), _ = read_and_wait_all(m, env_for(emu, bucket, m, mnt), "race")
        assert_right_bytes(m, first)
        assert_right_bytes(m, second)
        assert os.listdir(mnt) == []
        assert used_bytes(mnt) == 0
        left = sorted(os.path.relpath(os.path.join(d, f), m["model_dir"])
                      for d, _, fs in os.walk(m["model_dir"]) for f in fs)
        assert left == [".ossc-manifest", "config.json"]  # no placeholder
