"""run.py's checkpoint scenarios, ``ckpt_save`` and ``ckpt_load``: the
clients of checkpoint.py (``torch.save`` of a state dict into the store,
``torch.load`` out of it, one fresh process per client and round doing one
save then one load, the loaded state compared with the saved one) on run.py's
server.

Each worker reports per operation its wall time, CPU seconds (every thread)
and peak RSS (VmHWM reset before the operation; the state dict itself is in
it).  The ``ckpt_load`` ceiling is 16 ranged curls of the object ours saved
in that round; ``ckpt_save`` has none (no local tool uploads the same way).
"""

from __future__ import annotations

import json
import shutil
import sys

import checkpoint
from peers import Series, run_worker

GiB = 1 << 30
CLIENT = {"ours": "ours", "product": "osstorchconnector", "oss2-put": "oss2",
          "oss2-resumable": "oss2", "s3torchconnector": "s3torchconnector"}


def clients(wanted: list[str]) -> list[str]:
    return [c for c in checkpoint.CLIENTS if not wanted or CLIENT[c] in wanted]


def scenario(env, args) -> dict[str, dict]:
    """Both scenarios in one set of rounds: {"ckpt_save": res, "ckpt_load":
    res} in run.py's {"series", "nbytes", "unit"} form (GB/s of tensor
    bytes)."""
    from servers import curl_ceiling

    size = int(args.ckpt_gib * GiB)
    config = env.work / "ckpt-config.json"
    config.write_text(json.dumps(checkpoint.worker_config(env.work)))
    spec = env.base_spec()
    names = clients(args.clients)
    save = {c: Series(c, CLIENT[c], checkpoint_method(c, "save")) for c in names}
    load = {"curl": Series("curl", "curl", "16 concurrent ranged curl of the object ours "
                           "saved, -o /dev/null (server ceiling)")}
    load.update({c: Series(c, CLIENT[c], checkpoint_method(c, "load")) for c in names})
    nbytes = size
    curl = shutil.which("curl") or "/usr/bin/curl"
    for rnd in range(1, args.runs + 1):
        for c in names:
            label = f"ckpt {rnd}/{args.runs} {c:17s}"
            py = env.peer_py if c in checkpoint.IN_VENV else sys.executable
            cmd = checkpoint.worker_cmd(py, c, endpoint=spec["endpoint"],
                                        vhost_endpoint=spec["vhost_endpoint"],
                                        bucket=spec["bucket"], key=f"ckpt/{c}/state.pt",
                                        cred=spec["cred"], config=str(config), size=size,
                                        workdir=str(env.work))
            res = run_worker(cmd, env=env.env(), timeout=args.timeout)
            if "error" not in res and not res.get("identical"):
                res["error"] = "loaded state differs from the saved one"
            if "error" in res:
                save[c].errors.append(res["error"])
                load[c].errors.append(res["error"])
                print(f"{label} FAILED {res['error'][:300]}", flush=True)
                continue
            nbytes = res["bytes"]
            for op, s in (("save", save[c]), ("load", load[c])):
                s.add(res[f"{op}_s"], rss=res[f"{op}_rss"], cpu=res[f"{op}_cpu_s"],
                      cpu_per_gib=res[f"{op}_cpu_s"] / (nbytes / GiB))
            print(f"{label} save {nbytes / res['save_s'] / 1e9:5.2f} GB/s, load "
                  f"{nbytes / res['load_s'] / 1e9:5.2f} GB/s (peak RSS save "
                  f"{res['save_rss'] / GiB:.2f} / load {res['load_rss'] / GiB:.2f} GiB)",
                  flush=True)
        if "ours" in names and save["ours"].seconds:
            url = env.server.url(spec["bucket"], "ckpt/ours/state.pt")
            try:
                length = _head_length(url)
                t = curl_ceiling(curl, [(url, length)], 16)
                # the ceiling in tensor bytes per second, like the clients' rates
                load["curl"].add(t * nbytes / length)
            except (RuntimeError, OSError) as e:
                load["curl"].errors.append(str(e))
    return {"ckpt_save": {"series": save, "nbytes": nbytes, "unit": "GB/s"},
            "ckpt_load": {"series": load, "nbytes": nbytes, "unit": "GB/s"}}


def _head_length(url: str) -> int:
    import urllib.request

    req = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(r.headers["Content-Length"])


_METHODS = {
    "ours": ("OssCheckpoint.writer(uri) + torch.save", "OssCheckpoint.reader(uri) + torch.load"),
    "product": ("product binary: OssCheckpoint.writer + torch.save",
                "product binary: OssCheckpoint.reader + torch.load"),
    "oss2-put": ("torch.save to BytesIO, put_object", "get_object().read(), torch.load"),
    "oss2-resumable": ("torch.save to a local file, resumable_upload (8 MiB parts, 8 threads)",
                       "get_object().read(), torch.load"),
    "s3torchconnector": ("S3Checkpoint.writer + torch.save", "S3Checkpoint.reader + torch.load"),
}


def checkpoint_method(client: str, op: str) -> str:
    return _METHODS[client][0 if op == "save" else 1]


def what(args, nbytes: int) -> str:
    return (f"A state dict of {nbytes / GiB:.2f} GiB of tensors (fp32 and bf16 matrices of "
            "24-48 MiB, one embedding, small vectors, Python values), `torch.save` into the "
            "store then `torch.load` out of it, one fresh process per client and round, the "
            "loaded state compared with the saved one. Rates are tensor bytes per second; "
            "peak RSS is the process's during the operation (the state dict included); CPU "
            "s/GiB counts every thread of the operation.")
