"""Fixtures for the broadcast tests: a real redis-server per test.

``redis_server`` is a started server (no password, db 0); ``redis_factory``
starts more, e.g. ``redis_factory(password="pw")``.  Each one listens on a
free loopback port, keeps nothing on disk (``--save '' --appendonly no``, its
dir under the test's tmp_path), is ready once it answers PING (polled, no
fixed sleep) and is killed by its pid when the test ends.  Skipped when
redis-server is not installed (scripts/install-deps.sh installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nodes import free_port  # noqa: E402

READY_TIMEOUT = 60.0  # a loaded 2-core machine can be slow to start a process


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class RedisServer:
    """One redis-server process.  ``url`` includes the password when there is
    one; ``url_for(db)`` names another database."""

    def __init__(self, workdir: str, password: Optional[str] = None, host: str = "127.0.0.1"):
        self.password = password
        self.host = host
        self.workdir = workdir
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(workdir, "redis.log")

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        auth = f":{self.password}@" if self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{auth}{host}:{self.port}/{db}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def start(self) -> "RedisServer":
        """Starts on a free port (the same port again after stop(), so URLs
        handed out stay valid) and waits until it answers PING."""
        for _ in range(5):  # another process may take the port between probe and bind
            port = self.port or free_port(self.host)
            args = ["redis-server", "--port", str(port), "--bind", self.host,
                    "--save", "", "--appendonly", "no", "--dir", self.workdir,
                    "--logfile", self.log_path, "--daemonize", "no"]
            if self.password:
                args += ["--requirepass", self.password]
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.port = port
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.log_path}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: the port was taken, or a bad option
            if self.ping():
                return True
            time.sleep(0.02)  # polling interval while the process starts
        return False

    def ping(self) -> bool:
        """True when the server answers PING (after AUTH when it has a password)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as s:
                msg = (_resp("AUTH", self.password) if self.password else b"") + _resp("PING")
                s.sendall(msg)
                data = b""
                while b"PONG" not in data and b"-" not in data[:1]:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    data += chunk
                return b"+PONG" in data
        except OSError:
            return False

    def cli(self, *args: str, db: int = 0) -> str:
        """redis-cli against this server; its stdout (check=True)."""
        cmd: List[str] = ["redis-cli", "-h", self.host, "-p", str(self.port), "-n", str(db)]
        if self.password:
            cmd += ["--no-auth-warning", "-a", self.password]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                           timeout=60, check=True)
        return r.stdout

    def stop(self) -> None:
        """Kills it (SIGKILL, by pid) and waits for it; the port stays ours
        to start() on again."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait(timeout=60)


@pytest.fixture
def redis_factory(tmp_path):
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not installed (scripts/install-deps.sh)")
    started: List[RedisServer] = []

    def make(password: Optional[str] = None, host: str = "127.0.0.1") -> RedisServer:
        workdir = tmp_path / f"redis-{len(started)}"
        workdir.mkdir()
        server = RedisServer(str(workdir), password, host)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def redis_server(redis_factory) -> RedisServer:
    return redis_factory()
