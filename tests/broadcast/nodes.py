"""Several broadcasting "nodes" on this machine, for the end-to-end tests of
model broadcasting (issue 16, docs/broadcast.md).

A node is what one machine of a cluster would be: its own ``OSSC_CACHE_DIR``
and ``MODEL_DIR``, its own advertised loopback address (127.0.0.2,
127.0.0.3, ...; a free port), the cluster's Redis and secret file, and an
application (node_app.py, one or more processes) under LD_PRELOAD that
loads every safetensors file and sha256s every file.  Every process of a
node, the cache's detached watcher (which runs the node's broadcast agent
and chunk server) included, carries ``OSSC_TEST_NODE=<token>`` in its
environment: that is how :meth:`Node.kill` finds the whole tree, as a
machine that dies takes all of it.

Nothing waits a fixed time: helpers poll for a file, a log line or the
registry's view (``ossc broadcast status``'s call), each with a deadline,
and a failure says what was awaited and shows the node's log.

Each cluster's scratch tree (``/dev/shm/ossc-test-bcnodes-*``, in the temp
dir when /dev/shm is not tmpfs or lacks room: the nodes' logs, caches,
model directories, results) is removed when it closes;
``OSSC_TEST_KEEP_NODES=1`` keeps it (and says where) for debugging."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from ossconnector.preload import library_path

HERE = Path(__file__).resolve().parent
NODE_APP = HERE / "node_app.py"
MiB = 1 << 20
POLL_S = 0.05       # how often a waited-for condition is looked at
TIMEOUT_S = 300.0   # a loaded 2-core machine: generous, only a hang reaches it
CHUNK = 2 * MiB     # http.partSize of every node: the cache's (and a peer request's) chunk


def wait_for(what: str, check: Callable[[], object], timeout: float = TIMEOUT_S,
             on_timeout: Callable[[], str] = lambda: "") -> object:
    """Polls check() until it returns something truthy, which is returned;
    AssertionError naming `what` (and on_timeout()'s text) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                 f"{on_timeout()}")
        time.sleep(POLL_S)


def free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def host_port(host: str, port: int) -> str:
    """An address as broadcasting writes it: "[v6]:port" for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def have_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here (a container may have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# ------------------------------------------------------------ the model


@dataclass
class SourceModel:
    """A model uploaded to the emulator: what every node must see."""
    bucket: str
    prefix: str
    files: Dict[str, str]      # relative path -> sha256
    tensors: Dict[str, str]    # tensor name -> node_app.tensor_digest
    large: Dict[str, int]      # the shards: relative path -> size

    @property
    def oss_path(self) -> str:
        return f"oss://{self.bucket}/{self.prefix}"

    @property
    def large_bytes(self) -> int:
        return sum(self.large.values())


def make_model(local_dir: Path, shards: int = 4, shard_mib: int = 18, seed: int = 16) -> None:
    """A seeded safetensors model of `shards` shards of about `shard_mib`
    MiB (float32, float16 and int64 tensors), an index and a config."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    local_dir.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    rows = shard_mib * MiB // (3 * 1024 * 4)  # three float32 tensors of 1024 columns
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"layers.{s}.w{k}": rng.standard_normal((rows, 1024), dtype=np.float32)
                   for k in range(3)}
        tensors[f"layers.{s}.norm"] = rng.standard_normal(4096).astype(np.float16)
        tensors[f"layers.{s}.ids"] = np.arange(1000 * (s + 1), dtype=np.int64)
        save_file(tensors, str(local_dir / name), metadata={"format": "np"})
        weight_map.update({k: name for k in tensors})
    (local_dir / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    (local_dir / "config.json").write_text(json.dumps({"model_type": "toy", "shards": shards}))


def upload_model(emu, bucket: str, prefix: str, local_dir: Path,
                 small_file_size: int = 64 * 1024) -> SourceModel:
    """Uploads local_dir under prefix; the reference digests of the source."""
    sys.path.insert(0, str(HERE))
    from node_app import load  # the same digests the nodes compute

    ref = load(str(local_dir))
    large = {}
    for rel in ref["files"]:
        data = (local_dir / rel).read_bytes()
        emu.put_object(bucket, prefix + rel, data)
        if len(data) >= small_file_size:
            large[rel] = len(data)
    return SourceModel(bucket, prefix, ref["files"], ref["tensors"], large)


# ------------------------------------------------------------ processes


def marked_pids(token: str) -> List[int]:
    """Our processes whose environment has OSSC_TEST_NODE=token (others'
    environments are not readable: skipped)."""
    needle = f"OSSC_TEST_NODE={token}".encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(d))
        except OSError:
            continue
    return pids


def kill_marked(token: str) -> List[int]:
    """SIGKILLs, by pid, every process marked with token until none is left
    (a process may fork while we look); the pids killed."""
    killed: List[int] = []
    for _ in range(50):
        pids = [p for p in marked_pids(token) if p != os.getpid()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(POLL_S)  # let the kernel tear them down before looking again
    return killed


@dataclass
class Node:
    """One node: see the module's docstring.  Made by Cluster.node()."""
    cluster: "Cluster"
    name: str
    host: str
    processes: int = 1
    advertise: Optional[str] = None      # default host:<free port>
    listen: Optional[str] = None         # OSSC_BROADCAST_LISTEN when not the advertised one
    endpoint: Optional[str] = None       # default the cluster's (emulator or proxy)
    secret_file: Optional[str] = None    # default the cluster's
    redis_url: Optional[str] = None      # default the cluster's
    prepare: bool = False                # OssModelConnector.prepare_directory, no LD_PRELOAD
    env_extra: Dict[str, str] = field(default_factory=dict)
    procs: List[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self):
        self.dir = self.cluster.base / self.name
        self.model_dir = self.dir / "model"
        self.cache_dir = self.dir / "cache"
        self.log_path = self.dir / "connector.log"
        self.config_path = self.dir / "config.json"
        self.release_path = self.dir / "release"
        self.token = uuid.uuid4().hex
        if self.advertise is None:
            self.advertise = host_port(self.host, free_port(self.host))
        self.dir.mkdir(parents=True)
        self.cache_dir.mkdir(mode=0o700)
        self.config_path.write_text(json.dumps({
            "logPath": str(self.log_path), "logLevel": 1, "auditPath": "",
            "http": {"partSize": CHUNK}}))

    @property
    def addr(self) -> str:
        """The advertised host:port (what Redis and the peers know it by)."""
        return self.advertise

    def result_path(self, i: int) -> Path:
        return self.dir / f"result-{i}.json"

    def stderr_path(self, i: int) -> Path:
        return self.dir / f"app-{i}.stderr"

    def env(self) -> Dict[str, str]:
        c = self.cluster
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSS_", "OSSC_")) and k not in ("LD_PRELOAD",
                                                                     "ENABLE_CONNECTOR")}
        env.update(
            OSS_ACCESS_KEY_ID=c.emu.access_key_id,
            OSS_ACCESS_KEY_SECRET=c.emu.access_key_secret,
            OSS_ENDPOINT=self.endpoint or c.endpoint,
            OSS_PATH=c.model.oss_path,
            MODEL_DIR=str(self.model_dir),
            OSSC_CACHE_DIR=str(self.cache_dir),
            OSS_CONNECTOR_CONFIG=str(self.config_path),
            OSSC_SMALL_FILE_SIZE="64K",
            OSSC_BROADCAST_REDIS=self.redis_url or c.redis_url,
            OSSC_BROADCAST_ADVERTISE=self.advertise,
            OSSC_BROADCAST_SECRET_FILE=self.secret_file or c.secret_file,
            OSSC_TEST_NODE=self.token,
        )
        if self.listen:
            env["OSSC_BROADCAST_LISTEN"] = self.listen
        if not self.prepare:
            env.update(LD_PRELOAD=library_path(), ENABLE_CONNECTOR="1")
        env.update(c.env_extra)
        env.update(self.env_extra)
        return env

    def start(self) -> "Node":
        env = self.env()
        for i in range(self.processes):
            cmd = [sys.executable, str(NODE_APP), "--model-dir", str(self.model_dir),
                   "--result", str(self.result_path(i)), "--release", str(self.release_path)]
            if self.prepare:
                cmd += ["--prepare", self.cluster.model.oss_path, "--config",
                        str(self.config_path)]
            with open(self.stderr_path(i), "wb") as err:
                self.procs.append(subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=err, stderr=err,
                                                   start_new_session=True))
        return self

    # -- observing

    def log(self) -> str:
        """The node's connector log (application and watcher write it)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr(self, i: int = 0) -> str:
        try:
            return self.stderr_path(i).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def describe(self) -> str:
        """What a failure message shows of this node: its processes' exit
        status and stderr, and the end of its log."""
        parts = [f"--- node {self.name} ({self.addr}) ---"]
        for i, p in enumerate(self.procs):
            parts.append(f"process {i} (pid {p.pid}) exit status {p.poll()}; stderr:\n"
                         f"{self.stderr(i)[-3000:]}")
        parts.append(f"log (end):\n{self.log()[-6000:]}")
        return "\n".join(parts)

    def wait_log(self, pattern: str, timeout: float = TIMEOUT_S) -> re.Match:
        """The first match of the regex `pattern` in the node's log, once there."""
        rx = re.compile(pattern)
        return wait_for(f"{pattern!r} in the log of node {self.name}",
                        lambda: rx.search(self.log()), timeout, self.describe)

    def results(self, timeout: float = TIMEOUT_S) -> List[dict]:
        """Every process's result, once written; AssertionError when one
        exited without writing it."""
        def ready():
            for i, p in enumerate(self.procs):
                if not self.result_path(i).exists():
                    if p.poll() is not None:
                        raise AssertionError(f"node {self.name} process {i} exited "
                                             f"{p.returncode} without a result\n"
                                             f"{self.describe()}")
                    return None
            return True
        wait_for(f"the results of node {self.name}", ready, timeout, self.describe)
        return [json.loads(self.result_path(i).read_text()) for i in range(self.processes)]

    # -- ending

    def finish(self, timeout: float = TIMEOUT_S) -> None:
        """Lets the applications exit and waits for them."""
        self.release_path.touch()
        for p in self.procs:
            p.wait(timeout=timeout)

    def kill(self) -> List[int]:
        """SIGKILL to every process of the node (applications and the
        cache's watcher: its chunk server and agent die too), as if the
        machine died.  The pids killed."""
        killed = kill_marked(self.token)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=60)
        return killed


class Cluster:
    """Nodes sharing one model in the emulator, one Redis and one secret.
    Node hosts are 127.0.0.2, 127.0.0.3, ... in the order they are made."""

    def __init__(self, emu, model: SourceModel, redis_url: str, endpoint: Optional[str] = None,
                 env_extra: Optional[Dict[str, str]] = None):
        self.emu, self.model, self.redis_url = emu, model, redis_url
        self.endpoint = endpoint or emu.endpoint
        # A loaded 2-core machine can take seconds to join: the fetchers wait
        # this (+1 s) for the node's place in the chain before going to OSS.
        self.env_extra = {"OSSC_BROADCAST_CONNECT_TIMEOUT_MS": "10000", **(env_extra or {})}
        self.base = Path(tempfile.mkdtemp(prefix="ossc-test-bcnodes-", dir=_scratch_root()))
        self.secret_file = self.write_secret("secret", "the deployment's broadcast secret\n")
        self.nodes: List[Node] = []

    def write_secret(self, name: str, text: str) -> str:
        path = self.base / name
        path.write_text(text)
        path.chmod(0o600)
        return str(path)

    def node(self, **options) -> Node:
        n = len(self.nodes) + 1
        node = Node(self, name=f"node{n}", host=options.pop("host", f"127.0.0.{n + 1}"),
                    **options)
        self.nodes.append(node)
        return node

    def oss_bytes(self) -> int:
        """Body bytes the emulator sent for the model's large files since
        its stats were last reset."""
        objects = self.emu.stats()["objects"].get(self.model.bucket, {})
        return sum(objects.get(self.model.prefix + rel, {}).get("bytes_sent", 0)
                   for rel in self.model.large)

    def registry(self, timeout_ms: int = 3000) -> Dict[str, dict]:
        """The registry's live nodes of the model, by advertised address
        ({} when Redis does not answer)."""
        from ossconnector.cli._broadcast import status
        from ossconnector.cli._common import CommandError

        try:
            view = status(self.redis_url, self.model.oss_path, timeout_ms)
        except CommandError:
            return {}
        return {n["addr"]: n for v in view["versions"] for n in v["nodes"]}

    def chain(self, nodes: List[Node]) -> List[Node]:
        """nodes in join order (the chain's order), once all are in the registry."""
        by_addr = {n.addr: n for n in nodes}

        def all_in():
            view = self.registry()
            return view if all(a in view for a in by_addr) else None
        view = wait_for("every node in the registry", all_in, on_timeout=self.describe)
        return sorted(nodes, key=lambda n: int(view[n.addr]["seq"]))

    def peer_bytes(self, node: Node) -> int:
        """Bytes node received from peers, as its last heartbeat said (0
        before it registered)."""
        return int(self.registry().get(node.addr, {}).get("recv_peer", 0))

    def check(self, node: Node, results: List[dict]) -> None:
        """Every process of node saw the source's bytes: every file's sha256
        and every tensor as safetensors loaded it."""
        for i, r in enumerate(results):
            assert r["files"] == self.model.files, f"node {node.name} process {i}: files differ"
            assert r["tensors"] == self.model.tensors, \
                f"node {node.name} process {i}: tensors differ"

    def describe(self) -> str:
        return "\n".join(n.describe() for n in self.nodes)

    def close(self) -> None:
        """Kills what is left of every node and removes the scratch tree."""
        for node in self.nodes:
            node.release_path.touch()
        for node in self.nodes:
            node.kill()
        if os.environ.get("OSSC_TEST_KEEP_NODES") == "1":  # debugging: logs stay
            print(f"broadcast test nodes kept in {self.base}", file=sys.stderr)
            return
        shutil.rmtree(self.base, ignore_errors=True)


SCRATCH_NEEDED = 1 << 30  # a cluster's caches: up to 4 nodes x the model, and room


def _scratch_root() -> str:
    """/dev/shm when it is tmpfs (the cache's usual home) with room for a
    cluster (a container's is often 64 MiB), else the temp dir."""
    with open("/proc/self/mounts") as f:
        tmpfs = any(l.split()[1] == "/dev/shm" and l.split()[2] == "tmpfs" for l in f)
    if tmpfs:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= SCRATCH_NEEDED:
            return "/dev/shm"
    return tempfile.gettempdir()


# ------------------------------------------------------------ proxies


class ProxyProcess:
    """One of the proxy scripts next to this file, as a process; its state
    file tells its port and what it did."""

    def __init__(self, script: str, state: Path, *args: str):
        self.state = state
        self.proc = subprocess.Popen([sys.executable, str(HERE / script), "--state", str(state),
                                      *args], stdin=subprocess.DEVNULL)
        wait_for(f"{script} to listen", self.read, 60)

    def read(self) -> List[str]:
        """The state file's fields ([] before the proxy wrote it)."""
        try:
            return self.state.read_text().split()
        except FileNotFoundError:
            return []

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


class ThrottleProxy(ProxyProcess):
    """throttle_proxy.py in front of the emulator: `endpoint` for the nodes,
    hold() / release() acknowledged through its state file."""

    def __init__(self, emu, state: Path, rate_mib: float):
        upstream = emu.endpoint.split("://", 1)[-1].rstrip("/")
        super().__init__("throttle_proxy.py", state, "--upstream", upstream,
                         "--rate-mib", str(rate_mib))
        self.endpoint = f"http://127.0.0.1:{self.read()[1]}"

    def _signal(self, sig: int, *want: str) -> None:
        self.proc.send_signal(sig)
        wait_for(f"the throttle proxy to be {' or '.join(want)}",
                 lambda: self.read()[:1] in ([w] for w in want), 60)

    def arm(self) -> None:
        """OSS holds by itself once the proxy's budget (24 MiB) more has passed."""
        self._signal(signal.SIGHUP, "armed", "held")

    def hold(self) -> None:
        self._signal(signal.SIGUSR1, "held")

    def release(self) -> None:
        self._signal(signal.SIGUSR2, "open")


class CorruptingProxy(ProxyProcess):
    """corrupting_proxy.py on host (a free port) in front of a chunk server."""

    def __init__(self, state: Path, host: str, upstream: str, every: int):
        super().__init__("corrupting_proxy.py", state, "--host", host, "--upstream", upstream,
                         "--every", str(every))
        self.addr = f"{host}:{self.read()[0]}"

    @property
    def corrupted(self) -> int:
        fields = self.read()
        return int(fields[2]) if fields else 0
