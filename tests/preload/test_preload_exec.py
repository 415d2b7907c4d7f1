"""The prefetch leader across exec: a process that leads the prefetcher and
then exec's (pyenv's shims, `bash -c '...; exec python ...'`) lets the
transfers it has in flight land before its image goes, so the next image
does not fetch them again; a failed exec leaves it leading; children made
by vfork, posix_spawn, fork+exec and bash pass through untouched."""

import hashlib
import json
import os
import subprocess
import sys
import time

from preload_helpers import preload_env, served_bytes, upload

CHUNK = 8 << 20           # the engine's default part size: one ranged GET per chunk
NCHUNKS = 4
WINDOW = "16M"            # two prefetches in flight at a time
HOLD_S = 1.5              # how long the emulator holds the first two GETs

READ_BIG = """
import hashlib, os, sys
with open(os.path.join(os.environ['MODEL_DIR'], 'big.bin'), 'rb') as f:
    print(hashlib.sha256(f.read()).hexdigest(), flush=True)
"""


def big_model(emu, bucket, prefix):
    """A model of one 4-chunk weight file and a small config; returns the
    weight file's sha256 (stats reset after the upload)."""
    data = os.urandom(NCHUNKS * CHUNK)
    upload(emu, bucket, prefix, {"big.bin": data, "config.json": b'{"model_type": "toy"}'})
    emu.reset_stats()
    return hashlib.sha256(data).hexdigest()


def log_config(tmp_path):
    """A config that logs at INFO to tmp_path/connector.log (default part size)."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logLevel": 1, "logPath": str(tmp_path / "connector.log")}))
    return str(cfg)


def count_gets(emu, bucket, key, hold_s=HOLD_S):
    """Counters of the GETs the emulator *receives* for key (counted when a
    request arrives, unlike its stats, which count a request held by a
    delay only once it is answered): the first two GETs are held hold_s,
    every later one passes at once.  Returns a function giving the number
    received so far."""
    held = emu.faults.delay(hold_s, count=2, op="GetObject", bucket=bucket, key=key)
    later = emu.faults.delay(0.0, count=10_000, op="GetObject", bucket=bucket, key=key)

    def received():
        left = {f["id"]: f["count"] for f in emu.faults.list()}
        return (2 - left.get(held, 0)) + (10_000 - left.get(later, 0))

    return received


def wait_for(cond, what, proc=None, timeout=120):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} while waiting for {what}\n{out}\n{err[-4000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def run_leader(emu, bucket, tmp_path, prefix, script, hold_s=HOLD_S, timeout=300):
    """Runs `bash -c script` under LD_PRELOAD as the prefetch leader of a
    big_model under prefix, lets it go (script reads "$GO", a fifo) once its
    first two GETs reached the server (held hold_s), and waits for it.
    Returns (returncode, stdout, stderr, received, seconds from go to exit,
    the big file's sha256); received() counts the GETs the server got."""
    expected = big_model(emu, bucket, prefix)
    received = count_gets(emu, bucket, prefix + "big.bin", hold_s=hold_s)
    go = tmp_path / "go"
    os.mkfifo(go)
    env = preload_env(emu, bucket, prefix, tmp_path / "model", tmp_path / "cache",
                      OSSC_PREFETCH_WINDOW=WINDOW, GO=str(go), PY=sys.executable, CODE=READ_BIG,
                      OSS_CONNECTOR_CONFIG=log_config(tmp_path))
    proc = subprocess.Popen(["bash", "-c", script], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Both held GETs arrived: the shell has two transfers in flight.
        wait_for(lambda: received() >= 2, "the leader's first two GETs", proc)
        with open(go, "w") as f:
            f.write("go\n")
        start = time.monotonic()
        out, err = proc.communicate(timeout=timeout)
        took = time.monotonic() - start
    finally:
        proc.kill()
        proc.wait()
    return proc.returncode, out, err, received, took, expected


def test_leader_exec_keeps_transfers_in_flight(emu, bucket, tmp_path):
    """The measured case: a shell leads the prefetcher and exec's Python
    while two chunks are in flight.  Before, those transfers died with the
    shell's image and the new one fetched them again (6 GETs for 4 chunks,
    1.25x served); now they land first: each chunk is fetched once."""
    rc, out, err, received, _, expected = run_leader(
        emu, bucket, tmp_path, "m/", 'read -r _ < "$GO"; exec "$PY" -c "$CODE"')
    prefix = "m/"
    assert rc == 0, err[-4000:]
    assert out.strip() == expected
    assert received() == NCHUNKS, f"{received()} GETs for {NCHUNKS} chunks\n{err[-2000:]}"
    assert served_bytes(emu, bucket, prefix + "big.bin") <= 1.05 * NCHUNKS * CHUNK
    log = (tmp_path / "connector.log").read_text()
    assert "before exec: 2 of 2 prefetches in flight finished" in log, log[-3000:]
    assert "fetched again" not in log, log[-3000:]


def test_exec_does_not_wait_past_the_drain_deadline(emu, bucket, tmp_path):
    """A server that holds the transfers longer than the drain allows (3 s
    plus their bytes at 32 MiB/s: 3.5 s for two chunks): the exec goes on at
    the deadline (not when the server lets go: cancelling a transfer that
    waits for its first byte would wait that long), the transfers die with
    the old image, and the new image takes them back and reads the
    object's bytes."""
    rc, out, err, received, _, expected = run_leader(
        emu, bucket, tmp_path, "t/", 'read -r _ < "$GO"; exec "$PY" -c "$CODE"', hold_s=30,
        timeout=25)  # well before the server lets go
    assert rc == 0, err[-4000:]
    assert out.strip() == expected
    log = (tmp_path / "connector.log").read_text()
    assert "before exec: 0 of 2 prefetches in flight finished" in log, log[-3000:]
    assert "the rest are fetched again by the new image" in log
    assert "2 chunks this process claimed before it exec'd are fetched again" in log


FAILED_EXEC = """
import errno, hashlib, os, sys
sys.stdin.readline()                      # the test saw our GETs in flight
try:
    os.execv('/nonexistent/program', ['program'])
except OSError as e:
    print(errno.errorcode[e.errno], flush=True)
sys.stdin.readline()                      # the test saw every chunk fetched
with open(os.path.join(os.environ['MODEL_DIR'], 'big.bin'), 'rb') as f:
    print(hashlib.sha256(f.read()).hexdigest(), flush=True)
"""


def test_failed_exec_keeps_leading(emu, bucket, tmp_path):
    """An exec that fails (no such program) returns its error unchanged, and
    the process goes on leading: its prefetcher, stopped for the exec,
    starts again and fetches every chunk before the application reads."""
    prefix = "f/"
    expected = big_model(emu, bucket, prefix)
    received = count_gets(emu, bucket, prefix + "big.bin")
    env = preload_env(emu, bucket, prefix, tmp_path / "model", tmp_path / "cache",
                      OSSC_PREFETCH_WINDOW=WINDOW, OSS_CONNECTOR_CONFIG=log_config(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", FAILED_EXEC], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: received() >= 2, "the leader's first two GETs", proc)
        proc.stdin.write("exec\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "ENOENT"
        # Nobody reads yet: only the resumed prefetcher can fetch the rest.
        wait_for(lambda: received() >= NCHUNKS, "the prefetcher to fetch every chunk", proc)
        proc.stdin.write("read\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-4000:]
    assert out.strip().splitlines()[-1] == expected
    assert received() == NCHUNKS
    assert "exec failed: prefetching resumes" in (tmp_path / "connector.log").read_text()


CHILDREN = """
import os, subprocess, sys
read = os.environ['CODE']
py = sys.executable
outs = []
# vfork + execve (subprocess's fast path, close_fds), from the leader
outs.append(subprocess.run([py, '-c', read], close_fds=True, capture_output=True, text=True,
                           check=True).stdout.strip())
# posix_spawn (glibc execs through its internal __execve)
r, w = os.pipe()
pid = os.posix_spawn(py, [py, '-c', read], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
os.close(w)
with os.fdopen(r) as f:
    outs.append(f.read().strip())
assert os.waitpid(pid, 0)[1] == 0
# bash, which forks and execs a program, and execs the last one itself
outs.append(subprocess.run(['bash', '-c', 'sha256sum "$MODEL_DIR/big.bin" | cut -d" " -f1; '
                            'exec "$0" -c "$CODE"', py], capture_output=True, text=True,
                           check=True).stdout.split())
print(repr(outs), flush=True)
# and the leader itself execs
os.execv(py, [py, '-c', read])
"""


def test_children_and_exec_from_python_read_the_bytes(emu, bucket, tmp_path):
    """Every way a leader starts programs still works and reads the object's
    bytes: subprocess (vfork), posix_spawn, bash -c (fork+exec, exec), and
    os.execv of the leader itself -- each chunk fetched once for them all."""
    prefix = "c/"
    expected = big_model(emu, bucket, prefix)
    env = preload_env(emu, bucket, prefix, tmp_path / "model", tmp_path / "cache",
                      OSSC_PREFETCH_WINDOW=WINDOW, CODE=READ_BIG)
    proc = subprocess.run([sys.executable, "-c", CHILDREN], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == repr([expected, expected, [expected, expected]])
    assert lines[1] == expected
    assert served_bytes(emu, bucket, prefix + "big.bin") <= 1.05 * NCHUNKS * CHUNK


def test_exit_does_not_wait_for_a_stalled_server(emu, bucket, tmp_path):
    """The leader leaves while its prefetches wait for a server that holds
    them 30 s (no first byte yet): they are cancelled at once, so the
    process exits long before the server answers or the 30 s low-speed
    timeout (libcurl only calls the body callback, where a cancelled
    transfer used to be noticed, once bytes arrive)."""
    rc, out, err, _, took, _ = run_leader(emu, bucket, tmp_path, "s/",
                                          'read -r _ < "$GO"; exit 0', hold_s=30, timeout=60)
    assert rc == 0, err[-4000:]
    # Well under the 30 s hold; generous for a loaded machine (~1 s when quiet).
    assert took < 15, took
