#!/usr/bin/env python3
"""Dataset epochs side by side: ours vs the product's binary vs
s3torchconnector vs oss2 vs boto3, on one local nginx.

Workloads (defaults): an epoch over 20,000 objects of 100 KiB, and over one
uncompressed tar archive of the same files, each with
``DataLoader(num_workers=2, batch_size=64)``; the transform reads every
item's bytes and returns (key, length).  Every run is checked: each key
exactly once and every byte accounted for, or the run fails.

Every peer runs in a fresh process of its own (this file, ``--peer NAME``):
ours, oss2 and boto3 with this interpreter; the product's binary and
s3torchconnector in the peers' venv (infra/peers.py; ``--product-python``,
``--s3-python`` to use others; created on first use with ``--make-venvs``),
because the product's ``osstorchconnector`` package would shadow our
drop-in one.  run.py runs the same peers (scenarios ``small_objects`` and
``tar_epoch``) on its full-API server.

nginx serves the files path-style (``/bench/small/000000``) for ours, oss2,
boto3 and s3torchconnector, and virtual-hosted (``bench.<HOST>:port``) for
the product, which only addresses buckets that way; ``<HOST>`` is added to
/etc/hosts for the run and removed afterwards.  nginx ignores signatures and
answers GET and HEAD only, so datasets are built from object lists (no
listing) and the tar index is made beforehand.

    python3 scripts/bench/run.py --scenario datasets_nginx --make-venvs   # full run
    python3 scripts/bench/run.py --scenario datasets_nginx --objects 2000 --quick   # smoke
    python3 scripts/bench/run.py --scenario datasets_nginx --markdown     # update the docs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))   # scripts/bench, for infra and report
MARK_START, MARK_END = "<!-- datasets:start -->", "<!-- datasets:end -->"
HOST = "bench-oss.test"
BUCKET = "bench"
REGION = "cn-hangzhou"
BATCH = 64
WORKERS = 2
PEER_VENV = os.environ.get("OSSC_BENCH_VENV", "/tmp/ossc-bench-peers")   # as infra/peers.py


# ---------------------------------------------------------------------------
# Peers.  Everything below up to main() also runs inside the other virtual
# environments, so it imports nothing of this repository at module level.

def as_list(batch):
    """collate_fn: the batch as it is (a list of (key, length))."""
    return batch


def item_key_len(item):
    """Transform for ours and the product: the item's key and byte count."""
    data = item.read()
    key = item.key
    item.close()
    return key, len(data)


def s3_key_len(reader):
    return reader.key, len(reader.read())


class Oss2Objects:
    """The plain oss2 map dataset a user would write."""

    def __init__(self, endpoint, keys, ranges=None):
        self.endpoint, self.keys, self.ranges, self._bucket = endpoint, keys, ranges, None

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        import oss2

        if self._bucket is None:  # one per worker process
            self._bucket = oss2.Bucket(oss2.Auth(os.environ.get("OSS_ACCESS_KEY_ID", "AK"),
                                                 os.environ.get("OSS_ACCESS_KEY_SECRET", "SK")),
                                       self.endpoint, BUCKET,
                                       enable_crc=False)
        if self.ranges is None:
            return self.keys[i], len(self._bucket.get_object(self.keys[i]).read())
        off, size = self.ranges[i]
        body = self._bucket.get_object(self.keys[i], byte_range=(off, off + size - 1)).read()
        return f"{i}", len(body)


class Boto3Objects(Oss2Objects):
    """The plain boto3 map dataset a user would write."""

    def __getitem__(self, i):
        import boto3
        from botocore.config import Config

        if self._bucket is None:
            self._bucket = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                        config=Config(s3={"addressing_style": "path"},
                                                      max_pool_connections=4))
        if self.ranges is None:
            body = self._bucket.get_object(Bucket=BUCKET, Key=self.keys[i])["Body"].read()
            return self.keys[i], len(body)
        off, size = self.ranges[i]
        body = self._bucket.get_object(Bucket=BUCKET, Key=self.keys[i],
                                       Range=f"bytes={off}-{off + size - 1}")["Body"].read()
        return f"{i}", len(body)


class MountedFiles:
    """The map dataset a user of an s3fs-fuse mount would write: one
    ``open().read()`` per object, through the mount."""

    def __init__(self, mount, keys):
        self.mount, self.keys = mount, keys

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        with open(os.path.join(self.mount, self.keys[i]), "rb") as f:
            return self.keys[i], len(f.read())


def _loader(ds, shuffle=False):
    import torch.utils.data

    return torch.utils.data.DataLoader(ds, batch_size=BATCH, num_workers=WORKERS,
                                       shuffle=shuffle, collate_fn=as_list)


def _build(peer: str, spec: dict):
    """(loader, what is expected) for one peer."""
    keys = [f"small/{i:06d}" for i in range(spec["objects"])]
    tar, oss_tar = spec["tar_key"], f"oss://{BUCKET}/{spec['tar_key']}"
    path_ep, vhost_ep = spec["endpoint"], spec["vhost_endpoint"]
    ours = dict(endpoint=path_ep, cred_path=spec["cred_path"], config_path=spec["config_path"])
    product = dict(endpoint=vhost_ep, cred_path=spec["cred_path"],
                   config_path=spec["product_config_path"], region=REGION)
    uris = [f"oss://{BUCKET}/{k}" for k in keys]
    if peer.startswith("ours-"):
        from ossconnector.datasets import OssIterableDataset, OssMapDataset
    if peer.startswith("product-"):
        from osstorchconnector import OssIterableDataset, OssMapDataset

    if peer in ("ours-iterable", "product-iterable"):
        kw = ours if peer.startswith("ours") else product
        return _loader(OssIterableDataset.from_objects(uris, transform=item_key_len, **kw))
    if peer in ("ours-map", "product-map"):
        kw = ours if peer.startswith("ours") else product
        return _loader(OssMapDataset.from_objects(uris, transform=item_key_len, **kw), True)
    if peer in ("ours-tar-iterable", "product-tar-iterable"):
        kw, index = (ours, spec["index_key"]) if peer.startswith("ours") else \
            (product, spec["product_index_key"])
        return _loader(OssIterableDataset.from_tar(oss_tar, f"oss://{BUCKET}/{index}",
                                                   transform=item_key_len, **kw))
    if peer in ("ours-tar-iterable-shuffled", "product-tar-iterable-shuffled"):
        kw, index = (ours, spec["index_key"]) if peer.startswith("ours") else \
            (product, spec["product_index_key"])
        return _loader(OssIterableDataset.from_tar(oss_tar, f"oss://{BUCKET}/{index}",
                                                   transform=item_key_len, shuffle=True, **kw))
    if peer in ("ours-tar-map", "product-tar-map"):
        kw, index = (ours, spec["index_key"]) if peer.startswith("ours") else \
            (product, spec["product_index_key"])
        return _loader(OssMapDataset.from_tar(oss_tar, f"oss://{BUCKET}/{index}",
                                              transform=item_key_len, **kw), True)
    if peer in ("s3torchconnector-iterable", "s3torchconnector-map"):
        from s3torchconnector import S3ClientConfig, S3IterableDataset, S3MapDataset

        s3uris = [f"s3://{BUCKET}/{k}" for k in keys]
        cfg = S3ClientConfig(force_path_style=True)
        if peer.endswith("iterable"):
            return _loader(S3IterableDataset.from_objects(
                s3uris, region="us-east-1", endpoint=path_ep, transform=s3_key_len,
                s3client_config=cfg, enable_sharding=True))
        return _loader(S3MapDataset.from_objects(
            s3uris, region="us-east-1", endpoint=path_ep, transform=s3_key_len,
            s3client_config=cfg), True)
    if peer in ("oss2-map", "boto3-map"):
        cls = Oss2Objects if peer == "oss2-map" else Boto3Objects
        return _loader(cls(path_ep, keys), True)
    if peer == "s3fs_fuse-map":
        return _loader(MountedFiles(spec["mount"], keys), True)
    if peer in ("oss2-tar-map", "boto3-tar-map"):
        cls = Oss2Objects if peer == "oss2-tar-map" else Boto3Objects
        ranges = spec["member_ranges"]
        return _loader(cls(path_ep, [tar] * len(ranges), ranges), True)
    raise SystemExit(f"unknown peer {peer!r}")


def run_peer(peer: str, spec: dict) -> dict:
    """One epoch; returns seconds and what was delivered."""
    loader = _build(peer, spec)
    t0 = time.perf_counter()
    keys, nbytes, count = set(), 0, 0
    for batch in loader:
        for key, n in batch:
            keys.add(key)
            nbytes += n
            count += 1
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "items": count, "unique": len(keys), "bytes": nbytes}


# ---------------------------------------------------------------------------
# Orchestration (this interpreter only).

PEERS = {
    "objects": ["ours-iterable", "ours-map", "product-iterable", "product-map",
                "s3torchconnector-iterable", "s3torchconnector-map", "oss2-map", "boto3-map",
                "s3fs_fuse-map"],
    "tar": ["ours-tar-iterable", "ours-tar-iterable-shuffled", "ours-tar-map",
            "product-tar-iterable", "product-tar-iterable-shuffled", "product-tar-map",
            "oss2-tar-map", "boto3-tar-map"],
}
NEEDS_MOUNT = {"s3fs_fuse-map"}   # run by run.py only, which mounts the bucket
DESCRIPTION = {
    "ours-iterable": "OssIterableDataset.from_objects",
    "ours-map": "OssMapDataset.from_objects, shuffle=True",
    "product-iterable": "osstorchconnector 1.2.3 OssIterableDataset.from_objects",
    "product-map": "osstorchconnector 1.2.3 OssMapDataset.from_objects, shuffle=True",
    "s3torchconnector-iterable": "S3IterableDataset.from_objects(enable_sharding=True)",
    "s3torchconnector-map": "S3MapDataset.from_objects, shuffle=True",
    "oss2-map": "map dataset, oss2 get_object().read() (enable_crc=False), shuffle=True",
    "boto3-map": "map dataset, boto3 get_object()['Body'].read(), shuffle=True",
    "s3fs_fuse-map": "map dataset, open(mount/key).read() on an s3fs-fuse mount, shuffle=True",
    "ours-tar-iterable": "OssIterableDataset.from_tar",
    "ours-tar-iterable-shuffled": "OssIterableDataset.from_tar(shuffle=True), chunks of 1000",
    "ours-tar-map": "OssMapDataset.from_tar, shuffle=True (one ranged GET per member)",
    "product-tar-iterable": "osstorchconnector 1.2.3 OssIterableDataset.from_tar",
    "product-tar-iterable-shuffled": "osstorchconnector 1.2.3 from_tar(shuffle=True)",
    "product-tar-map": "osstorchconnector 1.2.3 OssMapDataset.from_tar, shuffle=True",
    "oss2-tar-map": "map dataset, oss2 ranged get_object per member, shuffle=True",
    "boto3-tar-map": "map dataset, boto3 ranged get_object per member, shuffle=True",
}


def nginx_class():
    from infra.servers import Nginx

    class VhostNginx(Nginx):
        """servers.Nginx plus a virtual-hosted server block: requests for
        ``<bucket>.<HOST>`` are served from ``<root>/<bucket>``."""

        def _write_config(self, state: str) -> str:
            path = super()._write_config(state)
            text = Path(path).read_text()
            vhost = (f"    server {{\n        listen 127.0.0.1:{self.port};\n"
                     f"        server_name ~^(?<bkt>[a-z0-9-]+)\\.{HOST.replace('.', '[.]')}$;\n"
                     f"        root {self.root}/$bkt;\n"
                     f"        add_header x-oss-hash-crc64ecma $oss_crc64;\n"
                     f"        location / {{ }}\n    }}\n")
            marker = "    server {"
            text = text.replace(marker, vhost + marker, 1)
            text = text.replace(f"listen 127.0.0.1:{self.port} reuseport",
                                f"listen 127.0.0.1:{self.port} default_server reuseport")
            Path(path).write_text(text)
            return path

    return VhostNginx


def prepare(root: Path, objects: int, size: int, product_python: str) -> dict:
    from infra.data import make_dataset

    from ossconnector.datasets import TarIndex, generate_tar_archive

    print(f"writing {objects} objects of {size} bytes under {root} ...", flush=True)
    ds = make_dataset(root, big_size=4096, small_count=objects, small_size=size, with_crc=True,
                      bucket=BUCKET)
    bucket_dir = root / BUCKET
    cred = root / "credentials.json"
    cred.write_text(json.dumps({"AccessKeyId": "AK", "AccessKeySecret": "SK"}))
    cred.chmod(0o600)
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    config = {"logLevel": 2, "logPath": str(logs / "connector.log"),
              "auditPath": str(logs / "audit.log"),
              "datasetConfig": {"prefetchConcurrency": 24, "prefetchWorker": 2}}
    (root / "config.json").write_text(json.dumps(config))
    (root / "product-config.json").write_text(json.dumps(config))
    print("packing the tar archive and its index ...", flush=True)
    generate_tar_archive("http://127.0.0.1:1", str(cred), str(root / "config.json"),
                         str(bucket_dir / "train.tar"), str(bucket_dir / "train.idx"),
                         str(bucket_dir / "small"))
    index = TarIndex.from_bytes((bucket_dir / "train.idx").read_bytes())
    spec = {"objects": objects, "size": size, "cred_path": str(cred),
            "config_path": str(root / "config.json"),
            "product_config_path": str(root / "product-config.json"),
            "tar_key": "train.tar", "index_key": "train.idx",
            "product_index_key": "train.pidx",
            "member_ranges": [[o, s] for _, o, s in index.members()]}
    crc = {f"/{BUCKET}/{k}": v for k, v in ds.crc64.items()}
    crc.update({f"/{k}": v for k, v in ds.crc64.items()})
    return {"spec": spec, "crc": crc, "dataset": ds}


def product_index(product_python: str, spec: dict, root: Path) -> str:
    """Builds the product's own index of the same archive with its
    generate_tar_archive (index only, local paths); '' on success."""
    code = ("import sys; from osstorchconnector import generate_tar_archive as g; "
            "g(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], '', True, "
            "None, 'cn-hangzhou')")
    out = subprocess.run([product_python, "-c", code, "http://127.0.0.1:1", spec["cred_path"],
                          spec["product_config_path"], str(root / BUCKET / "train.tar"),
                          str(root / BUCKET / "train.pidx")],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0 or not (root / BUCKET / "train.pidx").exists():
        return (out.stderr or out.stdout).strip().splitlines()[-1:][0] if \
            (out.stderr or out.stdout).strip() else f"exit status {out.returncode}"
    return ""


def python_for(peer: str, args) -> str:
    if peer.startswith("product-"):
        return args.product_python
    if peer.startswith("s3torchconnector-"):
        return args.s3_python
    return sys.executable


def peer_cmd(peer: str, spec_path: str, python: str) -> list[str]:
    """The command line of one epoch by ``peer`` (also used by run.py)."""
    return [python, str(Path(__file__).resolve()), "--peer", peer, "--spec", spec_path]


PEER_ENV = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK",
            "AWS_EC2_METADATA_DISABLED": "true", "PYTHONWARNINGS": "ignore"}


def run_in_subprocess(peer: str, spec: dict, python: str, timeout: float) -> dict:
    from infra.peers import run_worker

    if not Path(python).exists():
        return {"error": f"{python} not found (run with --make-venvs)"}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(spec, f)
        spec_path = f.name
    try:
        return run_worker(peer_cmd(peer, spec_path, python), env=dict(os.environ, **PEER_ENV),
                          timeout=timeout, cwd=str(HERE))
    finally:
        os.unlink(spec_path)


def check(result: dict, expected_items: int, expected_bytes: int) -> dict:
    if "error" in result:
        return result
    if result["items"] != expected_items or result["unique"] != expected_items:
        result["error"] = (f"delivered {result['items']} items, {result['unique']} distinct; "
                           f"expected {expected_items} once each")
    elif result["bytes"] != expected_bytes:
        result["error"] = f"delivered {result['bytes']} bytes, expected {expected_bytes}"
    return result


def versions(args) -> dict:
    def pkg(python, name):
        out = subprocess.run([python, "-c", f"import importlib.metadata as m; "
                                            f"print(m.version('{name}'))"],
                             capture_output=True, text=True)
        return out.stdout.strip() or "-"

    import oss2
    import boto3
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "oss2": oss2.__version__, "boto3": boto3.__version__,
            "osstorchconnector (product)": pkg(args.product_python, "osstorchconnector")
            if Path(args.product_python).exists() else "-",
            "s3torchconnector": pkg(args.s3_python, "s3torchconnector")
            if Path(args.s3_python).exists() else "-"}


def markdown(results: list, args, machine: dict, command: str, notes: list) -> str:
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {machine['cores']} cores, "
             f"{machine['cpu']} (load average at start {machine['load_average_at_start']}); "
             f"nginx {machine['nginx']}; "
             + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()) + ".",
             "",
             f"Workloads: one epoch over {args.objects:,} objects of {args.size // 1024} KiB "
             f"(from an object list), and over one uncompressed tar of the same files (with its "
             f"index), `DataLoader(num_workers={WORKERS}, batch_size={BATCH})`; the transform "
             f"reads every item's bytes. One run each, in a fresh process, page cache warm; "
             f"every run checked (each item once, every byte).",
             "", "```", command, "```", "",
             "| workload | client | method | objects/s | MB/s | ours (best) / this |",
             "|---|---|---|---:|---:|---:|"]
    best = {}
    for r in results:
        if r["peer"].startswith("ours") and "error" not in r:
            best[r["workload"]] = max(best.get(r["workload"], 0), r["objects_per_s"])
    for r in results:
        client = r["peer"].split("-", 1)[0]
        if "error" in r:
            lines.append(f"| {r['workload']} | {client} | {DESCRIPTION[r['peer']]} | failed | | |")
            continue
        ratio = best.get(r["workload"], 0) / r["objects_per_s"] if r["objects_per_s"] else 0
        lines.append(f"| {r['workload']} | {client} | {DESCRIPTION[r['peer']]} | "
                     f"{r['objects_per_s']:,.0f} | {r['MBps']:,.0f} | {ratio:.2f} |")
    failed = [r for r in results if "error" in r]
    if failed or notes:
        lines += ["", "Notes:", ""]
        lines += [f"- {n}" for n in notes]
        lines += [f"- `{r['peer']}` failed: {r['error']}" for r in failed]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=20_000)
    p.add_argument("--size", type=int, default=100 * 1024)
    p.add_argument("--workdir", help="where the data goes (default: a temporary directory)")
    p.add_argument("--product-python", default=f"{PEER_VENV}/bin/python")
    p.add_argument("--s3-python", default=f"{PEER_VENV}/bin/python")
    p.add_argument("--make-venvs", action="store_true",
                   help="create the two venvs when missing (pip install)")
    p.add_argument("--only", nargs="*", help="peers to run (default: all)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per peer")
    p.add_argument("--json", help="write results here")
    p.add_argument("--markdown", action="store_true",
                   help=f"update the section of {'docs/benchmarks.md'}")
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 objects")
    p.add_argument("--peer", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None, command: str | None = None) -> int:
    args = parse_args(argv)
    if args.peer:
        spec = json.loads(Path(args.spec).read_text())
        print("RESULT " + json.dumps(run_peer(args.peer, spec)), flush=True)
        return 0
    if args.quick:
        args.objects = min(args.objects, 2000)
    if args.make_venvs:
        from infra.peers import ensure_peer_venv

        ensure_peer_venv(PEER_VENV)
    command = command or shlex.join(["python3", "scripts/bench/run.py", "--scenario", "datasets_nginx",
                         *(sys.argv[1:] if argv is None else argv)])
    from report import machine_description, replace_section

    workdir = tempfile.TemporaryDirectory(prefix="bench-datasets-", dir=args.workdir)
    root = Path(workdir.name)
    results = []
    notes = ["s3torchconnector has no dataset over an indexed tar archive (streaming the one "
             "archive through S3IterableDataset would put the whole epoch on one worker), so "
             "it has no tar row.",
             "osstorchconnector 1.2.3's `from_tar(shuffle=True)` fails in its own constructor "
             "(it uses `self._region` before setting it), whatever the server.",
             "One run per peer on a shared 2-core machine: runs of the same peer differ by up "
             "to ~30 %; the ratios between peers held across the runs made while developing."]
    try:
        prep = prepare(root, args.objects, args.size, args.product_python)
        spec = prep["spec"]
        err = product_index(args.product_python, spec, root) if \
            Path(args.product_python).exists() else "no product venv"
        if err:
            notes.append(f"the product's generate_tar_archive could not index the archive "
                         f"({err}); its tar runs fail for that reason")
        server = nginx_class()(root, crc64=prep["crc"])
        from infra.servers import HostsEntry

        with server, HostsEntry(f"{BUCKET}.{HOST}", HOST):
            spec["endpoint"] = server.endpoint
            spec["vhost_endpoint"] = f"http://{HOST}:{server.port}"
            # Page cache warm: every file read once (too many files to mmap
            # and mlock each, as dataset.PageCachePin does, within the fd limit).
            for path in (root / BUCKET).rglob("*"):
                if path.is_file():
                    _read_all(path)
            machine = machine_description(server.version(), "curl")
            machine["versions"] = versions(args)
            tar_members = len(spec["member_ranges"])
            for workload, peers in PEERS.items():
                for peer in peers:
                    if (args.only and peer not in args.only) or peer in NEEDS_MOUNT:
                        continue
                    n = args.objects if workload == "objects" else tar_members
                    print(f"{workload:8} {peer:32}", end=" ", flush=True)
                    r = check(run_in_subprocess(peer, spec, python_for(peer, args),
                                                args.timeout), n, n * args.size)
                    r.update(peer=peer, workload=workload)
                    if "error" not in r:
                        r["objects_per_s"] = r["items"] / r["seconds"]
                        r["MBps"] = r["bytes"] / r["seconds"] / 1e6
                        print(f"{r['objects_per_s']:10,.0f} objects/s {r['MBps']:8,.0f} MB/s",
                              flush=True)
                    else:
                        print("FAILED:", r["error"], flush=True)
                    results.append(r)
    finally:
        workdir.cleanup()
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "command": command,
                                               "results": results, "notes": notes}, indent=1))
    body = markdown(results, args, machine, command, notes)
    print()
    print(body)
    if args.markdown:
        from infra import DOC

        replace_section(DOC, MARK_START, MARK_END, "## Datasets\n\n" + body, "Benchmarks")
    return 0


# ---------------------------------------------------------------------------
# The small_objects and tar_epoch scenarios of run.py: the peers above on
# run.py's full-API server, in rounds.  The ceiling of small_objects is one
# ``curl --parallel`` process fetching every object, 16 at a time; that of
# tar_epoch is 16 ranged curls of the whole archive.  Rates are items per
# second; bytes per second are kept in ``MB_per_s``.

GiB = 1 << 30
WORKLOADS = {"small_objects": "objects", "tar_epoch": "tar"}
CLIENT = {"ours": "ours", "product": "osstorchconnector", "s3torchconnector": "s3torchconnector",
          "oss2": "oss2", "boto3": "boto3", "s3fs_fuse": "s3fs_fuse"}
IN_VENV = ("product-", "s3torchconnector-")


def prepare_cached(root: Path, objects: int, size: int, peer_py: str) -> dict:
    """The spec of :func:`prepare` for ``objects`` files of ``size`` bytes written
    into ``root/<bucket>`` with the tar archive, our index and the
    product's index; kept in ``root`` and reused while its size matches."""
    saved = root / f"datasets-{objects}x{size}.json"
    if saved.exists():
        return json.loads(saved.read_text())
    spec = prepare(root, objects, size, peer_py)["spec"]
    err = product_index(peer_py, spec, root)
    spec["product_index_error"] = err
    saved.write_text(json.dumps(spec))
    return spec


def peers_of(workload: str, wanted: list[str]) -> list[str]:
    """The peers of a workload ("objects" or "tar") whose client
    is in ``wanted`` (all when empty)."""
    return [p for p in PEERS[workload]
            if not wanted or CLIENT[p.split("-", 1)[0]] in wanted]


def ceiling_series(env, spec: dict, workload: str) -> tuple[Series, callable]:
    """The curl ceiling of the workload and how to measure it once."""
    from infra.peers import Series
    from infra.servers import curl_ceiling, curl_many

    curl = shutil.which("curl") or "/usr/bin/curl"
    bucket = env.base_spec()["bucket"]
    if workload == "objects":
        urls = [(env.server.url(bucket, f"small/{i:06d}"), spec["size"])
                for i in range(spec["objects"])]
        s = Series("curl", "curl", "one curl --parallel process, every object whole, 16 "
                   "transfers at a time, -o /dev/null (server ceiling)")
        return s, lambda: curl_many(curl, urls, 16)
    tar = env.work / "buckets" / bucket / spec["tar_key"]
    urls = [(env.server.url(bucket, spec["tar_key"]), tar.stat().st_size)]
    s = Series("curl", "curl", "the whole archive with 16 concurrent ranged curl, best of 1 "
               "process --parallel and 16 processes (server ceiling)")
    return s, lambda: curl_ceiling(curl, urls, 16)


def scenario(env, args, spec: dict, name: str, mount: str | None = None) -> dict:
    """Runs every peer of scenario ``name`` once per round, ``args.runs``
    rounds; the s3fs peer only when the bucket is mounted at ``mount``.
    Returns run.py's {"series", "nbytes", "unit"} with ``nbytes`` the
    number of items of one epoch."""
    from infra.peers import Series, run_worker

    workload = WORKLOADS[name]
    items = spec["objects"] if workload == "objects" else len(spec["member_ranges"])
    spec = {**spec, **env.base_spec(), "mount": mount}
    spec_path = env.work / f"{name}-spec.json"
    spec_path.write_text(json.dumps(spec))
    names = [p for p in peers_of(workload, args.clients) if mount or not p.startswith("s3fs_fuse")]
    curl_s, measure_curl = ceiling_series(env, spec, workload)
    series = {"curl": curl_s}
    for p in names:
        series[p] = Series(p, CLIENT[p.split("-", 1)[0]], DESCRIPTION[p])
    for rnd in range(1, args.runs + 1):
        for key, s in series.items():
            label = f"{name} {rnd}/{args.runs} {key:32s}"
            if key == "curl":
                _add_curl(s, measure_curl, items, label)
                continue
            py = env.peer_py if key.startswith(IN_VENV) else sys.executable
            res = run_worker(peer_cmd(key, str(spec_path), py),
                             env={**env.env(), **PEER_ENV}, timeout=args.timeout)
            res = check(res, items, items * spec["size"])
            if "error" in res:
                s.errors.append(res["error"])
                print(f"{label} FAILED {res['error'][:300]}", flush=True)
                continue
            s.add(res["seconds"], rss=res["rss"], cpu=res["cpu"],
                  cpu_per_gib=res["cpu"] / (res["bytes"] / GiB),
                  MB_per_s=res["bytes"] / res["seconds"] / 1e6)
            print(f"{label} {items / res['seconds']:9,.0f} items/s (peak RSS "
                  f"{res['rss'] / GiB:.2f} GiB, CPU {res['cpu']:.1f} s)", flush=True)
    return {"series": series, "nbytes": items, "unit": "objects/s"}


def _add_curl(s: Series, measure, items: int, label: str) -> None:
    try:
        t = measure()
    except RuntimeError as e:
        s.errors.append(str(e))
        print(f"{label} FAILED {str(e)[:300]}", flush=True)
        return
    s.add(t)
    print(f"{label} {items / t:9,.0f} items/s", flush=True)


def what(spec: dict, name: str) -> str:
    """The workload of scenario ``name`` in words, for its docs section."""
    shape = (f"{spec['objects']:,} objects of {spec['size'] // 1024} KiB" if
             name == "small_objects" else f"one tar of the same {spec['objects']:,} files "
             "(with its index)")
    return (f"One DataLoader epoch over {shape}; every item checked (each once, every "
            "byte). Rates are items per second.")


def notes(spec: dict) -> list[str]:
    out = ["`DataLoader(num_workers=2, batch_size=64)`; the transform reads every item's bytes; "
           "rate = items of one epoch / seconds from the first batch requested to the last "
           "received (the dataset and loader are built before the clock starts). Peak RSS is "
           "the main process's; CPU seconds include the two loader workers and the process "
           "start (imports), so CPU s/GiB is high for small epochs.",
           "s3torchconnector has no dataset over an indexed tar archive, so it has no "
           "tar_epoch row."]
    if spec.get("product_index_error"):
        out.append("the product's generate_tar_archive could not index the archive "
                   f"({spec['product_index_error']}); its tar rows fail for that reason.")
    return out


def _read_all(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(64 << 20):
            pass


if __name__ == "__main__":
    sys.exit(main())
