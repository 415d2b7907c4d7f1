"""Helpers shared by the scenarios: the peers' virtual
environment, timed child processes with their own resource usage, and
summary statistics.

The peers' venv is a plain venv (not the main environment): the product's
published ``osstorchconnector`` would shadow our drop-in package of the same
name there.  It holds torch (the local CPU wheel when /opt/wheels has one),
``osstorchconnector`` (the product's binary), ``s3torchconnector``,
``runai-model-streamer[s3]``, boto3, safetensors and numpy.
"""

from __future__ import annotations

import glob
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

DEFAULT_VENV = os.environ.get("OSSC_BENCH_VENV", "/tmp/ossc-bench-peers")
PEER_PACKAGES = ["osstorchconnector", "s3torchconnector", "runai-model-streamer[s3]", "boto3",
                 "safetensors", "numpy"]
PEER_PROBE = ("import osstorchconnector, s3torchconnector, runai_model_streamer, boto3, "
              "safetensors, numpy, torch")


def ensure_peer_venv(venv: str | os.PathLike = DEFAULT_VENV) -> str:
    """The peers' venv python, created (or completed) on first use."""
    venv = Path(venv)
    py = venv / "bin" / "python"
    if py.exists() and subprocess.run([py, "-c", PEER_PROBE],
                                      capture_output=True).returncode == 0:
        return str(py)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    try:
        import torch

        version = torch.__version__.split("+")[0]
    except ImportError:
        version = ""
    wheels = sorted(glob.glob(f"/opt/wheels/torch-{version}*.whl")) if version else []
    torch_req = wheels[-1] if wheels else (f"torch=={version}" if version else "torch")
    print(f"installing the peers' venv {venv} (torch, {', '.join(PEER_PACKAGES)})",
          file=sys.stderr, flush=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", torch_req, *PEER_PACKAGES],
                   check=True)
    return str(py)


def package_version(python: str, dist: str) -> str:
    out = subprocess.run([python, "-c", "import importlib.metadata as m, sys; "
                          f"print(m.version({dist!r}))"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


@dataclass
class Run:
    """One child process: wall time (``start`` .. its exit, monotonic
    clock), its own peak RSS (VmHWM sampled every 20 ms from /proc), CPU
    seconds (``wait4``), output."""

    start: float
    end: float
    returncode: int
    stdout: str
    stderr: str
    maxrss_bytes: int
    cpu_s: float
    peak: dict = field(default_factory=dict)   # RssAnon/RssFile/RssShmem peaks (bytes)

    def result_line(self) -> Optional[dict]:
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[7:])
        return None


def run_process(cmd: list[str], env: Optional[dict] = None, timeout: float = 900,
                cwd: Optional[str] = None) -> Run:
    """Runs ``cmd`` and waits for it with ``wait4`` so that its CPU time is
    its own (and its waited-for children's), not that of every child this
    process ever had; samples its memory from /proc meanwhile."""
    out_f = open(_tmpfile("stdout"), "w+")
    err_f = open(_tmpfile("stderr"), "w+")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out_f,
                            stderr=err_f, start_new_session=True)
    deadline = start + timeout
    status, usage = None, None
    peak: dict[str, int] = {}
    shm0 = _shm_used()
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            _sample(proc.pid, peak)
            used = _shm_used() - shm0
            if used > peak.get("shm", 0):
                peak["shm"] = used
            if time.monotonic() > deadline:
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                status = -9 << 8
                break
            time.sleep(0.02)
    except BaseException:   # SIGTERM, Ctrl-C: the child's session goes with us
        os.killpg(proc.pid, 9)
        os.wait4(proc.pid, 0)
        raise
    end = time.monotonic()
    proc.returncode = os.waitstatus_to_exitcode(status) if status >= 0 else -9
    out_f.seek(0)
    err_f.seek(0)
    stdout, stderr = out_f.read(), err_f.read()
    for f in (out_f, err_f):
        f.close()
        os.unlink(f.name)
    # ru_maxrss of a child starts at its parent's RSS when it was forked (the
    # kernel keeps the larger across exec): use the child's own VmHWM.
    return Run(start, end, proc.returncode, stdout, stderr, peak.get("VmHWM", 0),
               usage.ru_utime + usage.ru_stime, peak)


def run_worker(cmd: list[str], env: Optional[dict] = None, timeout: float = 900,
               cwd: Optional[str] = None) -> dict:
    """Runs a benchmark worker that prints one line ``RESULT {json}``: its
    result plus ``rss`` (the child's peak VmHWM), ``cpu`` (its CPU seconds,
    ``wait4``), ``start``/``end`` (monotonic clock) and ``peak`` (RSS parts);
    or ``{"error": ...}`` when it failed, timed out or printed no result.
    A worker that reports its own ``error`` in the result keeps it."""
    r = run_process(cmd, env=env, timeout=timeout, cwd=cwd)
    res = r.result_line()
    if r.returncode != 0 or res is None:
        lines = [ln.strip() for ln in (r.stderr or r.stdout).splitlines()
                 if ln.strip().strip("^~ ")]   # not the traceback's ^^^ markers
        why = "timed out" if r.returncode == -9 else f"exit {r.returncode}"
        return {"error": f"{why}: {' / '.join(lines[-2:])[-400:]}"}
    res.update(rss=r.maxrss_bytes, cpu=r.cpu_s, start=r.start, end=r.end, peak=r.peak)
    return res


_FIELDS = ("VmHWM", "RssAnon", "RssFile", "RssShmem")


def _shm_used() -> int:
    """Bytes in use on /dev/shm (where the LD_PRELOAD cache lives)."""
    try:
        st = os.statvfs("/dev/shm")
        return (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        return 0


def _sample(pid: int, peak: dict) -> None:
    """Peaks of the RSS parts of ``pid`` (sampled every 20 ms): anonymous
    memory is what the process itself costs; file and shmem pages are
    shared with the page cache (or /dev/shm) and counted once per mapping."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name = line.split(":", 1)[0]
                if name in _FIELDS:
                    v = int(line.split()[1]) * 1024
                    if v > peak.get(name, 0):
                        peak[name] = v
    except (OSError, ValueError, IndexError):
        pass


def _tmpfile(tag: str) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix=f"bench-{tag}-")
    os.close(fd)
    return path


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@dataclass
class Series:
    """Repeated measurements of one client doing one thing."""

    key: str
    client: str
    method: str
    seconds: list[float] = field(default_factory=list)
    extra: dict = field(default_factory=dict)   # name -> list of values
    errors: list[str] = field(default_factory=list)

    def add(self, seconds: float, **extra) -> None:
        self.seconds.append(seconds)
        for k, v in extra.items():
            self.extra.setdefault(k, []).append(v)

    def median(self) -> Optional[float]:
        return statistics.median(self.seconds) if self.seconds else None

    def med(self, name: str) -> Optional[float]:
        vals = self.extra.get(name)
        return statistics.median(vals) if vals else None
