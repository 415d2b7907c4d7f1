#!/usr/bin/env python3
"""Model broadcasting: several nodes load one model, node to node or each
from OSS: run.py's scenario ``broadcast`` (issue 16, docs/broadcast.md).

A model of ``--size-gib`` (default 1 GiB, ``--shards`` safetensors shards,
plus config.json and the index json; model_load.py's generator) is served
by ``localbucket`` behind our OSS adapter, which sends each shard's
``x-oss-hash-crc64ecma`` and counts the body bytes it sends (the bytes
pulled from "OSS").  ``--nodes`` nodes (default 4) run on this machine, each
with its own ``OSSC_CACHE_DIR``, ``MODEL_DIR`` and advertise address
``127.0.0.<k+2>``; each node's application is one process under
``LD_PRELOAD=libossc_preload.so`` that reads every file whole
(scenarios/broadcast_worker.py).  Three cases:

* ``broadcast``  every node with ``OSSC_BROADCAST_REDIS`` (one real
                 ``redis-server`` started here), a shared secret file: one
                 node pulls from OSS, the others receive down the chain;
* ``each``       every node loads from OSS at once (no Redis);
* ``alone``      one node alone loads from OSS.

Each case runs in two network set-ups: ``limited`` (the server behind
infra/delay_proxy.py: +``--delay-ms`` first byte and ``--egress-mbit``
in total for all connections together, the situation broadcasting exists
for) and ``unconstrained`` (loopback straight to the server).  Measured:
the time from starting the nodes until every node's application has read
every byte (the last node's), bytes the server sent, and every node's
bytes landed in its cache over time (allocated blocks of its cache files,
sampled every 100 ms) for the plot.  After the clock stops, every node
hashes every file with SHA-256, compared with the model's.

Targets (issue 16): broadcast <= 1.3 x alone; OSS bytes <= 1.05 x the model;
broadcast >= 3 x faster than each-from-OSS when egress is limited.

    python3 scripts/bench/run.py --scenario broadcast --size-gib 1 --markdown
    python3 scripts/bench/run.py --scenario broadcast --quick        # 256 MiB, smoke
    python3 scripts/bench/run.py --scenario broadcast --modes limited --cases broadcast \\
        --log-level debug --keep-work                                # profile one case

Every node runs on this one machine: with few cores the nodes compete for
CPU (receiving, CRC-64, serving, reading), which a real cluster does not.
``--node-cpu PERCENT`` gives each node a CPU quota of its own (cgroups,
root), and ``--warm-memory GIB`` lands every case in memory the hypervisor
has backed (docs/benchmarks.md, "each node with its own CPU budget"):

    python3 scripts/bench/run.py --scenario broadcast --size-gib 1 --runs 3 \
        --modes unconstrained --node-cpu 35 --warm-memory 5 --prefetch-nice 0 --markdown
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))   # scripts/bench

from infra import DOC, RESULTS_DIR  # noqa: E402
from report import machine_basics, merge_results, replace_section  # noqa: E402

BUCKET, PREFIX = "models", "bench-model/"
GiB, MiB = 1 << 30, 1 << 20
CASES = ["broadcast", "each", "alone"]
MODES = ["limited", "unconstrained"]
SAMPLE_S = 0.1
LOG_LEVELS = {"debug": 0, "info": 1, "warn": 2, "error": 3}   # config.json's logLevel
TARGETS = {"vs_alone": 1.3, "oss_bytes": 1.05, "each_vs_broadcast": 3.0}


# ------------------------------------------------------------------ the model

def prepare_model(root: Path, size: int, shards: int) -> dict:
    """The model in ``root/<bucket>/<prefix>`` (kept between runs when the
    size matches) with each shard's CRC-64 and SHA-256."""
    from infra.data import _crc64
    from scenarios.model_load import make_model

    d = root / BUCKET / PREFIX
    meta_path = root / "broadcast-model.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("size") == size and meta.get("nshards") == shards and all(
                (d / s).exists() for s in meta["files"]):
            return meta
    shutil.rmtree(d, ignore_errors=True)
    model = make_model(d, size, shards)
    files = sorted(p.name for p in d.iterdir())
    crc, sha, nbytes = {}, {}, 0
    for name in files:
        c, h = _crc64(), hashlib.sha256()
        with open(d / name, "rb") as f:
            while block := f.read(8 << 20):
                c.update(block)
                h.update(block)
        crc[f"{BUCKET}/{PREFIX}{name}"] = c.crcValue
        sha[name] = h.hexdigest()
        nbytes += (d / name).stat().st_size
    meta = {"size": size, "nshards": shards, "files": files, "shards": model["shards"],
            "crc64": crc, "sha256": sha, "bytes": nbytes, "layers": model["layers"]}
    meta_path.write_text(json.dumps(meta))
    return meta


# ------------------------------------------------------------------ infrastructure

def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Redis:
    """One redis-server on 127.0.0.1, no persistence, in ``work``."""

    def __init__(self, work: Path):
        self.work, self.proc, self.port = work, None, 0

    def start(self) -> "Redis":
        self.port = free_port("127.0.0.1")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work), "--logfile",
             str(self.work / "redis.log")], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer PING; see {self.work / 'redis.log'}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


class CpuBudget:
    """Gives each node its own share of the CPU, as each node of a cluster has
    its own cores: one cgroup per node with a CFS quota of ``percent`` % of
    one core (cgroup v2 ``cpu.max`` where the unified hierarchy has the cpu
    controller, else v1 ``cpu.cfs_quota_us``).  A node's application joins
    its group between fork and exec (``joiner``; not through a shell, which
    would itself start under LD_PRELOAD), so its cache watcher, which serves
    the node's downstream, is in it too.
    Root only; the groups are removed by ``close()``."""

    PERIOD_US = 100_000

    def __init__(self, percent: float):
        self.quota = int(self.PERIOD_US * percent / 100)
        v2 = Path("/sys/fs/cgroup")
        if "cpu" in (v2 / "cgroup.controllers").read_text().split() if (
                v2 / "cgroup.controllers").exists() else False:
            self.root, self.v2 = v2, True
            ctl = v2 / "cgroup.subtree_control"
            if "cpu" not in ctl.read_text().split():
                try:
                    ctl.write_text("+cpu")
                except OSError as e:
                    raise SystemExit(f"--node-cpu: cannot enable the cpu controller in {ctl}: "
                                     f"{e} (root, outside a container's cgroup, needed)")
        elif (Path("/sys/fs/cgroup/cpu") / "cpu.cfs_quota_us").exists():
            self.root, self.v2 = Path("/sys/fs/cgroup/cpu"), False
        else:
            raise SystemExit("--node-cpu: no cgroup cpu controller here (neither cgroup v2 "
                             "with cpu nor /sys/fs/cgroup/cpu)")
        self.groups: dict[str, Path] = {}

    def group(self, name: str) -> Path:
        """The group ``name`` (created with the quota on first use)."""
        if name in self.groups:
            return self.groups[name]
        g = self.root / f"ossc-bench-{os.getpid()}-{name}"
        try:
            g.mkdir()
        except FileExistsError:
            pass
        except OSError as e:
            raise SystemExit(f"--node-cpu: cannot create cgroup {g}: {e} (root needed)")
        if self.v2:
            (g / "cpu.max").write_text(f"{self.quota} {self.PERIOD_US}")
        else:
            (g / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (g / "cpu.cfs_quota_us").write_text(str(self.quota))
        self.groups[name] = g
        return g

    @staticmethod
    def joiner(group: Path):
        """A ``preexec_fn`` that moves the child into ``group``."""
        procs = str(group / "cgroup.procs")

        def join():
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)
        return join

    def throttled_s(self, group: Path) -> float:
        """Seconds the group's members were held back by its quota so far."""
        try:
            for line in (group / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "throttled_time":      # v1, nanoseconds
                    return int(value) / 1e9
                if key == "throttled_usec":      # v2
                    return int(value) / 1e6
        except (OSError, ValueError):
            pass
        return 0.0

    @staticmethod
    def cpu_s(group: Path) -> float:
        """CPU seconds (user + system) of every process now in the group:
        the node's application and its cache watcher, which runs the chunk
        server and, started detached, is nobody's child (tree_cpu_s cannot
        see it).  Processes that already exited are not counted."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        try:
            pids = (group / "cgroup.procs").read_text().split()
        except OSError:
            return 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, ValueError, IndexError):
                pass
        return total

    def close(self) -> None:
        for g in self.groups.values():
            for attempt in range(100):   # members that just exited leave a moment later
                try:
                    g.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if attempt == 99:
                        print(f"--node-cpu: cgroup {g} left behind: {e}", file=sys.stderr)
                    time.sleep(0.1)
        self.groups.clear()


def sent_bytes(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def settled_sent(path: Path) -> int:
    """The server's count once it stopped changing (it is written every 50 ms)."""
    last = -1
    while True:
        time.sleep(0.2)
        n = sent_bytes(path)
        if n == last:
            return n
        last = n


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live descendants
    (a node's application and its cache watcher)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except (OSError, ValueError, IndexError):
            pass
    return total


def warm_memory(gib: float) -> None:
    """Touches gib GiB of fresh shared memory and frees it again, right
    before a case: on a VM whose hypervisor backs guest memory lazily
    (this one: 0.7 CPU s per GiB for memory it backs, 2-3 s for memory it
    must back first), the case's nodes then land their copies in memory
    that is there, as a real node's is.  Costs gib x 0.7-3 CPU s, off the
    clock."""
    import mmap

    n = int(gib * GiB)
    with tempfile.TemporaryFile(dir="/dev/shm") as f:
        os.posix_fallocate(f.fileno(), 0, n)   # ENOSPC as an error, never SIGBUS below
        with mmap.mmap(f.fileno(), n) as m:
            block = b"\1" * (8 * MiB)
            for off in range(0, n, len(block)):
                piece = min(len(block), n - off)
                m[off:off + piece] = block[:piece]


def busy_jiffies() -> tuple[int, int]:
    """(busy, all) jiffies of the whole machine so far (/proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


# The node cache's state file (libpreload/nodecache/cache_internal.h and
# layout.c's nc_state_size), STATE_VERSION 8: header (version at byte 4,
# nfiles at 12, chunk_size at 16, total_chunks at 24), nfiles records of
# SHM_FILE bytes (size at 2048, first_chunk at 2056, nchunks at 2064), then
# per chunk a 64-bit CRC, and the 32-bit chunk states (READY = 2), then four
# more 32-bit arrays.
STATE_VERSION, SHM_FILE, READY = 8, 2256, 2
PER_CHUNK = 8 + 5 * 4


def landed_bytes(cache_root: Path, cap: int) -> int:
    """Bytes landed (READY chunks) in a node's cache, read from its state
    file; 0 before the cache exists.  Bench-only: it mirrors the layout
    above, and a file whose size does not fit it raises."""
    import struct

    paths = glob.glob(str(cache_root / "ossc-*" / "state"))
    if not paths:
        return 0
    try:
        raw = Path(paths[0]).read_bytes()
    except OSError:
        return 0
    if len(raw) < 32:
        return 0
    version = struct.unpack_from("<I", raw, 4)[0]
    if version != STATE_VERSION:
        raise RuntimeError(f"{paths[0]}: state version {version}; this scenario reads version "
                           f"{STATE_VERSION} (update its layout constants)")
    nfiles, chunk, chunks = struct.unpack_from("<I", raw, 12)[0], *struct.unpack_from(
        "<QQ", raw, 16)
    header = len(raw) - nfiles * SHM_FILE - chunks * PER_CHUNK
    if header <= 32 or header % 8:
        raise RuntimeError(f"{paths[0]}: {len(raw)} bytes do not fit the state layout this "
                           f"scenario knows ({nfiles} files, {chunks} chunks)")
    states = struct.unpack_from(f"<{chunks}I", raw, header + nfiles * SHM_FILE + chunks * 8)
    n = 0
    for i in range(nfiles):
        size, first, count = struct.unpack_from("<QQQ", raw, header + i * SHM_FILE + 2048)
        for c in range(count):
            if states[first + c] == READY:
                n += min(chunk, size - c * chunk)
    return min(n, cap)


# ------------------------------------------------------------------ one case

class Case:
    """Runs ``nodes`` applications at once and measures them."""

    def __init__(self, args, work: Path, preload: str, endpoint: str, meta: dict,
                 sent_file: Path, budget: CpuBudget | None = None):
        self.args, self.work, self.preload, self.endpoint = args, work, preload, endpoint
        self.meta, self.sent_file, self.budget = meta, sent_file, budget
        self.runs = 0
        self.secret = work / "broadcast.secret"
        if not self.secret.exists():
            self.secret.write_bytes(os.urandom(32).hex().encode())
            self.secret.chmod(0o600)

    def node_env(self, k: int, run: Path, redis: Redis | None) -> tuple[dict, Path]:
        node = run / f"node{k}"
        cache = node / "cache"
        cache.mkdir(parents=True, mode=0o700)
        config = node / "connector.json"
        config.write_text(json.dumps({"logPath": str(node / "connector.log"), "auditPath": "",
                                      "logLevel": LOG_LEVELS[self.args.log_level],
                                      "prefetch": {"nice": self.args.prefetch_nice}}))
        env = {k_: v for k_, v in os.environ.items()
               if not k_.startswith(("OSS_", "AWS_", "OSSC_")) and k_ != "LD_PRELOAD"}
        env.update(LD_PRELOAD=self.preload, ENABLE_CONNECTOR="1", OSS_ENDPOINT=self.endpoint,
                   OSS_PATH=f"oss://{BUCKET}/{PREFIX}", MODEL_DIR=str(node / "model"),
                   OSS_ACCESS_KEY_ID="bench", OSS_ACCESS_KEY_SECRET="bench",
                   OSS_CONNECTOR_CONFIG=str(config), OSSC_CACHE_DIR=str(cache))
        if redis:
            host = f"127.0.0.{k + 2}"
            env.update(OSSC_BROADCAST_REDIS=redis.url,
                       OSSC_BROADCAST_ADVERTISE=f"{host}:{free_port(host)}",
                       OSSC_BROADCAST_SECRET_FILE=str(self.secret))
        return env, cache

    def run(self, case: str, mode: str) -> dict:
        nodes = 1 if case == "alone" else self.args.nodes
        run = Path(tempfile.mkdtemp(prefix=f"{mode}-{case}-", dir=self.work))
        redis = Redis(run).start() if case == "broadcast" else None
        procs, caches = [], []
        total = sum((Path(self.args.data) / BUCKET / PREFIX / f).stat().st_size
                    for f in self.meta["shards"])
        try:
            envs = [self.node_env(k, run, redis) for k in range(nodes)]
            spec = {"files": self.meta["files"]}
            sent0 = settled_sent(self.sent_file)
            samples: list[tuple[float, list[int]]] = []
            stop = threading.Event()
            # Groups of this run only: a watcher of an earlier run that is still
            # leaving counts against its own group, not against these.
            self.runs += 1
            groups = [self.budget.group(f"run{self.runs}-node{k}") for k in range(nodes)] \
                if self.budget else []
            throttled0 = [self.budget.throttled_s(g) for g in groups]
            busy0 = busy_jiffies()
            t0 = time.time()
            for k, (env, cache) in enumerate(envs):
                s = dict(spec, dir=env["MODEL_DIR"])
                join = self.budget.joiner(groups[k]) if self.budget else None
                procs.append(subprocess.Popen(
                    [sys.executable, str(HERE / "broadcast_worker.py"), json.dumps(s)],
                    preexec_fn=join, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=open(run / f"node{k}" / "stderr", "w"), text=True))
                caches.append(cache)

            def sample():
                while not stop.is_set():
                    samples.append((time.time() - t0,
                                    [landed_bytes(c, total) for c in caches]))
                    stop.wait(SAMPLE_S)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            done = [None] * nodes
            deadline = time.monotonic() + self.args.timeout
            for k, p in enumerate(procs):
                line = p.stdout.readline()
                if not line.startswith("DONE "):
                    raise RuntimeError(f"node {k} ({case}, {mode}) failed: exit "
                                       f"{p.poll()}; see {run / f'node{k}'}")
                done[k] = float(line.split()[1]) - t0
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{case} ({mode}) took over {self.args.timeout} s")
            busy1 = busy_jiffies()
            cpu = [self.budget.cpu_s(g) for g in groups] if self.budget else \
                [tree_cpu_s(p.pid) for p in procs]
            throttled = [self.budget.throttled_s(g) - t for g, t in zip(groups, throttled0)]
            stop.set()
            sampler.join()
            samples.append((time.time() - t0, [landed_bytes(c, total) for c in caches]))
            sent = settled_sent(self.sent_file) - sent0
            bad = []
            if not self.args.no_verify:
                for p in procs:
                    p.stdin.write("verify\n")
                    p.stdin.flush()
                for k, p in enumerate(procs):
                    line = p.stdout.readline()
                    sums = json.loads(line[4:]) if line.startswith("SHA ") else {}
                    bad += [f"node {k}: {n}" for n in self.meta["files"]
                            if sums.get(n) != self.meta["sha256"][n]]
            if bad:
                raise RuntimeError(f"{case} ({mode}): wrong bytes: {bad[:4]}")
            return {"case": case, "mode": mode, "nodes": nodes, "seconds": max(done),
                    "per_node_s": done, "oss_bytes": sent, "model_bytes": self.meta["bytes"],
                    "cpu_s": cpu, "throttled_s": throttled, "machine_busy": (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
                    "samples": samples, "work": str(run)}
        finally:
            for p in procs:
                try:
                    p.stdin.close()
                except OSError:
                    pass
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if redis:
                redis.stop()
            if not self.args.keep_work:
                shutil.rmtree(run, ignore_errors=True)


# ------------------------------------------------------------------ reporting

def ratios(res: dict) -> dict:
    """Per mode: broadcast / alone, OSS bytes / model, each / broadcast."""
    out = {}
    for mode, cases in res.items():
        b, e, a = (cases.get(c) for c in CASES)
        r = {}
        if b and a:
            r["vs_alone"] = b["seconds"] / a["seconds"]
        if b:
            r["oss_bytes"] = b["oss_bytes"] / b["model_bytes"]
        if b and e:
            r["each_vs_broadcast"] = e["seconds"] / b["seconds"]
        out[mode] = r
    return out


def verdicts(rat: dict) -> list[str]:
    lines = []
    for mode, r in rat.items():
        if "vs_alone" in r:
            ok = r["vs_alone"] <= TARGETS["vs_alone"]
            lines.append(f"{mode}: broadcast / alone = {r['vs_alone']:.2f} "
                         f"(target <= {TARGETS['vs_alone']}: {'met' if ok else 'MISSED'})")
        if "oss_bytes" in r:
            ok = r["oss_bytes"] <= TARGETS["oss_bytes"]
            lines.append(f"{mode}: OSS bytes / model = {r['oss_bytes']:.3f} "
                         f"(target <= {TARGETS['oss_bytes']}: {'met' if ok else 'MISSED'})")
        if "each_vs_broadcast" in r:
            target = mode == "limited"
            ok = r["each_vs_broadcast"] >= TARGETS["each_vs_broadcast"]
            lines.append(f"{mode}: each-from-OSS / broadcast = {r['each_vs_broadcast']:.2f}"
                         + (f" (target >= {TARGETS['each_vs_broadcast']}: "
                            f"{'met' if ok else 'MISSED'})" if target else " (no target)"))
    return lines


def plot(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if m in res and "broadcast" in res[m]]
    if not modes:
        return
    fig, axes = plt.subplots(1, len(modes), figsize=(6.5 * len(modes), 4.2), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        b = res[mode]["broadcast"]
        ts = [t for t, _ in b["samples"]]
        for k in range(b["nodes"]):
            ax.plot(ts, [v[k] / MiB for _, v in b["samples"]], label=f"node {k + 1}")
        a = res[mode].get("alone")
        if a:
            ax.plot([t for t, _ in a["samples"]], [v[0] / MiB for _, v in a["samples"]],
                    "k--", linewidth=1, label="one node alone")
        ax.set_title(f"broadcast, {mode}: {b['seconds']:.1f} s"
                     + (f" (alone {a['seconds']:.1f} s)" if a else ""))
        ax.set_xlabel("seconds since the nodes started")
        ax.set_ylabel("MiB landed in the node's cache")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def section_name(params: dict) -> str:
    """Where a run is recorded (docs section, plot, results.json variant):
    runs with per-node CPU quotas apart from runs that share the machine."""
    return "broadcast_nodecpu" if params.get("node_cpu") else "broadcast"


def markdown(doc: dict) -> str:
    m, p = doc["machine"], doc["params"]
    cpu = (f"Every node in its own cgroup with a CPU quota of {p['node_cpu']:g} % of one core "
           f"(its application and its cache watcher; the server, Redis and the proxy "
           f"outside them); CPU s per node: every process in the node's group, the watcher "
           f"(chunk server) included. " if p.get("node_cpu") else
           "CPU s per node: the application and its children (not the detached cache "
           "watcher, which runs the chunk server). ")
    if p.get("warm_memory_gib"):
        cpu += (f"Before every case {p['warm_memory_gib']:g} GiB of shared memory were touched "
                f"and freed (`--warm-memory`). ")
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}; load average at start "
        f"{m['load_average_at_start']}. Server: localbucket + OSS adapter on 127.0.0.1; "
        f"`limited`: behind the delay proxy, +{p['delay_ms']:g} ms first byte, "
        f"{p['egress_mbit']:g} Mbit/s egress in total; `unconstrained`: loopback, no proxy. "
        f"Model: {len(doc['shards'])} shards, {doc['bytes'] / GiB:.2f} GiB. "
        f"{p['nodes']} nodes on this one machine (each: its own cache directory, MODEL_DIR, "
        f"127.0.0.x address); a node's application reads every file whole under LD_PRELOAD. "
        f"{cpu}"
        f"Time: from starting the nodes until the last node has read every byte; SHA-256 of "
        f"every file on every node checked after the clock stopped. OSS bytes: body bytes the "
        f"server sent. Every node's `prefetch.nice`: {p['prefetch_nice']}. Median of "
        f"{p['runs']} run(s); load average at the end {m.get('load_average_at_end', '?')}.",
        "",
        "```",
        doc["command"],
        "```",
        "",
        "| egress | case | nodes | time (s) | per node (s) | OSS bytes / model | CPU s per node |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in MODES:
        for case in CASES:
            r = doc["results"].get(mode, {}).get(case)
            if not r:
                continue
            per = ", ".join(f"{s:.1f}" for s in r["per_node_s"])
            cpu = ", ".join(f"{c:.2f}" for c in r["cpu_s"])
            lines.append(f"| {mode} | {case} | {r['nodes']} | {r['seconds']:.2f} "
                         f"(min {r['min']:.2f}, max {r['max']:.2f}) | {per} | "
                         f"{r['oss_bytes'] / r['model_bytes']:.3f} | {cpu} |")
    lines += ["", *[f"- {v}" for v in verdicts(doc["ratios"])], "",
              f"![per-node progress](benchmarks/{section_name(p)}.png)", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ main

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gib", type=float, default=1.0)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument("--egress-mbit", type=float, default=1000.0,
                   help="limited mode: the server's egress to all nodes together")
    p.add_argument("--delay-ms", type=float, default=5.0, help="limited mode: first byte")
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="256 MiB, one run")
    p.add_argument("--workdir", help="kept between runs (the model is reused)")
    p.add_argument("--keep-work", action="store_true", help="keep each run's node folders")
    p.add_argument("--log-level", default="info", choices=list(LOG_LEVELS),
                   help="the nodes' logLevel")
    p.add_argument("--prefetch-nice", type=int, default=10,
                   help="the nodes' prefetch.nice (the product's default 10; 0 when other "
                        "work on this machine would starve the nodes' I/O threads)")
    p.add_argument("--node-cpu", type=float, metavar="PERCENT",
                   help="give every node its own cgroup with a CPU quota of PERCENT %% of "
                        "one core (root; as each node of a cluster has its own cores); "
                        "records into its own section of the docs")
    p.add_argument("--warm-memory", type=float, metavar="GIB", default=0.0,
                   help="before every case, touch and free GIB GiB of shared memory, so the "
                        "nodes land in memory the hypervisor has backed (off the clock)")
    p.add_argument("--no-verify", action="store_true", help="skip the SHA-256 check")
    p.add_argument("--timeout", type=float, default=600.0, help="per case, seconds")
    p.add_argument("--settle", type=float, default=6.0,
                   help="seconds of pause before every case (freed memory settles)")
    p.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    p.add_argument("--markdown", action="store_true",
                   help=f"update {DOC} (section broadcast, or broadcast_nodecpu with --node-cpu), "
                        "results.json and the section's plot")
    a = p.parse_args(argv)
    if a.quick:
        a.size_gib, a.runs = 0.25, 1
    return a


def run_mode(args, mode: str, work: Path, meta: dict, preload: str,
             budget: CpuBudget | None) -> dict:
    from infra.delay_proxy import DelayProxy
    from infra.servers import LocalBucket

    crc = work / "crc64.json"
    crc.write_text(json.dumps(meta["crc64"]))
    sent_file = work / f"sent-{mode}"
    server = LocalBucket(args.data, extra_args=("--crc64-json", str(crc), "--bytes-file",
                                                str(sent_file))).start()
    proxy = None
    try:
        front = server
        if mode == "limited":
            proxy = DelayProxy(server, delay_ms=args.delay_ms, rate_mbit=0,
                               total_rate_mbit=args.egress_mbit).start()
            front = proxy
        case = Case(args, work, preload, front.endpoint, meta, sent_file, budget)
        out = {}
        for name in [c for c in CASES if c in args.cases.split(",")]:
            runs = []
            for i in range(args.runs):
                # Memory the previous case freed goes back to the hypervisor after a
                # moment; until then re-touching it is faster than fresh memory
                # (model_load.py's --settle): every case starts on fresh memory alike.
                time.sleep(args.settle)
                if args.warm_memory:
                    warm_memory(args.warm_memory)
                r = case.run(name, mode)
                runs.append(r)
                print(f"{mode:13s} {name:9s} run {i + 1}/{args.runs}: {r['seconds']:6.2f} s "
                      f"(nodes {', '.join(f'{s:.2f}' for s in r['per_node_s'])}), OSS bytes "
                      f"{r['oss_bytes'] / r['model_bytes']:.3f} x model; CPU s per node "
                      f"{', '.join(f'{c:.2f}' for c in r['cpu_s'])}"
                      + (f"; held by the quota s {', '.join(f'{t:.2f}' for t in r['throttled_s'])}"
                         if r["throttled_s"] else "") + ", machine busy "
                      f"{100 * r['machine_busy']:.0f}%; load "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
            runs.sort(key=lambda r: r["seconds"])
            med = dict(runs[len(runs) // 2])
            med.update(min=runs[0]["seconds"], max=runs[-1]["seconds"],
                       all_s=[r["seconds"] for r in runs])
            out[name] = med
        return out
    finally:
        if proxy:
            proxy.stop()
        server.stop()


def main(argv=None, command: str | None = None) -> int:
    args = parse(argv if argv is not None else sys.argv[1:])
    command = command or shlex.join(["python3", *sys.argv])
    tmp = None
    if args.workdir:
        work = Path(args.workdir)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="bench-broadcast-")
        work = Path(tmp)
    args.data = str(work / "data")
    preload = subprocess.run([sys.executable, "-m", "ossconnector.preload"],
                             capture_output=True, text=True, check=True).stdout.strip()
    machine = machine_basics()
    print(f"load average at start: {machine['load_average_at_start']}", flush=True)
    meta = prepare_model(Path(args.data), int(args.size_gib * GiB), args.shards)
    print(f"model: {len(meta['shards'])} shards, {meta['bytes'] / GiB:.2f} GiB", flush=True)
    # The nodes' caches live under work; /dev/shm keeps them in memory like the default.
    runs_dir = Path(tempfile.mkdtemp(prefix="bench-broadcast-", dir="/dev/shm"))
    budget = CpuBudget(args.node_cpu) if args.node_cpu else None
    try:
        results = {m: run_mode(args, m, runs_dir, meta, preload, budget)
                   for m in MODES if m in args.modes.split(",")}
    finally:
        if budget:
            budget.close()
        if not args.keep_work:
            shutil.rmtree(runs_dir, ignore_errors=True)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    machine["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rat = ratios(results)
    for line in verdicts(rat):
        print(line)
    doc = {"machine": machine, "command": command, "params": {
        "nodes": args.nodes, "egress_mbit": args.egress_mbit, "delay_ms": args.delay_ms,
        "prefetch_nice": args.prefetch_nice, "node_cpu": args.node_cpu,
        "warm_memory_gib": args.warm_memory,
        "runs": args.runs, "size_gib": args.size_gib}, "shards": meta["shards"],
        "bytes": meta["bytes"], "results": results, "ratios": rat}
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    section = section_name(doc["params"])
    png = RESULTS_DIR / f"{section}.png"
    if args.markdown:
        plot(results, png)
        replace_section(DOC, f"<!-- {section}:start -->", f"<!-- {section}:end -->",
                        markdown(doc), "Benchmarks")
        suffix = section[len("broadcast"):]
        recs = [{"scenario": "broadcast", "variant": mode + suffix, "client": "ours", "key": case,
                 "server": "localbucket", "median": r["seconds"], "min": r["min"],
                 "max": r["max"], "unit": "s", "nodes": r["nodes"],
                 "oss_bytes": r["oss_bytes"], "model_bytes": r["model_bytes"],
                 "method": {"broadcast": "chain over Redis", "each": "every node from OSS",
                            "alone": "one node from OSS"}[case]}
                for mode, cases in results.items() for case, r in cases.items()]
        merge_results(RESULTS_DIR / "results.json", recs,
                      {f"broadcast_{m}{suffix}" for m in results})
        print(f"wrote {DOC}, {png} and results.json")
    elif results:
        plot(results, Path(work if args.workdir else tempfile.gettempdir()) / f"{section}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
