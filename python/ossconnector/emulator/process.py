"""Run the emulator as a subprocess (``python -m ossconnector.emulator``).

Contract: ``EmulatorProcess(**options).start()`` launches the CLI with the
given options (same names as :class:`~.config.EmulatorConfig`; credentials
are passed through the environment, not the command line), reads the
``ossemu listening on http://HOST:PORT`` line, waits until ``/_emulator/health``
answers, and then offers the :class:`~.client.AdminClient` API plus
``endpoint``, ``port``, ``pid``.  ``stop()`` sends SIGTERM and waits (kills
after ``stop_timeout``).  It is a context manager.  ``PYTHONPATH`` is
extended so the child imports this same ``ossconnector`` package.
"""

import os
import re
import selectors
import subprocess
import sys
import time
from pathlib import Path

from .client import AdminClient
from .config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_MAX_SKEW, DEFAULT_REGION

_READY = re.compile(r"ossemu listening on (http://\S+)")
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class EmulatorStartError(RuntimeError):
    pass


class EmulatorProcess(AdminClient):
    def __init__(self, access_key_id=DEFAULT_ACCESS_KEY_ID, access_key_secret=DEFAULT_ACCESS_KEY_SECRET,
                 host="127.0.0.1", port=0, region=DEFAULT_REGION, domain=None, max_skew=DEFAULT_MAX_SKEW,
                 buckets=(), quiet=True, extra_credentials=None, min_part_size=None,
                 python=None, env=None, stderr=None, startup_timeout=30.0, stop_timeout=10.0):
        super().__init__()
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.host = host
        self.region = region
        self.domain = domain
        self._requested_port = port
        self._args = ["--host", host, "--port", str(port), "--region", region,
                      "--max-skew", str(max_skew or 0)]
        if domain:
            self._args += ["--domain", domain]
        for bucket in buckets or ():
            self._args += ["--bucket", bucket]
        if quiet:
            self._args.append("--quiet")
        if min_part_size is not None:
            self._args += ["--min-part-size", str(min_part_size)]
        self._extra_credentials = dict(extra_credentials or {})
        self._python = python or sys.executable
        self._env = env
        self._stderr = stderr
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.proc = None
        self.port = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _child_env(self):
        env = dict(os.environ if self._env is None else self._env)
        env["PYTHONPATH"] = PACKAGE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["OSSEMU_ACCESS_KEY_ID"] = self.access_key_id
        env["OSSEMU_ACCESS_KEY_SECRET"] = self.access_key_secret
        env["OSSEMU_EXTRA_CREDENTIALS"] = ",".join("%s:%s" % kv for kv in self._extra_credentials.items())
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self):
        if self.proc is not None:
            return self
        cmd = [self._python, "-m", "ossconnector.emulator"] + self._args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=self._child_env(),
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        line = self._read_ready_line(deadline)
        match = _READY.search(line)
        if not match:
            self._kill()
            raise EmulatorStartError("emulator did not start (first line: %r)" % line)
        self.endpoint = match.group(1)
        self.port = int(self.endpoint.rsplit(":", 1)[1])
        while True:
            try:
                self.health()
                return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self._kill()
                    raise EmulatorStartError("emulator at %s never answered" % self.endpoint)
                time.sleep(0.05)

    def _read_ready_line(self, deadline):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        try:
            while time.monotonic() < deadline:
                if sel.select(timeout=0.1):
                    return self.proc.stdout.readline().decode("utf-8", "replace")
                if self.proc.poll() is not None:
                    break
        finally:
            sel.close()
        self._kill()
        raise EmulatorStartError("emulator exited or timed out before listening (rc=%s)" % self.proc.returncode)

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.returncode = self.proc.returncode
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
