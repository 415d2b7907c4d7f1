"""Scenario big_read: one object (default 1 GiB) read whole, sequentially,
into a preallocated buffer.

Clients: ours (``Client.open().readinto``), ours_fixed (the same with
OSSC_HTTP_ADAPTIVE=0: fixed parts), the product's binary
(``OssCheckpoint.reader().readinto``), s3torchconnector (``S3Checkpoint``
reader, path-style), oss2 (16 threads of ranged ``get_object``), boto3
(``get_object`` body in 8 MiB ``read``s), s3fs-fuse (when mounted); the
ceiling is 16 concurrent ranged ``curl``.  Each client runs in a fresh
process per round (client_worker.py): one untimed warm-up read, then one
timed read, checked against the file's sum.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from infra.data import file_sum, write_random
from infra.peers import Series
from infra.servers import curl_ceiling
from infra.worker_env import BUCKET, GiB, Env, rounds

BIG_READ_CLIENTS = {
    "ours": (False, "Client.open(uri).readinto(buffer), profile model (16x16 transfers, parts "
                    "sized from measured throughput: http.adaptive)"),
    "ours_fixed": (False, "the same with OSSC_HTTP_ADAPTIVE=0: fixed 8 MiB parts"),
    "osstorchconnector": (True, "product binary: OssCheckpoint.reader(uri).readinto(buffer)"),
    "s3torchconnector": (True, "S3Checkpoint(force_path_style).reader(uri).readinto(buffer)"),
    "oss2": (False, "16 threads x ranged get_object().read() into buffer"),
    "boto3": (False, "get_object() Body.read(8 MiB) into buffer, one stream"),
    "s3fs_fuse": (False, "s3fs-fuse mount: open(path).readinto(buffer) in 8 MiB calls"),
}


def big_key(size_mib: int) -> str:
    return "big/1gib.bin" if size_mib == 1024 else f"big/{size_mib}mib.bin"


def prepare(root: Path, size_mib: int) -> None:
    """Writes the object into ``root/<bucket>`` unless it is there already
    with the right size (kept between runs with --workdir)."""
    p = root / BUCKET / big_key(size_mib)
    if not p.exists() or p.stat().st_size != size_mib << 20:
        write_random(p, size_mib << 20)
        os.sync()


def what(args) -> str:
    return (f"One object of {args.size_mib} MiB read whole, sequentially, into a "
            "preallocated buffer (data checked after every read). Peak RSS is the "
            "worker's (the buffer is the object's size); CPU s/GiB is the timed read's "
            "(every thread of the process, not the start-up nor the warm-up read).")


def run(env: Env, args, root: Path) -> dict:
    """Every client of ``BIG_READ_CLIENTS`` (those of ``--clients``; s3fs_fuse
    when mounted) and the curl ceiling once per round, ``args.runs`` rounds;
    {"series", "nbytes", "unit"}."""
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
        res = env.run_worker_for(s, label, spec, BIG_READ_CLIENTS[name][0], args.timeout)
        if res is None:
            return
        t = res["seconds"][0]
        per_gib = res["cpu_s"][0] / (size / GiB)
        s.add(t, rss=res["rss"], cpu=res["cpu"], cpu_per_gib=per_gib)
        print(f"{label} {name:20s} {size / t / 1e9:6.2f} GB/s (peak RSS "
              f"{res['rss'] / GiB:.2f} GiB, CPU {per_gib:.2f} s/GiB)", flush=True)

    rounds("round", list(series), args.runs, one)
    return {"series": series, "nbytes": size, "unit": "GB/s"}
