"""s3fs-fuse (Debian's ``s3fs``) mounting one bucket of a local
S3-compatible server, the ``s3fs_fuse`` client of big_read, small_objects and model_load.

:class:`S3fsMount` mounts on entering a ``with`` block and unmounts on
leaving it, also after an error or Ctrl-C: ``fusermount -u``, then a lazy
unmount and SIGKILL to s3fs if it does not go.  s3fs runs in the
foreground (``-f``) as our child, so we know its pid and its log.  Its
options are its defaults plus path-style requests to the local endpoint:
no local data cache (``use_cache`` unset, each open reads from the
server), 5 parallel ranged GETs of 10 MiB for a large read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["S3fsMount"]


class S3fsMount:
    """``bucket`` of the server at ``endpoint`` (path-style, any
    credentials) mounted at ``self.path``, a fresh directory under
    ``work``."""

    def __init__(self, endpoint: str, bucket: str, work: Path, timeout: float = 30.0):
        from infra.servers import ensure_tool

        self.s3fs = ensure_tool("s3fs", "s3fs")
        self.fusermount = ensure_tool("fusermount", "fuse")
        self.endpoint, self.bucket, self.timeout = endpoint, bucket, timeout
        self._dir = tempfile.mkdtemp(prefix="s3fs-", dir=work)
        self.path = Path(self._dir) / "mnt"
        self.options = f"use_path_request_style,url={endpoint}"
        self._proc: subprocess.Popen | None = None

    def version(self) -> str:
        out = subprocess.run([self.s3fs, "--version"], capture_output=True, text=True)
        first = (out.stdout or out.stderr).strip().splitlines()
        return first[0] if first else "s3fs"

    def __enter__(self) -> "S3fsMount":
        self.path.mkdir(parents=True, exist_ok=True)
        passwd = Path(self._dir) / "passwd"
        passwd.write_text("bench:bench\n")
        passwd.chmod(0o600)
        self.log = Path(self._dir) / "s3fs.log"
        with open(self.log, "w") as log:
            self._proc = subprocess.Popen(
                [self.s3fs, self.bucket, str(self.path), "-f",
                 "-o", f"{self.options},passwd_file={passwd}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            self._wait_mounted()
        except BaseException:
            self.unmount()
            raise
        return self

    def _wait_mounted(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not os.path.ismount(self.path):
            if self._proc.poll() is not None:
                raise RuntimeError(f"s3fs exited with status {self._proc.returncode}: "
                                   f"{self.log.read_text()[-800:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"s3fs did not mount {self.path} within {self.timeout} s")
            time.sleep(0.1)
        os.listdir(self.path)   # the first request fails here if the server refuses s3fs

    def unmount(self) -> None:
        """Unmounts and reaps s3fs; safe to call twice."""
        if os.path.ismount(self.path):
            if subprocess.run([self.fusermount, "-u", str(self.path)],
                              capture_output=True).returncode != 0:
                subprocess.run([self.fusermount, "-uz", str(self.path)], capture_output=True)
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __exit__(self, *exc) -> None:
        self.unmount()
