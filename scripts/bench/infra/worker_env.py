"""One run on a full-API server: the bucket's name and domains, the server
(localbucket behind our OSS adapter, or SeaweedFS), what every worker needs
(endpoints, credentials, configs, a clean environment, which Python), the
delay proxy in front of the server for the cloud-like variant, and the
bucket's s3fs-fuse mount."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from infra import BENCH
from infra.peers import run_worker

CLIENT_WORKER = BENCH / "scenarios" / "client_worker.py"   # big_read's and list's worker

BUCKET, DOMAIN, REGION = "bench", "runbench.test", "cn-hangzhou"
GiB = 1 << 30

MOUNT_SCENARIOS = ("big_read", "small_objects")   # where s3fs_fuse runs (model_load: its own)


def make_server(kind: str, root: Path):
    from infra.servers import LocalBucket, SeaweedFS

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


def write_client_files(work: Path) -> tuple[Path, Path, Path]:
    """The files every client reads, written into ``work``: placeholder
    credentials (the local servers check none), our connector's config
    (log in ``work``, no audit log) and the product's config; their paths."""
    cred = work / "credentials.json"
    cred.write_text(json.dumps({"AccessKeyId": "bench", "AccessKeySecret": "bench"}))
    config = work / "connector.json"
    config.write_text(json.dumps({"logPath": str(work / "connector.log"), "auditPath": ""}))
    product_config = work / "product.json"
    product_config.write_text(json.dumps({"logLevel": 2, "logPath": str(work / "product.log")}))
    return cred, config, product_config


class Env:
    """What every worker needs: endpoints, credentials, configs, pythons."""

    def __init__(self, server, work: Path, peer_py: str, mount: str | None = None):
        self.server, self.work, self.peer_py = server, work, peer_py
        self.mount = mount   # the bucket's s3fs-fuse mount point, if mounted
        self.cred, self.config, self.product_config = write_client_files(work)

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
        return run_worker([py, str(CLIENT_WORKER), json.dumps(spec)], env=self.env(),
                          timeout=timeout)

    def run_worker_for(self, series, label: str, spec: dict, in_venv: bool,
                       timeout: float) -> dict | None:
        """run_worker for one round of spec["client"]: a failure is added to
        series' errors and printed after label; returns the worker's
        result, or None when it failed."""
        res = self.run_worker(spec, in_venv, timeout)
        if "error" in res:
            series.errors.append(res["error"])
            print(f"{label} {spec['client']:20s} FAILED {res['error'][:300]}", flush=True)
            return None
        return res


def rounds(label: str, names: list[str], runs: int, one) -> None:
    for rnd in range(1, runs + 1):
        for name in names:
            one(name, f"{label} {rnd}/{runs}")


def front_of(server, variant: str):
    """What the clients talk to: the server itself, or for ``cloud`` the
    delay proxy in front of it (5 ms to the first byte of each response,
    1 Gbit/s per connection); a context manager."""
    if variant != "cloud":
        return contextlib.nullcontext(server)
    from infra.delay_proxy import DelayProxy

    return DelayProxy(server, delay_ms=5, rate_mbit=1000)


def variant_notes(variant: str) -> list[str]:
    if variant != "cloud":
        return []
    return ["Cloud-like variant: every request goes through `scripts/bench/infra/delay_proxy.py`, "
            "which holds the first byte of each response until 5 ms after the request and "
            "paces each connection to 1 Gbit/s each way. A client's rate is then bounded by "
            "how many requests it keeps in flight: one stream gets at most 125 MB/s, small "
            "objects cost 5 ms each per connection. The proxy is one Python process: the "
            "curl row, measured through it, is the ceiling of the whole path."]


def maybe_mount(args, others: list[str], server, work: Path):
    """The bucket mounted with s3fs-fuse for the s3fs_fuse client, when a
    scenario of ``others`` has it and --clients does not leave it out; a
    context manager giving the mount or None."""
    if (args.clients and "s3fs_fuse" not in args.clients) or args.no_s3fs \
            or not set(others) & set(MOUNT_SCENARIOS):
        return contextlib.nullcontext(None)
    from infra.s3fs_mount import S3fsMount

    return S3fsMount(server.endpoint, BUCKET, work)
