"""Local HTTP servers for benchmarks.

:class:`Nginx` serves a directory on 127.0.0.1 so that ``GET
/bucket/key`` returns the file ``<root>/bucket/key``: the path-style URL the
engine and oss2 build for an IP endpoint.  nginx answers HEAD and ``Range``
requests by itself and ignores the ``Authorization`` header, which is all a
GET-throughput benchmark needs.  Given the objects' CRC-64 values it also
sends ``x-oss-hash-crc64ecma`` like OSS, so clients verify what they would
verify against OSS.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["Nginx", "ensure_nginx", "ensure_tool", "free_port"]

# sendfile off measured faster than sendfile on for loopback reads from the
# page cache on the development machine; large output buffers mean fewer
# read()/write() calls per response.
_CONF = """\
{user}
worker_processes auto;
daemon off;
pid {state}/nginx.pid;
error_log {state}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    sendfile off;
    output_buffers {output_buffers};
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;
    map_hash_max_size {map_size};
    map_hash_bucket_size 128;
    map $uri $oss_crc64 {{
        default "";
{crc_map}
    }}
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        root {root};
        add_header x-oss-hash-crc64ecma $oss_crc64;
        location / {{ }}
    }}
}}
"""


def ensure_tool(name: str, package: str) -> str:
    """Path of the program ``name``, installing the Debian ``package`` with
    apt-get when it is missing."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", package], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        raise FileNotFoundError(f"{name}: not found after installing {package}")
    return found


def ensure_nginx() -> str:
    """Path of nginx (Debian's nginx-light is installed when missing)."""
    return ensure_tool("nginx", "nginx-light")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on 127.0.0.1:{port} within {timeout} s")


def _tail(path: str, chars: int = 2000) -> str:
    """The end of a text file, or '' when it does not exist."""
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


class Nginx:
    """nginx serving ``root`` on ``127.0.0.1:<free port>`` (context manager).

    The configuration, pid file and logs live in a private temporary
    directory; :meth:`stop` (also run on leaving the ``with`` block, even on
    an exception or Ctrl-C) terminates the master process and removes it.
    """

    def __init__(self, root: str | os.PathLike, *, crc64: Optional[Mapping[str, int]] = None,
                 output_buffers: str = "1 1m"):
        """``crc64`` maps URL paths (``/bucket/key``) to the value sent in
        ``x-oss-hash-crc64ecma``; ``output_buffers`` is nginx's directive."""
        self.root = Path(root).resolve()
        self.crc64 = dict(crc64 or {})
        self.output_buffers = output_buffers
        self.binary = ensure_nginx()
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._state: tempfile.TemporaryDirectory | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str, key: str) -> str:
        return f"{self.endpoint}/{bucket}/{key}"

    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True)
        return (out.stderr or out.stdout).strip().split("/", 1)[-1]

    def _write_config(self, state: str) -> str:
        crc_map = "\n".join(f'        "{path}" {crc};' for path, crc in self.crc64.items())
        text = _CONF.format(user="user root;" if os.geteuid() == 0 else "", state=state,
                            port=self.port, root=self.root, output_buffers=self.output_buffers,
                            map_size=max(1024, 2 * len(self.crc64)), crc_map=crc_map)
        path = os.path.join(state, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self, timeout: float = 10.0, attempts: int = 5) -> "Nginx":
        """Starts nginx and waits until it accepts connections.  A port
        taken between choosing and binding it is retried with another."""
        self._state = tempfile.TemporaryDirectory(prefix="bench-nginx-")
        state = self._state.name
        log = os.path.join(state, "error.log")
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            conf = self._write_config(state)
            self._proc = subprocess.Popen([self.binary, "-p", state, "-c", conf, "-e", log],
                                          stdin=subprocess.DEVNULL)
            try:
                _wait_listening(self.port, self._proc, timeout)
                return self
            except RuntimeError as e:  # nginx exited
                detail = _tail(log)
                if attempt < attempts and "Address already in use" in detail:
                    continue
                self.stop()
                raise RuntimeError(f"{e}; its error log:\n{detail}") from None
            except BaseException:  # timeout, Ctrl-C: never leave nginx behind
                self.stop()
                raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._state is not None:
            self._state.cleanup()
            self._state = None

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
