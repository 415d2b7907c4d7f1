"""Scenario servers (not part of ``all``): the GET ceiling of each local
server for one object, 16 concurrent ranged ``curl`` (the faster of one
``curl --parallel`` process and 16 processes): nginx, localbucket behind our
OSS adapter, SeaweedFS.  Tells how much of a client's rate the server
allows, and which server to measure clients on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.data import write_random
from infra.peers import Series
from infra.servers import LocalBucket, Nginx, SeaweedFS, curl_ceiling
from infra.worker_env import BUCKET


def what(args) -> str:
    return (f"GET of one {args.size_mib} MiB object with 16 concurrent ranged curl transfers "
            "(-o /dev/null; the faster of one curl --parallel process and 16 processes).")


def run(args, work: Path) -> dict:
    """Each server's GET ceiling for one object: 16 concurrent ranged curl
    processes, the servers taking turns in every round."""
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
