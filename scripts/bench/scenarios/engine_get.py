#!/usr/bin/env python3
"""GET throughput of the engine (ossconnector) vs oss2 vs curl on one local server.

Workloads: one large object (default 1 GiB) and many small objects (default
2,000 x 100 KiB), served by nginx on 127.0.0.1 from a temporary directory
(page cache warm, loopback).  The engine computes the CRC-64 of every read
that starts at offset 0 either way; with ``--crc-header`` nginx also sends
``x-oss-hash-crc64ecma`` as OSS does, so the engine and oss2
(``enable_crc=True``) compare it as they would against OSS.  wrk, when it
can be installed, gives the server's request ceiling for the small objects.

Every way of reading is run once untimed (warm-up), then ``--runs`` times;
the median, minimum and maximum throughput are reported, with the ratio of
each result to the best curl and the best oss2 result of its workload.  The
data every run read is compared with the files, so wrong data fails the run
instead of producing a number.  The cases themselves are in engine_get_cases.py.

    python3 scripts/bench/run.py --scenario engine_get            # full size, 5 runs
    python3 scripts/bench/run.py --scenario engine_get --quick    # smoke run (< 60 s)
    python3 scripts/bench/run.py --scenario engine_get --json out.json --markdown
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # scripts/bench
MARK_START, MARK_END = "<!-- engine_get:start -->", "<!-- engine_get:end -->"
WORKLOADS = {"large": "large object", "small": "small objects"}


def ensure_python_packages() -> None:
    """Installs oss2, numpy and crcmod with pip when missing; ossconnector
    itself must have been built from this repository."""
    missing = [name for name in ("oss2", "numpy", "crcmod")
               if importlib.util.find_spec(name) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    if importlib.util.find_spec("ossconnector") is None:
        raise SystemExit("ossconnector is not installed: run `make build` first")


ensure_python_packages()
from infra import DOC, REPO  # noqa: E402

import numpy as np  # noqa: E402
import oss2  # noqa: E402

from scenarios.engine_get_cases import (Case, OursLarge, OursSmallAsync, Oss2Ranged, ThreadedSmall,  # noqa: E402
                   WholeObjectBytes, WrkCase, curl_large_parallel, curl_large_processes,
                   curl_small_parallel, curl_small_processes, require)
from infra.data import Dataset, make_dataset  # noqa: E402
from ossconnector import Client  # noqa: E402
from report import (Result, add_output_args, format_table, machine_description,  # noqa: E402
                    ratios, to_json, write_outputs)
from infra.servers import Nginx, ensure_tool  # noqa: E402

# Engine configurations tried for each workload: label -> (profile, config.json).
# "AxB" is I/O threads x transfers per thread.  The built-in defaults first,
# then settings sized for this kind of machine.
LARGE_CONFIGS = {
    "model 16x16 (defaults), 8 MiB parts": ("model", {}),
    "model 4x4, 16 MiB parts": (
        "model", {"prefetch": {"vcpus": 4, "workers": 4}, "http": {"partSize": 16 << 20}}),
}
SMALL_CONFIGS = {
    "dataset 2x24 (defaults)": ("dataset", {}),
    "dataset 2x64": (
        "dataset", {"datasetConfig": {"prefetchWorker": 2, "prefetchConcurrency": 64}}),
}
# ------------------------------------------------------------------ clients

def engine_client(endpoint: str, workdir: Path, profile: str, config: dict) -> Client:
    """A Client with ``config`` (logs to the work directory, no audit log)."""
    fd, path = tempfile.mkstemp(prefix="engine-", suffix=".json", dir=workdir)
    os.close(fd)
    path = Path(path)
    path.write_text(json.dumps({"logPath": str(workdir / "engine.log"), "auditPath": "",
                                **config}))
    return Client(endpoint, config_path=str(path), profile=profile)


def oss2_bucket(endpoint: str, ds: Dataset, enable_crc: bool, pool: int) -> oss2.Bucket:
    auth = oss2.Auth(os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"])
    return oss2.Bucket(auth, endpoint, ds.bucket, enable_crc=enable_crc,
                       session=oss2.Session(pool_size=pool))


def large_cases(server: Nginx, ds: Dataset, curl: str, workdir: Path, clients: list,
                buf: np.ndarray) -> list[Case]:
    url, size = server.url(ds.bucket, ds.big_key), ds.big_size
    cases: list[Case] = [curl_large_processes(curl, url, size, 16),
                         curl_large_parallel(curl, url, size, 16, workdir)]
    for i, (name, (profile, config)) in enumerate(LARGE_CONFIGS.items()):
        c = engine_client(server.endpoint, workdir, profile, config)
        clients.append(c)
        cases.append(OursLarge(c, ds, buf, name))
        if i == 0:
            cases.append(WholeObjectBytes("ours", f"Client.get() -> bytes [{name}]",
                                          lambda c=c: c.get(ds.uri(ds.big_key)), ds))
            cases.append(OursLarge(c, ds, buf, name, offset=1))
    for crc in (False, True):
        bucket = oss2_bucket(server.endpoint, ds, crc, 4)
        cases.append(WholeObjectBytes(
            "oss2", f"get_object().read(), one stream, enable_crc={crc}",
            lambda b=bucket: b.get_object(ds.big_key).read(), ds))
    cases.append(Oss2Ranged(oss2_bucket(server.endpoint, ds, False, 16), ds, buf, 16))
    return cases


def small_cases(server: Nginx, ds: Dataset, tools: dict, workdir: Path, clients: list,
                args: argparse.Namespace) -> list[Case]:
    urls = [server.url(ds.bucket, k) for k in ds.small_keys]
    size, threads, curl = ds.small_size, args.threads, tools["curl"]
    buf = np.zeros(ds.small_total, np.uint8)
    cases: list[Case] = [curl_small_parallel(curl, urls, size, 64, workdir),
                         curl_small_processes(curl, urls, size, 16, workdir)]
    if tools.get("wrk"):
        cases.append(WrkCase(tools["wrk"], server.endpoint, ds, workdir, 1 if args.quick else 2))
    for name, (profile, config) in SMALL_CONFIGS.items():
        c = engine_client(server.endpoint, workdir, profile, config)
        clients.append(c)
        cases.append(OursSmallAsync(c, ds, buf, name))

        def read_one(key, view, c=c):
            with c.open(ds.uri(key), size=size) as reader:
                require(reader.readinto(view) == size, f"{key}: short read")

        cases.append(ThreadedSmall("ours", f"{threads} threads x open(size=).readinto() [{name}]",
                                   ds, buf, threads, read_one))
    bucket = oss2_bucket(server.endpoint, ds, False, threads)

    def oss2_one(key, view):
        data = bucket.get_object(key).read()
        require(len(data) == size, f"oss2 {key}: got {len(data)} bytes")
        view[:] = np.frombuffer(data, np.uint8)

    cases.append(ThreadedSmall("oss2", f"{threads} threads x get_object().read(), "
                               "enable_crc=False", ds, buf, threads, oss2_one))
    return cases


# ------------------------------------------------------------------- running

def measure(case: Case, runs: int) -> Result:
    """One untimed warm-up run, then ``runs`` timed runs; every run's data
    is checked."""
    result = case.result()
    for i in range(runs + 1):
        case.reset()
        start = time.perf_counter()
        reported = case.run()
        elapsed = time.perf_counter() - start if reported is None else reported
        case.check()
        if i:
            result.seconds.append(elapsed)
    rates = result.gbps()
    print(f"  {case.client:4} {case.method}: median {result.median_gbps():.2f} GB/s "
          f"(min {min(rates):.2f}, max {max(rates):.2f})", flush=True)
    return result


def run_all(cases: list[Case], runs: int) -> list[Result]:
    results = []
    try:
        for case in cases:
            results.append(measure(case, runs))
    finally:
        for case in cases:
            case.close()
    return results


def optional_tool(name: str, package: str) -> Optional[str]:
    """Like ensure_tool, but None (with a note) when it cannot be had."""
    try:
        return ensure_tool(name, package)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"note: {name} unavailable ({e}); its measurement is skipped", file=sys.stderr)
        return None


def engine_warnings(workdir: Path) -> list[str]:
    log = workdir / "engine.log"
    if not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines()
            if " WARN" in line or " ERROR" in line]


# ------------------------------------------------------------------ reporting

def _config_lines() -> list[str]:
    lines = []
    for workload, configs in (("large", LARGE_CONFIGS), ("small", SMALL_CONFIGS)):
        for name, (profile, config) in configs.items():
            lines.append(f"- {WORKLOADS[workload]}, `{name}`: `profile=\"{profile}\"`, "
                         f"config `{json.dumps(config)}`")
    return lines


def markdown_section(doc: dict, results: list[Result], params: dict) -> str:
    m = doc["machine"]
    summary = ratios(results)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}; nginx {m['nginx']}; "
        f"{m['curl'].split(' (')[0]}; oss2 {m['oss2']}; ossconnector {m['ossconnector']}; "
        f"Python {m['python']}. Load average at start: {m['load_average_at_start']}.",
        "",
        f"Workloads: large = one object of {params['size_mib']} MiB; small = "
        f"{params['small_count']:,} objects of {params['small_kib']} KiB. "
        f"Median of {params['runs']} timed run(s) after one warm-up run (min and max beside "
        f"it); files {'locked' if params.get('page_cache_pinned') else 'read once'} in the "
        f"page cache; x-oss-hash-crc64ecma {'served' if params['crc_header'] else 'not served'}.",
        "",
        "```",
        doc["command"],
        "```",
        "",
        format_table(results, WORKLOADS, markdown=True),
        "",
    ]
    for workload, r in summary.items():
        if "ours_over_curl" not in r:
            continue
        verdict = "meets" if r["ours_over_curl"] >= 0.9 else "does not meet"
        line = (f"- {WORKLOADS[workload]}: best ours / best curl = {r['ours_over_curl']:.2f} "
                f"({verdict} the 0.90 target)")
        for other in ("oss2", "wrk"):
            if f"ours_over_{other}" in r:
                line += f"; best ours / best {other} = {r[f'ours_over_{other}']:.2f}"
        lines.append(line + ".")
    lines += ["", "Engine configurations:", "", *_config_lines()]
    return "\n".join(lines)


# ---------------------------------------------------------------------- main

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-mib", type=int, default=1024, help="large object size (MiB)")
    p.add_argument("--small-count", type=int, default=2000, help="number of small objects")
    p.add_argument("--small-kib", type=int, default=100, help="small object size (KiB)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per measurement")
    p.add_argument("--threads", type=int, default=32,
                   help="Python threads for the small-object thread-pool readers")
    p.add_argument("--crc-header", action="store_true",
                   help="serve x-oss-hash-crc64ecma like OSS (clients then verify it)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 MiB, 200 objects, 1 run")
    add_output_args(p, DOC.relative_to(REPO), MARK_START, MARK_END)
    args = p.parse_args(argv)
    if args.quick:
        args.size_mib, args.small_count, args.runs = 64, 200, 1
    return args


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds, so nginx and the temporary files go too


def main(argv=None, command: str | None = None) -> int:
    args = parse_args(argv)
    command = command or shlex.join(["python3", "scripts/bench/run.py", "--scenario", "engine_get",
                         *(sys.argv[1:] if argv is None else argv)])
    os.environ.setdefault("OSS_ACCESS_KEY_ID", "bench")  # nginx ignores authentication
    os.environ.setdefault("OSS_ACCESS_KEY_SECRET", "bench")
    tools = {"curl": ensure_tool("curl", "curl"), "wrk": optional_tool("wrk", "wrk")}
    params = {k: getattr(args, k) for k in ("size_mib", "small_count", "small_kib", "runs",
                                            "threads", "crc_header")}
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()} before the start: other work on this "
              "machine will lower and scatter the numbers", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-engine-get-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        t0 = time.perf_counter()
        ds = make_dataset(workdir / "data", big_size=args.size_mib << 20,
                          small_count=args.small_count, small_size=args.small_kib << 10,
                          with_crc=args.crc_header)
        print(f"data written in {time.perf_counter() - t0:.1f} s", flush=True)
        crc_by_path = {f"/{ds.bucket}/{key}": crc for key, crc in ds.crc64.items()}
        clients: list[Client] = []
        with ds.pin_in_page_cache() as pin, Nginx(ds.root, crc64=crc_by_path) as server:
            params["page_cache_pinned"] = pin.locked
            machine = machine_description(server.version(), tools["curl"])
            print(json.dumps(machine, indent=1), flush=True)
            try:
                buf = np.zeros(ds.big_size, np.uint8)
                print(f"large object ({args.size_mib} MiB):", flush=True)
                results = run_all(large_cases(server, ds, tools["curl"], workdir, clients, buf),
                                  args.runs)
                del buf
                print(f"small objects ({args.small_count} x {args.small_kib} KiB):", flush=True)
                results += run_all(small_cases(server, ds, tools, workdir, clients, args),
                                   args.runs)
            finally:
                for c in clients:
                    c.close()
        warnings = engine_warnings(workdir)
    print()
    print(format_table(results, WORKLOADS))
    for line in warnings[:20]:
        print("engine:", line)
    doc = to_json(machine, command, params, results)
    print(json.dumps(doc["ratios"], indent=1))
    write_outputs(args, doc, DOC, MARK_START, MARK_END,
                  lambda: markdown_section(doc, results, params))
    return 0


if __name__ == "__main__":
    from infra import run_main

    run_main(main)
