"""One client of run.py's big_read or list scenario, in a fresh process.

    python client_worker.py '<json spec>'

big_read: builds the client, allocates and touches a buffer of the object's
size, reads the object once untimed (warm-up: connections, threads), then
``spec["reads"]`` times timed, each whole object into the same buffer (or as
``bytes`` where that is the client's API), and checks the data (a 64-bit
wrap-around sum against the file's) after each timed read.

list: lists ``spec["prefix"]`` once untimed, then timed, and checks the
number of keys (and that they are distinct).

Prints ``RESULT {json}`` with the timed seconds (and, for big_read, the
CPU seconds of each timed read).  Runs in the peers' venv
too, so it imports nothing of this repository at module level.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np


def buf_sum(buf) -> int:
    a = np.frombuffer(buf, dtype=np.uint8)
    n = a.size - a.size % 8
    total = int(a[:n].view(np.uint64).sum(dtype=np.uint64))
    tail = bytes(a[n:]) + b"\0" * ((8 - (a.size - n)) % 8)
    if tail:
        total = (total + int.from_bytes(tail, "little")) % (1 << 64)
    return total


def process_cpu() -> float:
    """CPU seconds of this process so far, every thread, user and system
    (the timed read's own cost, without the start-up and the warm-up)."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def oss2_auth():
    """oss2's credentials from the environment, as ours reads them (run.py
    sets placeholders; a real bucket needs real ones).  boto3 reads
    ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` by itself."""
    import oss2

    return oss2.Auth(os.environ["OSS_ACCESS_KEY_ID"], os.environ["OSS_ACCESS_KEY_SECRET"])


# ------------------------------------------------------------- big_read

def readinto_of(open_stream, spec):
    """read(buf): the object spec["key"] read into buf through one stream
    from open_stream(uri), a context manager with readinto."""
    uri = f"oss://{spec['bucket']}/{spec['key']}"

    def read(buf):
        with open_stream(uri) as r:
            return r.readinto(buf)
    return read


def reader_ours(spec):
    from ossconnector import Client

    c = Client(spec["endpoint"], config_path=spec.get("config"), profile="model")
    return readinto_of(c.open, spec)


def reader_ours_fixed(spec):
    """Ours with the part-size controller off (OSSC_HTTP_ADAPTIVE=0): every
    read split into fixed http.partSize parts, as before adapt.c."""
    os.environ["OSSC_HTTP_ADAPTIVE"] = "0"
    return reader_ours(spec)


def reader_product(spec):
    from osstorchconnector import OssCheckpoint

    ck = OssCheckpoint(spec["vhost_endpoint"], cred_path=spec["cred"],
                       config_path=spec["product_config"], region=spec["region"])
    return readinto_of(ck.reader, spec)


def reader_s3torch(spec):
    from s3torchconnector import S3Checkpoint, S3ClientConfig

    ck = S3Checkpoint(region="us-east-1", endpoint=spec["endpoint"],
                      s3client_config=S3ClientConfig(force_path_style=True))
    uri = f"s3://{spec['bucket']}/{spec['key']}"

    def read(buf):
        r = ck.reader(uri)
        if hasattr(r, "readinto"):
            return r.readinto(buf)
        data = r.read()
        memoryview(buf)[:len(data)] = data
        return len(data)
    return read


def reader_oss2(spec):
    from concurrent.futures import ThreadPoolExecutor

    import oss2

    threads = spec.get("threads", 16)
    bucket = oss2.Bucket(oss2_auth(), spec["endpoint"], spec["bucket"],
                         enable_crc=False, session=oss2.Session(pool_size=threads))
    pool = ThreadPoolExecutor(threads)
    size = spec["size"]
    spans = [(size * i // threads, size * (i + 1) // threads - 1) for i in range(threads)]

    def read(buf):
        mv = memoryview(buf)

        def part(span):
            a, b = span
            data = bucket.get_object(spec["key"], byte_range=(a, b)).read()
            mv[a:a + len(data)] = data
            return len(data)
        return sum(pool.map(part, spans))
    return read


def reader_boto3(spec):
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))

    def read(buf):
        body = s3.get_object(Bucket=spec["bucket"], Key=spec["key"])["Body"]
        mv = memoryview(buf)
        n = 0
        while True:   # StreamingBody.read(amt) in 8 MiB steps into the buffer
            chunk = body.read(8 << 20)
            if not chunk:
                return n
            mv[n:n + len(chunk)] = chunk
            n += len(chunk)
    return read


def reader_file(spec):
    """A file of an s3fs-fuse mount: plain ``readinto`` calls of 8 MiB (a
    single ``readinto`` of the whole object is split by the kernel anyway)."""
    path = os.path.join(spec["mount"], spec["key"])

    def read(buf):
        mv = memoryview(buf)
        n = 0
        with open(path, "rb", buffering=0) as f:
            while n < len(mv):
                got = f.readinto(mv[n:n + (8 << 20)])
                if not got:
                    break
                n += got
        return n
    return read


READERS = {"ours": reader_ours, "ours_fixed": reader_ours_fixed,
           "osstorchconnector": reader_product,
           "s3torchconnector": reader_s3torch, "oss2": reader_oss2, "boto3": reader_boto3,
           "s3fs_fuse": reader_file}


def big_read(spec) -> dict:
    read = READERS[spec["client"]](spec)
    size = spec["size"]
    buf = np.zeros(size, dtype=np.uint8)   # touched: first-touch cost is not timed
    buf[::4096] = 1
    mv = memoryview(buf)
    if read(mv) != size:
        raise RuntimeError("warm-up read: short read")
    seconds, cpu = [], []
    for _ in range(spec.get("reads", 1)):
        buf[::4096] = 0
        c0 = process_cpu()
        t0 = time.perf_counter()
        n = read(mv)
        seconds.append(time.perf_counter() - t0)
        cpu.append(process_cpu() - c0)
        if n != size:
            raise RuntimeError(f"read {n} of {size} bytes")
        if str(buf_sum(buf)) != spec["sum"]:
            raise RuntimeError("data differs from the file")
    return {"seconds": seconds, "cpu_s": cpu}


# ------------------------------------------------------------------ list

def lister(spec):
    c = spec["client"]
    bucket, prefix = spec["bucket"], spec["prefix"]
    if c in ("ours", "ours_fast"):
        from ossconnector import Client

        cl = Client(spec["endpoint"], config_path=spec.get("config"), profile="dataset")
        fast = c == "ours_fast"
        return lambda: [e.key for e in cl.list(f"oss://{bucket}/{prefix}", fast=fast)]
    if c == "oss2":
        import oss2

        b = oss2.Bucket(oss2_auth(), spec["endpoint"], bucket)
        return lambda: [o.key for o in oss2.ObjectIteratorV2(b, prefix=prefix, max_keys=1000)]
    if c == "boto3":
        import boto3
        from botocore.config import Config

        s3 = boto3.client("s3", endpoint_url=spec["endpoint"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))

        def run():
            keys = []
            for page in s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000}):
                keys.extend(o["Key"] for o in page.get("Contents", []))
            return keys
        return run
    if c == "osstorchconnector":
        from osstorchconnector._oss_client import OssClient

        cl = OssClient(spec["vhost_endpoint"], spec["cred"], spec["product_config"],
                       region=spec["region"])

        def run():
            return [o.key for o in cl.list_objects(bucket, prefix)]
        return run
    raise ValueError(c)


def list_keys(spec) -> dict:
    run = lister(spec)
    keys = run()
    seconds = []
    for _ in range(spec.get("reads", 1)):
        t0 = time.perf_counter()
        keys = run()
        seconds.append(time.perf_counter() - t0)
        if len(keys) != spec["count"] or len(set(keys)) != spec["count"]:
            raise RuntimeError(f"listed {len(keys)} keys ({len(set(keys))} distinct), "
                               f"expected {spec['count']}; first {keys[:2]}")
    return {"seconds": seconds}


def main() -> int:
    spec = json.loads(sys.argv[1])
    out = big_read(spec) if spec["scenario"] == "big_read" else list_keys(spec)
    print("RESULT " + json.dumps(out), flush=True)
    os._exit(0)   # some clients' threads delay interpreter exit


if __name__ == "__main__":
    sys.exit(main())
