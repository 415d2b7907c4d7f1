#!/usr/bin/env python3
"""Issue 3's benchmark harness: scenarios on a local full-API server, every
peer side by side, results as JSON, Markdown and PNG plots.

    python3 scripts/bench/run.py --scenario all            # what `make bench` runs
    python3 scripts/bench/run.py --scenario big_read --runs 5
    python3 scripts/bench/run.py --scenario list --keys 100000
    python3 scripts/bench/run.py --scenario model_load --size-gib 4
    python3 scripts/bench/run.py --scenario small_objects --objects 20000
    python3 scripts/bench/run.py --scenario ckpt --ckpt-gib 2 --runs 3
    python3 scripts/bench/run.py --scenario servers        # the servers' GET ceilings
    python3 scripts/bench/run.py --scenario all --quick    # smoke run (small sizes, 1 run)

Scenarios (names as in issue 3):

* ``big_read``  one object (default 1 GiB), sequential ``readinto`` of the
  whole object into a preallocated buffer: ours (``Client.open().readinto``),
  the product's binary (``OssCheckpoint.reader().readinto``),
  s3torchconnector (``S3Checkpoint`` reader, path-style), oss2 (16 threads of
  ranged ``get_object``), boto3 (``get_object`` body in 8 MiB ``read``s); the
  ceiling is 16 concurrent ranged ``curl``.  Each client runs in a fresh
  process per round: one untimed warm-up read, then one timed read, checked.
* ``list``  100,000 keys under one prefix: ours (``Client.list``, and
  ``fast=True``), oss2 (``ObjectIteratorV2``), boto3 (paginator), the
  product's binary (``OssClient.list_objects``).  One untimed listing, then
  one timed, per fresh process; the number of distinct keys is checked.
* ``small_objects``, ``tar_epoch``  one DataLoader epoch (2 workers) over
  ``--objects`` objects of ``--object-kib`` KiB, and over one tar of them:
  datasets.py's peers, run by run_datasets.py.
* ``ckpt`` (records ``ckpt_save`` and ``ckpt_load``)  ``torch.save`` /
  ``torch.load`` of a ``--ckpt-gib`` state dict: checkpoint.py's clients,
  run by run_checkpoint.py, always on SeaweedFS (the clients' multipart
  uploads fail on localbucket).
* ``model_load``  see model_load.py.
* ``servers`` (not in ``all``)  the GET ceiling of nginx, localbucket + our
  adapter and SeaweedFS for one object, 16 concurrent ranged ``curl``.

Every client runs once per round, rounds repeat ``--runs`` times (so noise
from other work hits every client alike), and the median with min and max
is reported.  The server is localbucket (PyPI) behind our OSS adapter
(``localbucket_oss.py``); ``--server seaweedfs`` uses a SeaweedFS S3 gateway
(objects uploaded first).  The product's binary, s3torchconnector and
Run:ai run in a separate venv (``--peer-venv``, created on first use).
Results: ``docs/benchmarks/results.json`` (records ``{"scenario",
"client", "server", "median", "min", "max", "unit", "ceiling", ...}``;
records of scenarios not run this time are kept), ``docs/benchmarks/
<scenario>.png``, and with ``--markdown`` the sections of
docs/benchmarks.md between ``<!-- <scenario>:start -->`` and ``:end -->``
(and scenario (g), peak RSS and CPU s/GiB of every client, between
``<!-- resources:start -->`` and ``:end -->``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "benchmarks.md"
OUT = REPO / "docs" / "benchmarks"
sys.path.insert(0, str(HERE))

from peers import (DEFAULT_VENV, Series, ensure_peer_venv, package_version,  # noqa: E402
                   run_worker)

SCENARIOS = ["big_read", "small_objects", "tar_epoch", "ckpt", "list", "model_load"]
EXTRA_SCENARIOS = ["servers"]   # not part of "all"
RECORD_NAMES = {"ckpt": ["ckpt_save", "ckpt_load"]}   # option -> its records' scenarios
# --variant cloud: the scenarios that may run through the delay proxy, and those of "all"
CLOUD_SCENARIOS, CLOUD_ALL = ["big_read", "small_objects", "tar_epoch", "list"], \
    ["big_read", "small_objects"]
TITLES = {"servers": "server GET ceilings: 16 parallel ranged curl, one object",
          "big_read": "big_read: one object, sequential readinto",
          "small_objects": "small_objects: DataLoader epoch over small objects",
          "tar_epoch": "tar_epoch: DataLoader epoch over one indexed tar",
          "ckpt_save": "ckpt_save: torch.save of a state dict into the store",
          "ckpt_load": "ckpt_load: torch.load of a state dict out of the store",
          "list": "list: keys under one prefix",
          "model_load": "model_load: time until every tensor is loaded"}
BUCKET, DOMAIN, REGION = "bench", "runbench.test", "cn-hangzhou"
GiB = 1 << 30

BIG_READ_CLIENTS = {
    "ours": (False, "Client.open(uri).readinto(buffer), profile model (16x16, 8 MiB parts)"),
    "osstorchconnector": (True, "product binary: OssCheckpoint.reader(uri).readinto(buffer)"),
    "s3torchconnector": (True, "S3Checkpoint(force_path_style).reader(uri).readinto(buffer)"),
    "oss2": (False, "16 threads x ranged get_object().read() into buffer"),
    "boto3": (False, "get_object() Body.read(8 MiB) into buffer, one stream"),
    "s3fs_fuse": (False, "s3fs-fuse mount: open(path).readinto(buffer) in 8 MiB calls"),
}
MOUNT_SCENARIOS = ("big_read", "small_objects")   # where s3fs_fuse runs (model_load: its own)
LIST_CLIENTS = {
    "ours": ("ours", False, "Client.list(uri): ListObjectsV2 pages of 1,000 in turn"),
    "ours_fast": ("ours", False, "Client.list(uri, fast=True): key space listed concurrently"),
    "oss2": ("oss2", False, "ObjectIteratorV2(max_keys=1000)"),
    "boto3": ("boto3", False, "list_objects_v2 paginator, PageSize 1000"),
    "osstorchconnector": ("osstorchconnector", True, "product binary: OssClient.list_objects"),
}


# ------------------------------------------------------------------ helpers

def file_sum(path: Path) -> str:
    import numpy as np

    a = np.memmap(path, dtype=np.uint8, mode="r")
    n = a.size - a.size % 8
    total = int(a[:n].view(np.uint64).sum(dtype=np.uint64))
    tail = bytes(a[n:])
    if tail:
        total = (total + int.from_bytes(tail + b"\0" * (8 - len(tail)), "little")) % (1 << 64)
    return str(total)


def write_random(path: Path, size: int, seed: int = 3) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start in range(0, size, 64 << 20):
            f.write(rng.bytes(min(64 << 20, size - start)))


def make_server(kind: str, root: Path):
    from servers import LocalBucket, SeaweedFS

    if kind == "localbucket":
        return LocalBucket(root, domain=DOMAIN)
    return SeaweedFS(root.parent / "seaweedfs-data", domain=DOMAIN)


def upload_tree(server, root: Path) -> None:
    """Copies every file under root/BUCKET into a server that does not serve
    the folder itself (SeaweedFS), with the engine's async PUTs."""
    from concurrent.futures import ThreadPoolExecutor

    from ossconnector import Client

    server.create_bucket(BUCKET)
    base = root / BUCKET
    files = [p for p in base.rglob("*") if p.is_file()]
    with Client(server.endpoint, profile="checkpoint") as c:
        def put(p):
            c.put(f"oss://{BUCKET}/{p.relative_to(base).as_posix()}", p.read_bytes())
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(put, files))


class Env:
    """What every worker needs: endpoints, credentials, configs, pythons."""

    def __init__(self, server, work: Path, peer_py: str, mount: str | None = None):
        self.server, self.work, self.peer_py = server, work, peer_py
        self.mount = mount   # the bucket's s3fs-fuse mount point, if mounted
        self.cred = work / "credentials.json"
        self.cred.write_text(json.dumps({"AccessKeyId": "bench", "AccessKeySecret": "bench"}))
        self.config = work / "connector.json"
        self.config.write_text(json.dumps({"logPath": str(work / "connector.log"),
                                           "auditPath": ""}))
        self.product_config = work / "product.json"
        self.product_config.write_text(json.dumps({"logLevel": 2,
                                                   "logPath": str(work / "product.log")}))

    def base_spec(self) -> dict:
        return {"endpoint": self.server.endpoint, "bucket": BUCKET, "cred": str(self.cred),
                "config": str(self.config), "product_config": str(self.product_config),
                "vhost_endpoint": f"http://{DOMAIN}:{self.server.port}", "region": REGION}

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSS_", "AWS_", "OSSC_")) and k != "LD_PRELOAD"}
        env.update(OSS_ACCESS_KEY_ID="bench", OSS_ACCESS_KEY_SECRET="bench",
                   AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                   AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        return env

    def run_worker(self, spec: dict, in_venv: bool, timeout: float) -> dict:
        py = self.peer_py if in_venv else sys.executable
        return run_worker([py, str(HERE / "run_worker.py"), json.dumps(spec)], env=self.env(),
                          timeout=timeout)


def rounds(label: str, names: list[str], runs: int, one) -> None:
    for rnd in range(1, runs + 1):
        for name in names:
            one(name, f"{label} {rnd}/{runs}")


# ------------------------------------------------------------------ big_read

def scenario_big_read(env: Env, args, root: Path) -> dict:
    from servers import curl_ceiling

    size = args.size_mib << 20
    key = big_key(args.size_mib)
    want = file_sum(root / BUCKET / key)
    curl = shutil.which("curl") or "/usr/bin/curl"
    series = {"curl": Series("curl", "curl", "16 concurrent ranged curl -o /dev/null, best of "
                             "1 process --parallel and 16 processes (server ceiling)")}
    for name, (_, method) in BIG_READ_CLIENTS.items():
        if (name in args.clients or not args.clients) and (name != "s3fs_fuse" or env.mount):
            series[name] = Series(name, name, method)

    def one(name, label):
        s = series[name]
        if name == "curl":
            try:
                t = curl_ceiling(curl, [(env.server.url(BUCKET, key), size)], 16)
                s.add(t)
                print(f"{label} {name:20s} {size / t / 1e9:6.2f} GB/s", flush=True)
            except RuntimeError as e:
                s.errors.append(str(e))
            return
        spec = {**env.base_spec(), "scenario": "big_read", "client": name, "key": key,
                "size": size, "sum": want, "reads": 1, "mount": env.mount}
        res = env.run_worker(spec, BIG_READ_CLIENTS[name][0], args.timeout)
        if "error" in res:
            s.errors.append(res["error"])
            print(f"{label} {name:20s} FAILED {res['error'][:300]}", flush=True)
            return
        t = res["seconds"][0]
        per_gib = res["cpu_s"][0] / (size / GiB)
        s.add(t, rss=res["rss"], cpu=res["cpu"], cpu_per_gib=per_gib)
        print(f"{label} {name:20s} {size / t / 1e9:6.2f} GB/s (peak RSS "
              f"{res['rss'] / GiB:.2f} GiB, CPU {per_gib:.2f} s/GiB)", flush=True)

    rounds("round", list(series), args.runs, one)
    return {"series": series, "nbytes": size, "unit": "GB/s"}


# ------------------------------------------------------------------ list

def make_list_keys(root: Path, count: int) -> str:
    prefix = f"list{count}/"
    d = root / BUCKET / prefix
    marker = root.parent / f"list{count}.complete"
    if not marker.exists():
        d.mkdir(parents=True, exist_ok=True)
        for i in range(count):   # 2-level keys like a dataset: list/0012/00123456
            sub = d / f"{i // 1000:04d}"
            if i % 1000 == 0:
                sub.mkdir(exist_ok=True)
            (sub / f"{i:08d}").write_bytes(b"x")
        marker.write_text("")
    return prefix


def raw_list(endpoint: str, prefix: str) -> int:
    """Lists like the cheapest possible client: one keep-alive connection,
    ListObjectsV2 pages of 1,000 in turn, keys counted with a regex (the
    server's ceiling for a sequential listing)."""
    import http.client
    import re
    from urllib.parse import quote, urlsplit

    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    token, count = "", 0
    key_re, tok_re = re.compile(rb"<Key>"), re.compile(rb"<NextContinuationToken>([^<]*)<")
    while True:
        q = f"/{BUCKET}/?list-type=2&max-keys=1000&prefix={quote(prefix, safe='')}"
        if token:
            q += f"&continuation-token={quote(token, safe='')}"
        conn.request("GET", q)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"list: HTTP {r.status}")
        count += len(key_re.findall(body))
        m = tok_re.search(body)
        if not m:
            conn.close()
            return count
        token = m.group(1).decode()


def scenario_list(env: Env, args, root: Path, prefix: str, count: int) -> dict:
    series = {"raw_http": Series("raw_http", "raw_http", "one keep-alive connection, "
                                 "ListObjectsV2 pages in turn, keys counted by regex "
                                 "(sequential-listing ceiling)")}
    for name, (client, _, method) in LIST_CLIENTS.items():
        if name in args.clients or not args.clients:
            series[name] = Series(name, client, method)

    def one(name, label):
        s = series[name]
        if name == "raw_http":
            raw_list(env.server.endpoint, prefix)   # warm-up
            t0 = time.perf_counter()
            n = raw_list(env.server.endpoint, prefix)
            t = time.perf_counter() - t0
            if n != count:
                s.errors.append(f"listed {n} keys, expected {count}")
                return
            s.add(t)
            print(f"{label} {name:20s} {t:6.2f} s, {count / t:9,.0f} keys/s", flush=True)
            return
        spec = {**env.base_spec(), "scenario": "list", "client": name, "prefix": prefix,
                "count": count, "reads": 1}
        res = env.run_worker(spec, LIST_CLIENTS[name][1], args.timeout)
        if "error" in res:
            s.errors.append(res["error"])
            print(f"{label} {name:20s} FAILED {res['error'][:300]}", flush=True)
            return
        t = res["seconds"][0]
        s.add(t, rss=res["rss"], cpu=res["cpu"])
        print(f"{label} {name:20s} {t:6.2f} s, {count / t:9,.0f} keys/s", flush=True)

    rounds("round", list(series), args.runs, one)
    return {"series": series, "nbytes": count, "unit": "keys/s"}


# ------------------------------------------------------------------ servers

def scenario_servers(args, work: Path) -> dict:
    """Each server's GET ceiling for one object: 16 concurrent ranged curl
    processes, the servers taking turns in every round."""
    from servers import LocalBucket, Nginx, SeaweedFS, curl_ceiling

    size = args.size_mib << 20
    root = work / "buckets"
    key = f"big/{args.size_mib}mib.bin"
    p = root / BUCKET / key
    if not p.exists() or p.stat().st_size != size:
        write_random(p, size)
        os.sync()
    curl = shutil.which("curl") or "/usr/bin/curl"
    servers = {"nginx": Nginx(root), "localbucket": LocalBucket(root),
               "seaweedfs": SeaweedFS(work / "seaweedfs-data")}
    series = {}
    started = []
    try:
        for name, srv in servers.items():
            srv.start()
            started.append(srv)
            if name == "seaweedfs":
                srv.create_bucket(BUCKET)
                subprocess.run([curl, "-s", "-f", "-X", "PUT", "-T", str(p),
                                srv.url(BUCKET, key), "-o", "/dev/null"], check=True)
            version = srv.version() if name != "nginx" else f"nginx {srv.version()}"
            series[name] = Series(name, "curl", f"{version}: 16 ranged curl, best of "
                                                     "--parallel and 16 processes")
        for rnd in range(1, args.runs + 1):
            for name, srv in servers.items():
                t = curl_ceiling(curl, [(srv.url(BUCKET, key), size)], 16)
                series[name].add(t)
                print(f"round {rnd}/{args.runs} {name:12s} {size / t / 1e9:6.2f} GB/s",
                      flush=True)
    finally:
        for srv in started:
            srv.stop()
    return {"series": series, "nbytes": size, "unit": "GB/s"}


# ------------------------------------------------------------------ output

def section_name(scenario: str, variant: str = "local") -> str:
    """The name of a scenario's plot and docs section: the scenario, with
    the variant appended unless it is the plain local one."""
    return scenario if variant == "local" else f"{scenario}_{variant}"


def rec_section(r: dict) -> str:
    return section_name(r["scenario"], r.get("variant", "local"))


def title(name: str) -> str:
    base = name.removesuffix("_cloud")
    return TITLES.get(base, base) + (" (cloud-like: +5 ms first byte, 1 Gbit/s per "
                                     "connection)" if name.endswith("_cloud") else "")


def to_records(scenario: str, res: dict, server: str, variant: str = "local") -> list[dict]:
    out = []
    n = res["nbytes"]
    series = res["series"]
    ceiling = None
    for ref in ("curl", "raw_http"):
        if ref in series and series[ref].seconds:
            ceiling = n / series[ref].median() / (1e9 if res["unit"] == "GB/s" else 1)
    for k, s in series.items():
        if not s.seconds:
            continue
        rates = [n / t / (1e9 if res["unit"] == "GB/s" else 1) for t in s.seconds]
        import statistics

        rec = {"scenario": scenario, "client": s.client, "server": server, "variant": variant,
               "median": statistics.median(rates), "min": min(rates), "max": max(rates),
               "unit": res["unit"], "ceiling": ceiling, "method": s.method, "key": k,
               "runs": len(s.seconds), "peak_rss_bytes": s.med("rss"),
               "cpu_s": s.med("cpu"), "cpu_s_per_gib": s.med("cpu_per_gib")}
        if s.med("MB_per_s"):
            rec["MB_per_s"] = s.med("MB_per_s")
        out.append(rec)
    return out


def table(records: list[dict], series: dict, markdown: bool) -> str:
    ours = {}   # per scenario: ours' best median (several ways of ours in some scenarios)
    for r in records:
        if r["client"] == "ours":
            ours[r["scenario"]] = max(ours.get(r["scenario"], 0), r["median"])
    head = ["client", "method", "median", "min", "max", "unit", "÷ ceiling", "ours ÷ this",
            "peak RSS GiB", "CPU s/GiB"]
    rows = []
    for r in records:
        ceil = r["ceiling"]
        o = ours.get(r["scenario"])
        rows.append([r["client"] + ("" if r["key"] in (r["client"],) else f" ({r['key']})"),
                     r["method"], f"{r['median']:,.2f}" if r["unit"] == "GB/s"
                     else f"{r['median']:,.0f}",
                     f"{r['min']:,.2f}" if r["unit"] == "GB/s" else f"{r['min']:,.0f}",
                     f"{r['max']:,.2f}" if r["unit"] == "GB/s" else f"{r['max']:,.0f}",
                     r["unit"], f"{r['median'] / ceil:.2f}" if ceil else "-",
                     f"{o / r['median']:.2f}" if o else "-",
                     f"{r['peak_rss_bytes'] / GiB:.2f}" if r.get("peak_rss_bytes") else "",
                     f"{r['cpu_s_per_gib']:.2f}" if r.get("cpu_s_per_gib") else ""])
    for k, s in series.items():
        if not s.seconds:
            rows.append([f"{s.client} ({k})", s.method, "failed", "", "", "", "", "", "",
                         "; ".join(dict.fromkeys(e[:200] for e in s.errors))])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    w = [max(len(h), *(len(r[i][:70]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{x}}}" for i, x in enumerate(w))
    return "\n".join([fmt.format(*head)] + [fmt.format(*(c[:70] for c in r)) for r in rows])


def plot(records: list[dict], scenario: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if rec_section(r) == scenario]
    if not recs:
        return
    labels = [r["client"] if r["key"] == r["client"] else f"{r['client']}\n({r['key']})"
              for r in recs]
    med = [r["median"] for r in recs]
    lo = [r["median"] - r["min"] for r in recs]
    hi = [r["max"] - r["median"] for r in recs]
    colors = ["tab:green" if r["client"] == "ours" else
              "tab:gray" if r["client"] in ("curl", "local_disk", "raw_http") else "tab:blue"
              for r in recs]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(recs) + 1.6))
    y = range(len(recs))
    ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    unit = recs[0]["unit"]
    ax.set_xlabel(f"{unit} (median of runs, bars: min-max)"
                  + ("; lower is better" if unit == "s" else "; higher is better"))
    ax.set_title(title, fontsize=10)
    for i, (m, r) in enumerate(zip(med, recs)):
        ax.text(r["max"], i, f"  {m:,.2f}" if unit != "keys/s" else f"  {m:,.0f}",
                va="center", fontsize=7)
    by_key = {r["key"]: r["median"] for r in recs}
    if scenario == "model_load" and "local_disk" in by_key and "curl" in by_key:
        fw = by_key["local_disk"] + by_key["curl"]
        ax.axvline(fw, color="black", ls="--", lw=1, label=f"floor + wire {fw:.2f} s")
        ax.axvline(1.3 * fw, color="red", ls=":", lw=1, label=f"target 1.3 x {1.3 * fw:.2f} s")
        if "curl_ram" in by_key:
            flw = by_key["local_disk"] + by_key["curl_ram"]
            ax.axvline(flw, color="grey", ls="-.", lw=1,
                       label=f"floor + wire into memory {flw:.2f} s")
        ax.legend(fontsize=7, loc="lower right")
    elif recs[0].get("ceiling"):
        ax.axvline(recs[0]["ceiling"], color="black", ls="--", lw=1,
                   label="server ceiling (median)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge_results(path: Path, new: list[dict], scenarios: set[str]) -> list[dict]:
    old = []
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = []
    keep = [r for r in old if rec_section(r) not in scenarios]
    out = keep + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def machine(server_version: str, peer_py: str) -> dict:
    from report import machine_basics

    import ossconnector

    return {**machine_basics(), "server": server_version,
            "ossconnector": ossconnector.__version__,
            "osstorchconnector (product)": package_version(peer_py, "osstorchconnector"),
            "s3torchconnector": package_version(peer_py, "s3torchconnector"),
            "oss2": package_version(sys.executable, "oss2"),
            "boto3": package_version(sys.executable, "boto3")}


def section(scenario: str, m: dict, command: str, text_table: str, runs: int,
            what: str, notes: list[str]) -> str:
    clients = "" if scenario == "servers" else (
        f"; ossconnector {m['ossconnector']}, osstorchconnector (product) "
        f"{m['osstorchconnector (product)']}, s3torchconnector {m['s3torchconnector']}, "
        f"oss2 {m['oss2']}, boto3 {m['boto3']}")
    rounds_ = ("(the servers take turns in every round)" if scenario == "servers" else
               "(every client once per round, in a fresh process)")
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
             f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}; server {m['server']} "
             f"on 127.0.0.1{clients}; Python {m['python']}. Load average at "
             f"start: {m['load_average_at_start']}.", "", what + f" Median of {runs} rounds "
             f"{rounds_}, min and max beside it.", "",
             "```", command, "```", "", text_table, "", f"![{scenario}](benchmarks/{scenario}.png)"]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


# ------------------------------------------------------------------ one server, many scenarios

def prepare_data(args, others: list[str], root: Path, peer_py: str) -> dict:
    """Writes what the scenarios read into ``root/<bucket>`` (kept with
    --workdir while the sizes match): {"prefix", "datasets"}."""
    out = {"prefix": "", "datasets": None}
    if "big_read" in others:
        p = root / BUCKET / big_key(args.size_mib)
        if not p.exists() or p.stat().st_size != args.size_mib << 20:
            write_random(p, args.size_mib << 20)
            os.sync()
    if "list" in others:
        out["prefix"] = make_list_keys(root, args.keys)
    if {"small_objects", "tar_epoch"} & set(others):
        import run_datasets

        out["datasets"] = run_datasets.prepare(root, args.objects, args.object_kib << 10,
                                               peer_py)
    return out


def big_key(size_mib: int) -> str:
    return "big/1gib.bin" if size_mib == 1024 else f"big/{size_mib}mib.bin"


def run_scenario(sc: str, env: Env, args, root: Path, data: dict) -> list[tuple]:
    """Runs one scenario option; [(records' scenario, res, what, notes)]
    (the ckpt option gives two)."""
    if sc == "big_read":
        return [(sc, scenario_big_read(env, args, root),
                 f"One object of {args.size_mib} MiB read whole, sequentially, into a "
                 "preallocated buffer (data checked after every read). Peak RSS is the "
                 "worker's (the buffer is the object's size); CPU s/GiB is the timed read's "
                 "(every thread of the process, not the start-up nor the warm-up read).", [])]
    if sc == "list":
        return [(sc, scenario_list(env, args, root, data["prefix"], args.keys),
                 f"Listing {args.keys:,} keys under one prefix (count and distinctness "
                 "checked).", [])]
    if sc in ("small_objects", "tar_epoch"):
        import run_datasets

        spec = data["datasets"]
        shape = (f"{spec['objects']:,} objects of {spec['size'] // 1024} KiB" if
                 sc == "small_objects" else f"one tar of the same {spec['objects']:,} files "
                 "(with its index)")
        return [(sc, run_datasets.scenario(env, args, spec, sc, env.mount),
                 f"One DataLoader epoch over {shape}; every item checked (each once, every "
                 "byte). Rates are items per second.", run_datasets.notes(spec))]
    import run_checkpoint

    import checkpoint

    res = run_checkpoint.scenario(env, args)
    what = run_checkpoint.what(args, res["ckpt_save"]["nbytes"])
    failed = [k for k, s in res["ckpt_save"]["series"].items() if s.errors]
    notes = [f"{k} failed{checkpoint.KNOWN_FAILURES.get(k, '')}" for k in failed]
    return [(name, r, what, notes) for name, r in res.items()]


def server_groups(args, others: list[str]) -> dict[str, list[str]]:
    """Which server each scenario runs on: ``--server``, but ckpt always on
    SeaweedFS (the clients' multipart uploads fail on localbucket)."""
    groups: dict[str, list[str]] = {}
    for sc in others:
        groups.setdefault("seaweedfs" if sc == "ckpt" else args.server, []).append(sc)
    return groups


def server_scenarios(args, others: list[str], command: str, kind: str) -> list[dict]:
    """Scenarios run on one full-API server of ``kind`` (all but model_load
    and servers): data, server, /etc/hosts, rounds, records, and with
    --markdown their sections of docs/benchmarks.md."""
    from servers import HostsEntry

    peer_py = ensure_peer_venv(args.peer_venv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "buckets"
    records = []
    try:
        data = prepare_data(args, others, root, peer_py)
        server = make_server(kind, root)
        with server, HostsEntry(f"{BUCKET}.{DOMAIN}", DOMAIN):
            if kind != "localbucket":
                server.create_bucket(BUCKET)
                if set(others) - {"ckpt"}:
                    upload_tree(server, root)
            with front_of(server, args.variant) as front, \
                    maybe_mount(args, others, front, work) as mount:
                env = Env(front, work, peer_py, mount and str(mount.path))
                mach = machine(front.version(), peer_py)
                mach["s3fs"] = mount.version() if mount else "not mounted"
                print(json.dumps(mach), flush=True)
                for sc in others:
                    for name, res, what, notes in run_scenario(sc, env, args, root, data):
                        recs = to_records(name, res, front.version(), args.variant)
                        records += recs
                        publish(section_name(name, args.variant), recs, res, mach, command,
                                what, notes + variant_notes(args.variant), args)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return records


def front_of(server, variant: str):
    """What the clients talk to: the server itself, or for ``cloud`` the
    delay proxy in front of it (5 ms to the first byte of each response,
    1 Gbit/s per connection); a context manager."""
    import contextlib

    if variant != "cloud":
        return contextlib.nullcontext(server)
    from delay_proxy import DelayProxy

    return DelayProxy(server, delay_ms=5, rate_mbit=1000)


def variant_notes(variant: str) -> list[str]:
    if variant != "cloud":
        return []
    return ["Cloud-like variant: every request goes through `scripts/bench/delay_proxy.py`, "
            "which holds the first byte of each response until 5 ms after the request and "
            "paces each connection to 1 Gbit/s each way. A client's rate is then bounded by "
            "how many requests it keeps in flight: one stream gets at most 125 MB/s, small "
            "objects cost 5 ms each per connection. The proxy is one Python process: the "
            "curl row, measured through it, is the ceiling of the whole path."]


def maybe_mount(args, others: list[str], server, work: Path):
    """The bucket mounted with s3fs-fuse for the s3fs_fuse client, when a
    scenario of ``others`` has it and --clients does not leave it out; a
    context manager giving the mount or None."""
    import contextlib

    if (args.clients and "s3fs_fuse" not in args.clients) or args.no_s3fs \
            or not set(others) & set(MOUNT_SCENARIOS):
        return contextlib.nullcontext(None)
    from s3fs_mount import S3fsMount

    return S3fsMount(server.endpoint, BUCKET, work)


def publish(name: str, recs: list[dict], res: dict, mach: dict, command: str, what: str,
            notes: list[str], args) -> None:
    """Prints a scenario's table; with --markdown (not --quick) writes its
    section of docs/benchmarks.md."""
    print(table(recs, res["series"], markdown=False), flush=True)
    if args.markdown and not args.quick:
        from report import replace_section

        replace_section(DOC, f"<!-- {name}:start -->", f"<!-- {name}:end -->",
                        section(name, mach, command, table(recs, res["series"], True),
                                args.runs, what, notes), "Benchmarks")


# ------------------------------------------------------------------ main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", choices=SCENARIOS + EXTRA_SCENARIOS + ["all"], default="all")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=1024, help="big_read object size")
    p.add_argument("--keys", type=int, default=100_000, help="list: number of keys")
    p.add_argument("--size-gib", type=float, default=4.0, help="model_load model size")
    p.add_argument("--model-runs", type=int, default=3, help="model_load rounds")
    p.add_argument("--objects", type=int, default=20_000,
                   help="small_objects/tar_epoch: number of objects")
    p.add_argument("--object-kib", type=int, default=100, help="small_objects: object size")
    p.add_argument("--ckpt-gib", type=float, default=2.0, help="ckpt: state dict size")
    p.add_argument("--clients", default="",
                   help="comma-separated subset of client names (big_read, list, ...)")
    p.add_argument("--server", choices=["localbucket", "seaweedfs"], default="localbucket")
    p.add_argument("--variant", choices=["local", "cloud"], default="local",
                   help="cloud: through delay_proxy.py (+5 ms first byte, 1 Gbit/s per "
                        "connection); big_read and small_objects (tar_epoch, list on request)")
    p.add_argument("--no-s3fs", action="store_true",
                   help="leave out the s3fs_fuse client (no FUSE mount)")
    p.add_argument("--peer-venv", default=DEFAULT_VENV)
    p.add_argument("--workdir", help="keep data here between runs (default: temporary)")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--quick", action="store_true",
                   help="64 MiB, 5,000 keys, 2,000 objects, 256 MiB state dict, 512 MiB "
                        "model, 1 run, results not written to docs/ unless --results is given")
    p.add_argument("--results", help="results.json path (default docs/benchmarks/results.json)")
    p.add_argument("--markdown", action="store_true",
                   help="also rewrite the scenarios' sections of docs/benchmarks.md")
    p.add_argument("--replot", action="store_true",
                   help="only redraw the PNGs from the results file, run nothing")
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.model_runs, a.size_mib, a.keys, a.size_gib = 1, 1, 64, 5000, 0.5
        a.objects, a.ckpt_gib = 2000, 0.25
    a.clients = [c for c in a.clients.split(",") if c]
    return a


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    argv_ = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python3", os.path.relpath(__file__, REPO), *argv_])
    scenarios = SCENARIOS if args.scenario == "all" else [args.scenario]
    scenarios = [s for s in SCENARIOS + EXTRA_SCENARIOS if s in scenarios]   # in this order
    if args.variant == "cloud":
        allowed = CLOUD_ALL if args.scenario == "all" else CLOUD_SCENARIOS
        if not set(scenarios) & set(allowed):
            sys.exit(f"--variant cloud runs {', '.join(CLOUD_SCENARIOS)} only")
        scenarios = [s for s in scenarios if s in allowed]
    results_path = Path(args.results) if args.results else (
        None if args.quick else OUT / "results.json")
    plots_dir = results_path.parent if results_path else None
    if args.replot:
        recs = json.loads((results_path or OUT / "results.json").read_text())
        for sc in dict.fromkeys(rec_section(r) for r in recs):
            plot(recs, sc, (plots_dir or OUT) / f"{sc}.png", title(sc))
        return 0
    from servers import ensure_pip

    for module, package in (("matplotlib", "matplotlib"), ("oss2", "oss2"), ("boto3", "boto3"),
                            ("safetensors", "safetensors"), ("crcmod", "crcmod")):
        ensure_pip(module, package)
    all_records: list[dict] = []
    done: set[str] = set()
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()} at the start: other work on this "
              "machine lowers and scatters the numbers", file=sys.stderr)

    if "model_load" in scenarios:
        import model_load

        ml_argv = ["--size-gib", str(args.size_gib), "--runs", str(args.model_runs),
                   "--server", args.server, "--peer-venv", args.peer_venv]
        if args.workdir:
            ml_argv += ["--workdir", str(Path(args.workdir) / "model_load")]
        ml_args = model_load.parse_args(ml_argv)
        doc = model_load.run(ml_args, command + "  # scenario model_load")
        print(model_load.format_table(doc["rows"], markdown=False))
        print(json.dumps(doc["summary"], indent=1))
        all_records += doc["records"]
        done.add("model_load")
        if args.markdown and not args.quick:
            from report import replace_section

            replace_section(DOC, model_load.MARK_START, model_load.MARK_END,
                            model_load.markdown_section(doc, doc["rows"], doc["summary"]),
                            "Benchmarks")

    if "servers" in scenarios:
        work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-run-"))
        try:
            res = scenario_servers(args, work)
        finally:
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)
        recs = to_records("servers", res, "")
        for r in recs:
            r["server"] = r["key"]
            r["ceiling"] = None
        all_records += recs
        done.add("servers")
        print(table(recs, res["series"], markdown=False), flush=True)
        if args.markdown and not args.quick:
            from report import replace_section

            mach = machine("nginx, localbucket + OSS adapter, SeaweedFS", sys.executable)
            replace_section(DOC, "<!-- servers:start -->", "<!-- servers:end -->",
                            section("servers", mach, command, table(recs, res["series"], True),
                                    args.runs, f"GET of one {args.size_mib} MiB object with 16 "
                                    "concurrent ranged curl transfers (-o /dev/null; the "
                                    "faster of one curl --parallel process and 16 processes).", []),
                            "Benchmarks")

    others = [s for s in scenarios if s not in ("model_load", "servers")]
    if others:
        for kind, group in server_groups(args, others).items():
            all_records += server_scenarios(args, group, command, kind)
        done.update(section_name(n, args.variant) for sc in others
                    for n in RECORD_NAMES.get(sc, [sc]))

    if results_path:
        merged = merge_results(results_path, all_records, done)
        for sc in done:
            plot(merged, sc, plots_dir / f"{sc}.png", title(sc))
        print(f"wrote {results_path} and plots in {plots_dir}")
        if args.markdown and not args.quick:
            from report import replace_section

            replace_section(DOC, "<!-- resources:start -->", "<!-- resources:end -->",
                            resources_table(merged), "Benchmarks")
    return 0


RESOURCE_SCENARIOS = ("big_read", "ckpt_save", "ckpt_load", "model_load")


def resources_table(records: list[dict]) -> str:
    """Scenario (g): peak RSS and CPU seconds per GiB of every client in the
    scenarios that move GiBs, from the results file (each row as measured
    in its scenario's last run)."""
    lines = ["| scenario | client | method | peak RSS GiB | CPU s/GiB | server |",
             "|---|---|---|---:|---:|---|"]
    for r in records:
        if r["scenario"] not in RESOURCE_SCENARIOS or not r.get("peak_rss_bytes"):
            continue
        client = r["client"] if r["key"] == r["client"] else f"{r['client']} ({r['key']})"
        cpu = f"{r['cpu_s_per_gib']:.2f}" if r.get("cpu_s_per_gib") else "-"
        lines.append(f"| {r['scenario']} | {client} | {r['method']} | "
                     f"{r['peak_rss_bytes'] / GiB:.2f} | {cpu} | {r['server']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted")
