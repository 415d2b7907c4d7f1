#!/usr/bin/env python3
"""The demo behind `make demo`: start the local OSS emulator, upload a
sample (one 256 MiB object and 500 small ones), read everything back
through the engine, check the bytes and print throughput.

No cloud account needed.  To point the same steps at real OSS instead,
set OSS_ENDPOINT, OSS_BUCKET, OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET
(and OSS_REGION for V4 signing)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ossconnector import Client

BIG_MIB = int(os.environ.get("DEMO_BIG_MIB", "256"))
SMALL_COUNT = int(os.environ.get("DEMO_SMALL_COUNT", "500"))
SMALL_KIB = 100


def rate(nbytes: int, seconds: float) -> str:
    return f"{nbytes / seconds / 1e6:8.1f} MB/s"


def run(client: Client, bucket: str) -> None:
    prefix = f"oss://{bucket}/demo"
    big = os.urandom(BIG_MIB << 20)
    small = {f"{prefix}/small/{i:05d}.bin": os.urandom(SMALL_KIB << 10) for i in range(SMALL_COUNT)}
    print(f"engine: {client.concurrency} transfers in flight, {client.part_size >> 20} MiB parts")

    t = time.perf_counter()
    with client.create(f"{prefix}/big.bin") as w:
        w.write(big)
    print(f"upload   1 x {BIG_MIB} MiB object      {rate(len(big), time.perf_counter() - t)}")

    t = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda kv: client.put(*kv), small.items()))
    dt = time.perf_counter() - t
    print(f"upload {SMALL_COUNT} x {SMALL_KIB} KiB objects   {rate(SMALL_COUNT * (SMALL_KIB << 10), dt)}"
          f"  ({SMALL_COUNT / dt:.0f} objects/s)")

    buf = bytearray(len(big))
    t = time.perf_counter()
    with client.open(f"{prefix}/big.bin") as f:
        n = f.readinto(buf)
    dt = time.perf_counter() - t
    assert n == len(big) and hashlib.sha256(buf).digest() == hashlib.sha256(big).digest(), \
        "big object read back differs"
    print(f"download 1 x {BIG_MIB} MiB object      {rate(n, dt)}  (bytes verified)")

    t = time.perf_counter()
    listed = list(client.list(f"{prefix}/small/", fast=True))
    print(f"fast list of {len(listed)} keys            {time.perf_counter() - t:8.3f} s")
    assert len(listed) == SMALL_COUNT

    t = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        got = list(pool.map(lambda e: client.open(e.uri, size=e.size).read(), listed))
    dt = time.perf_counter() - t
    assert all(small[e.uri] == g for e, g in zip(listed, got)), "small objects read back differ"
    print(f"download {SMALL_COUNT} x {SMALL_KIB} KiB objects {rate(sum(map(len, got)), dt)}"
          f"  ({SMALL_COUNT / dt:.0f} objects/s, bytes verified)")


def main() -> int:
    if os.environ.get("OSS_ENDPOINT"):
        client = Client(os.environ["OSS_ENDPOINT"], region=os.environ.get("OSS_REGION"))
        run(client, os.environ["OSS_BUCKET"])
        return 0

    from ossconnector.emulator.testing import running_emulator

    with running_emulator() as emu, tempfile.TemporaryDirectory() as tmp:
        print(f"local OSS emulator at {emu.endpoint} (signatures checked)")
        cred = os.path.join(tmp, "credentials")
        with open(cred, "w") as f:
            json.dump({"AccessKeyId": emu.access_key_id, "AccessKeySecret": emu.access_key_secret}, f)
        os.chmod(cred, 0o600)
        config = os.path.join(tmp, "config.json")
        with open(config, "w") as f:
            json.dump({"logPath": os.path.join(tmp, "connector.log"), "auditPath": "",
                       "prefetch": {"vcpus": 2, "workers": 16}}, f)
        bucket = emu.create_bucket("demo-bucket")
        with Client(emu.endpoint, cred_path=cred, config_path=config, region=emu.region) as client:
            run(client, bucket)
    print("demo ok (the emulator is a Python server: see docs/benchmarks.md for real-server numbers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
