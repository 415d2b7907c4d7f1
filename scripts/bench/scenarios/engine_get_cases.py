"""The ways of reading a workload that scenarios/engine_get.py times.

A :class:`Case` reads one workload one way: ``reset`` and ``check`` run
before and after every run, untimed, and ``check`` compares what was read
with the files, so a wrong read raises :class:`BenchError` instead of giving
a number.  The curl builders at the end turn URLs into :class:`CurlCase`
command lines.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import oss2
from ossconnector import Client
from ossconnector._native import check as check_native
from ossconnector._native import ffi, lib, new_error

from infra.data import Dataset
from report import Result

from infra import BENCH

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
                    str(BENCH / "infra" / "wrk_paths.lua"), endpoint, "--", str(paths), str(threads)]
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
