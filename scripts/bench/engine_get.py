#!/usr/bin/env python3
"""GET throughput of the engine (ossconnector) vs oss2 vs curl on one local server.

Workloads: one large object (default 1 GiB) and many small objects (default
2,000 x 100 KiB), served by nginx on 127.0.0.1 from a temporary directory
(page cache warm, loopback).  The engine computes the CRC-64 of every read
that starts at offset 0 either way; with ``--crc-header`` nginx also sends
``x-oss-hash-crc64ecma`` as OSS does, so the engine and oss2
(``enable_crc=True``) compare it as they would against OSS.

Every way of reading is run once untimed (warm-up), then ``--runs`` times;
the median, minimum and maximum throughput are reported, with the ratio of
each result to the best curl and the best oss2 result of its workload.  The
data every run read is compared with the files, so wrong data fails the run
instead of producing a number.

    python3 scripts/bench/engine_get.py                 # full size, 5 runs
    python3 scripts/bench/engine_get.py --quick         # smoke run (< 60 s)
    python3 scripts/bench/engine_get.py --json out.json --markdown
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "benchmarks.md"
MARK_START, MARK_END = "<!-- engine_get:start -->", "<!-- engine_get:end -->"
WORKLOADS = {"large": "large object", "small": "small objects"}


def ensure_python_packages() -> None:
    """Installs oss2 and numpy with pip when missing; ossconnector itself
    must have been built from this repository."""
    missing = [name for name in ("oss2", "numpy", "crcmod")
               if importlib.util.find_spec(name) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    if importlib.util.find_spec("ossconnector") is None:
        raise SystemExit("ossconnector is not installed: run `make build` first")


ensure_python_packages()
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import oss2  # noqa: E402

from ossconnector import Client  # noqa: E402
from ossconnector._native import check as check_native, ffi, lib, new_error  # noqa: E402

from dataset import Dataset, make_dataset  # noqa: E402
from report import (Result, format_table, machine_description, ratios,  # noqa: E402
                    replace_section, to_json)
from servers import Nginx, ensure_tool  # noqa: E402

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
CURL_WRITE_OUT = "%{http_code} %{size_download}\\n"


class BenchError(RuntimeError):
    """A client read wrong data or failed: no number is reported for it."""


def require(ok: bool, what: str) -> None:
    if not ok:
        raise BenchError(what)


def same_bytes(got: np.ndarray, want: np.ndarray, chunk: int = 64 << 20) -> bool:
    """Byte-for-byte equality without a full-size temporary array."""
    if got.shape != want.shape:
        return False
    return all(np.array_equal(got[i:i + chunk], want[i:i + chunk])
               for i in range(0, got.size, chunk))


def split_ranges(size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous inclusive byte ranges covering ``size`` bytes."""
    parts = max(1, min(parts, size))
    bounds = [size * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(parts)]


# --------------------------------------------------------------------- cases

class Case:
    """One way of reading one workload.  ``reset`` and ``check`` run before
    and after every run, untimed; only ``run`` is timed."""

    workload = client = method = ""
    nbytes = objects = 0
    diagnostic = False

    def reset(self) -> None:
        pass

    def run(self) -> Optional[float]:
        """Does the work.  A case that runs for a fixed time instead returns
        the seconds its nominal work (``nbytes``, ``objects``) took."""
        raise NotImplementedError

    def check(self) -> None:
        pass

    def close(self) -> None:
        pass

    def result(self) -> Result:
        return Result(self.workload, self.client, self.method, self.nbytes, self.objects,
                      diagnostic=self.diagnostic)


class CurlCase(Case):
    """curl processes started together; the run ends when the last exits.
    Each transfer prints ``<status> <bytes>``, checked against ``expect``."""

    client = "curl"

    def __init__(self, workload: str, method: str, commands: list[list[str]],
                 expect: list[str], nbytes: int, objects: int):
        self.workload, self.method, self.commands = workload, method, commands
        self.expect, self.nbytes, self.objects = sorted(expect), nbytes, objects
        self.outputs: list[tuple[int, str, str]] = []

    def run(self) -> None:
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for cmd in self.commands]
        self.outputs = []
        for p in procs:
            out, err = p.communicate()
            self.outputs.append((p.returncode, out, err))

    def check(self) -> None:
        for rc, _, err in self.outputs:
            require(rc == 0, f"curl exited with {rc}: {err.strip()[:300]}")
        got = sorted(line for _, out, _ in self.outputs for line in out.splitlines() if line)
        require(got == self.expect, f"{self.method}: unexpected statuses or sizes "
                f"({len(got)} transfers, first {got[:2]}, expected {self.expect[:2]})")


class WrkCase(Case):
    """wrk fetching every small object in turn for a fixed time (bodies are
    discarded): the server's request ceiling, reported per ``objects``."""

    client = "wrk"

    def __init__(self, wrk: str, endpoint: str, ds: Dataset, workdir: Path, seconds: int,
                 threads: int = 2, connections: int = 16):
        paths = workdir / "wrk-paths.txt"
        paths.write_text("".join(f"/{ds.bucket}/{k}\n" for k in ds.small_keys))
        self.cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s",
                    str(HERE / "wrk_paths.lua"), endpoint, "--", str(paths), str(threads)]
        self.workload, self.nbytes, self.objects = "small", ds.small_total, len(ds.small_keys)
        self.size = ds.small_size
        self.method = (f"-t{threads} -c{connections}, {seconds} s, all keys in turn "
                       "(server ceiling, bodies discarded)")
        self.out = subprocess.CompletedProcess([], 0, "", "")

    def run(self) -> float:
        self.out = subprocess.run(self.cmd, capture_output=True, text=True)
        rate = re.search(r"Requests/sec:\s*([\d.]+)", self.out.stdout)
        require(self.out.returncode == 0 and rate is not None,
                f"wrk failed: {self.out.stderr.strip()[:300]}")
        return self.objects / float(rate.group(1))

    def check(self) -> None:
        text = self.out.stdout
        require("Non-2xx" not in text, f"wrk: error responses\n{text}")
        done = re.search(r"(\d+) requests in [\d.]+\w+, ([\d.]+)([KMGT]?B) read", text)
        require(done is not None, f"wrk: unexpected output\n{text}")
        scale = 1024 ** " KMGT".index(done.group(3)[0] if len(done.group(3)) == 2 else " ")
        per_request = float(done.group(2)) * scale / int(done.group(1))
        require(per_request >= 0.99 * self.size, f"wrk: {per_request:.0f} bytes per response")


class OursLarge(Case):
    """``Client.open(uri).readinto(buffer)`` into a preallocated buffer,
    optionally from ``offset`` (reads not starting at 0 skip the CRC-64)."""

    client = "ours"

    def __init__(self, client: Client, ds: Dataset, buf: np.ndarray, config: str,
                 offset: int = 0):
        self.c, self.uri, self.buf, self.offset = client, ds.uri(ds.big_key), buf, offset
        self.ref = ds.big_reference()
        self.workload, self.nbytes, self.objects = "large", ds.big_size - offset, 1
        self.diagnostic = offset != 0
        where = f"bytes {offset}.. (no CRC-64 check)" if offset else "whole object"
        self.method = f"open().readinto(buffer), {where} [{config}]"
        self.got = -1

    def reset(self) -> None:
        self.buf.fill(0)
        self.got = -1

    def run(self) -> None:
        with self.c.open(self.uri) as reader:
            reader.seek(self.offset)
            self.got = reader.readinto(self.buf[self.offset:])

    def check(self) -> None:
        require(self.got == self.nbytes, f"{self.method}: read {self.got} of {self.nbytes} bytes")
        require(same_bytes(self.buf[self.offset:], self.ref[self.offset:]),
                f"{self.method}: data differs from the file")


class WholeObjectBytes(Case):
    """A client call returning the whole large object as ``bytes``."""

    def __init__(self, client: str, method: str, fetch, ds: Dataset):
        self.client, self.method, self.fetch = client, method, fetch
        self.ref = ds.big_reference()
        self.workload, self.nbytes, self.objects = "large", ds.big_size, 1
        self.data = b""

    def reset(self) -> None:
        self.data = b""

    def run(self) -> None:
        self.data = self.fetch()

    def check(self) -> None:
        require(same_bytes(np.frombuffer(self.data, np.uint8), self.ref),
                f"{self.client} {self.method}: data differs from the file")
        self.data = b""


class Oss2Ranged(Case):
    """oss2: HEAD, then ``threads`` concurrent ranged ``get_object`` calls,
    each copied into its slice of a preallocated buffer."""

    client = "oss2"

    def __init__(self, bucket: oss2.Bucket, ds: Dataset, buf: np.ndarray, threads: int):
        self.bucket, self.key, self.buf = bucket, ds.big_key, buf
        self.ref = ds.big_reference()
        self.workload, self.nbytes, self.objects = "large", ds.big_size, 1
        self.threads = threads
        self.pool = ThreadPoolExecutor(threads)
        self.method = f"{threads} threads x ranged get_object().read() into buffer"

    def _part(self, span: tuple[int, int]) -> None:
        start, end = span
        data = self.bucket.get_object(self.key, byte_range=span).read()
        require(len(data) == end - start + 1, f"oss2 range {span}: got {len(data)} bytes")
        self.buf[start:end + 1] = np.frombuffer(data, np.uint8)

    def reset(self) -> None:
        self.buf.fill(0)

    def run(self) -> None:
        size = self.bucket.head_object(self.key).content_length
        list(self.pool.map(self._part, split_ranges(size, self.threads)))

    def check(self) -> None:
        require(same_bytes(self.buf, self.ref), f"oss2 {self.method}: data differs")

    def close(self) -> None:
        self.pool.shutdown()


class SmallObjects(Case):
    """Every small object read into its slice of one preallocated buffer."""

    workload = "small"

    def __init__(self, client: str, method: str, ds: Dataset, buf: np.ndarray):
        self.client, self.method, self.ds, self.buf = client, method, ds, buf
        self.nbytes, self.objects = ds.small_total, len(ds.small_keys)
        self.size = ds.small_size
        self.views = [buf[i * self.size:(i + 1) * self.size] for i in range(self.objects)]

    def reset(self) -> None:
        self.buf.fill(0)

    def check(self) -> None:
        require(same_bytes(self.buf, self.ds.small_data), f"{self.method}: data differs")


class ThreadedSmall(SmallObjects):
    """A thread pool calling ``read_one(key, view)`` for every object."""

    def __init__(self, client: str, method: str, ds: Dataset, buf: np.ndarray, threads: int,
                 read_one):
        super().__init__(client, method, ds, buf)
        self.read_one = read_one
        self.pool = ThreadPoolExecutor(threads)

    def run(self) -> None:
        list(self.pool.map(self.read_one, self.ds.small_keys, self.views))

    def close(self) -> None:
        self.pool.shutdown()


class OursSmallAsync(SmallObjects):
    """The engine's C API: one ``ossc_get_async`` per object, all submitted
    before the first ``ossc_future_wait``."""

    def __init__(self, client: Client, ds: Dataset, buf: np.ndarray, config: str):
        super().__init__("ours", f"ossc_get_async x all, then wait [{config}]", ds, buf)
        self.c = client
        self.bucket_b = ds.bucket.encode()
        self.keys_b = [k.encode() for k in ds.small_keys]
        base = ffi.from_buffer(buf, require_writable=True)
        self.base = base  # keeps the pointers below valid
        self.ptrs = [base + i * self.size for i in range(self.objects)]

    def run(self) -> None:
        native, err, size = self.c._get_native(), new_error(), self.size
        futures = []
        try:
            for key, ptr in zip(self.keys_b, self.ptrs):
                f = lib.ossc_get_async(native, self.bucket_b, key, 0, size, ptr, err)
                require(f != ffi.NULL, ffi.string(err.message).decode(errors="replace"))
                futures.append(f)
            for f in futures:
                n = check_native(lib.ossc_future_wait(f, err), err, "small object")
                require(n == size, f"small object: read {n} of {size} bytes")
        finally:
            for f in futures:
                lib.ossc_future_free(f)


# ------------------------------------------------------------- curl commands

def curl_large_processes(curl: str, url: str, size: int, streams: int) -> CurlCase:
    commands = [[curl, "-s", "-o", "/dev/null", "-r", f"{a}-{b}", "-w", CURL_WRITE_OUT, url]
                for a, b in split_ranges(size, streams)]
    expect = [f"206 {b - a + 1}" for a, b in split_ranges(size, streams)]
    return CurlCase("large", f"{streams} processes, one range each (-r a-b -o /dev/null)",
                    commands, expect, size, 1)


def curl_large_parallel(curl: str, url: str, size: int, streams: int, workdir: Path) -> CurlCase:
    blocks = [f'url = "{url}"\nrange = {a}-{b}\noutput = "/dev/null"\nsilent\n'
              f'write-out = "{CURL_WRITE_OUT}"\n' for a, b in split_ranges(size, streams)]
    cfg = workdir / "curl-large.cfg"
    cfg.write_text("next\n".join(blocks))
    cmd = [curl, "-s", "--parallel", "--parallel-immediate", "--parallel-max", str(streams),
           "-K", str(cfg)]
    expect = [f"206 {b - a + 1}" for a, b in split_ranges(size, streams)]
    return CurlCase("large", f"1 process, --parallel {streams} ranges", [cmd], expect, size, 1)


def _url_config(path: Path, urls: list[str]) -> Path:
    path.write_text("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls))
    return path


def curl_small_parallel(curl: str, urls: list[str], size: int, width: int,
                        workdir: Path) -> CurlCase:
    cfg = _url_config(workdir / "curl-small.cfg", urls)
    cmd = [curl, "-s", "--parallel", "--parallel-immediate", "--parallel-max", str(width),
           "-w", CURL_WRITE_OUT, "-K", str(cfg)]
    return CurlCase("small", f"1 process, --parallel-max {width}", [cmd],
                    [f"200 {size}"] * len(urls), size * len(urls), len(urls))


def curl_small_processes(curl: str, urls: list[str], size: int, processes: int,
                         workdir: Path) -> CurlCase:
    commands = []
    for i, (a, b) in enumerate(split_ranges(len(urls), processes)):
        cfg = _url_config(workdir / f"curl-small-{i}.cfg", urls[a:b + 1])
        commands.append([curl, "-s", "-w", CURL_WRITE_OUT, "-K", str(cfg)])
    return CurlCase("small", f"{len(commands)} processes, URLs in turn on one connection each",
                    commands, [f"200 {size}"] * len(urls), size * len(urls), len(urls))


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
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--markdown", action="store_true",
                   help=f"write the results into {DOC.relative_to(REPO)} between "
                        f"{MARK_START} and {MARK_END}")
    args = p.parse_args(argv)
    if args.quick:
        args.size_mib, args.small_count, args.runs = 64, 200, 1
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    command = shlex.join(["python3", os.path.relpath(__file__, REPO),
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
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    if args.markdown:
        replace_section(DOC, MARK_START, MARK_END, markdown_section(doc, results, params),
                        "Benchmarks")
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
