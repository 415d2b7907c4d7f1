"""run.py's dataset scenarios, ``small_objects`` and ``tar_epoch``: the
peers of datasets.py (one ``DataLoader(num_workers=2, batch_size=64)``
epoch per fresh process, every item checked) on run.py's server, in rounds.

``small_objects`` reads ``--objects`` objects of ``--object-kib`` KiB from
an object list; ``tar_epoch`` reads the same files packed in one
uncompressed tar with its index.  The ceiling of ``small_objects`` is one
``curl --parallel`` process fetching every object, 16 at a time; that of
``tar_epoch`` is 16 ranged curls of the whole archive.  Rates are items per
second; bytes per second are kept in ``MB_per_s``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import datasets
from peers import Series, run_worker

GiB = 1 << 30
WORKLOADS = {"small_objects": "objects", "tar_epoch": "tar"}
CLIENT = {"ours": "ours", "product": "osstorchconnector", "s3torchconnector": "s3torchconnector",
          "oss2": "oss2", "boto3": "boto3", "s3fs_fuse": "s3fs_fuse"}
IN_VENV = ("product-", "s3torchconnector-")


def prepare(root: Path, objects: int, size: int, peer_py: str) -> dict:
    """datasets.py's spec for ``objects`` files of ``size`` bytes written
    into ``root/<bucket>`` with the tar archive, our index and the
    product's index; kept in ``root`` and reused while its size matches."""
    saved = root / f"datasets-{objects}x{size}.json"
    if saved.exists():
        return json.loads(saved.read_text())
    spec = datasets.prepare(root, objects, size, peer_py)["spec"]
    err = datasets.product_index(peer_py, spec, root)
    spec["product_index_error"] = err
    saved.write_text(json.dumps(spec))
    return spec


def peers(workload: str, wanted: list[str]) -> list[str]:
    """datasets.py's peers of a workload ("objects" or "tar") whose client
    is in ``wanted`` (all when empty)."""
    return [p for p in datasets.PEERS[workload]
            if not wanted or CLIENT[p.split("-", 1)[0]] in wanted]


def ceiling_series(env, spec: dict, workload: str) -> tuple[Series, callable]:
    """The curl ceiling of the workload and how to measure it once."""
    from servers import curl_ceiling, curl_many

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
    workload = WORKLOADS[name]
    items = spec["objects"] if workload == "objects" else len(spec["member_ranges"])
    spec = {**spec, **env.base_spec(), "mount": mount}
    spec_path = env.work / f"{name}-spec.json"
    spec_path.write_text(json.dumps(spec))
    names = [p for p in peers(workload, args.clients) if mount or not p.startswith("s3fs_fuse")]
    curl_s, measure_curl = ceiling_series(env, spec, workload)
    series = {"curl": curl_s}
    for p in names:
        series[p] = Series(p, CLIENT[p.split("-", 1)[0]], datasets.DESCRIPTION[p])
    for rnd in range(1, args.runs + 1):
        for key, s in series.items():
            label = f"{name} {rnd}/{args.runs} {key:32s}"
            if key == "curl":
                _add_curl(s, measure_curl, items, label)
                continue
            py = env.peer_py if key.startswith(IN_VENV) else sys.executable
            res = run_worker(datasets.peer_cmd(key, str(spec_path), py),
                             env={**env.env(), **datasets.PEER_ENV}, timeout=args.timeout)
            res = datasets.check(res, items, items * spec["size"])
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
