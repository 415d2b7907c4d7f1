"""One timed model load in a fresh process (started by host_bench.py).

    python3 load_worker.py '{"dir": D, "device": "cpu"|"cuda", "procs": N}'

procs 1: imports torch and safetensors, calls
``safetensors.torch.load_file(shard, device=...)`` for every shard of D
(under LD_PRELOAD D is the connector's MODEL_DIR), keeps every tensor alive
as a server keeps its weights, and sums every byte of every tensor (the
wrap-around uint64 sum of its 8-byte words, taken on the tensor's device:
one host sync at the end).  Prints ``RESULT {json}`` with CLOCK_MONOTONIC
stamps (comparable with the parent's), the sums and this process's peak RSS.

procs N > 1: this process imports nothing heavy and starts N copies of
itself at once (``"rank"`` set; they inherit the environment, so under
LD_PRELOAD they share one node cache), like the tensor-parallel workers of
an inference server on one node; each loads ALL shards with
``torch.set_num_threads(CPUs // N)``.  Prints ``RESULT {"ranks": [...]}``.
"""

import json
import os
import subprocess
import sys
import time

T_START = time.monotonic()
MASK = (1 << 64) - 1


def peak_rss() -> int:
    """VmHWM of this process, bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def load(spec: dict) -> dict:
    import torch
    import safetensors.torch as st

    t_imported = time.monotonic()
    if spec.get("rank") is not None:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // spec["procs"]))
    d, dev = spec["dir"], spec["device"]
    with open(os.path.join(d, "model.safetensors.index.json")) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    keep = True
    if dev == "cuda":   # N copies of the model must fit the GPU, else each shard is dropped
        keep = spec["procs"] * spec["model_bytes"] <= 0.7 * torch.cuda.mem_get_info()[1]
    names, sums, kept, nbytes, t_first = [], [], [], 0, None
    for shard in shards:
        tensors = st.load_file(os.path.join(d, shard), device=dev)
        if t_first is None:
            t_first = time.monotonic()
        for name, t in tensors.items():
            b = t.detach().reshape(-1).view(torch.uint8)
            try:
                w = b.view(torch.int64)
            except RuntimeError:      # not 8-byte aligned: copy first
                w = b.clone().view(torch.int64)
            names.append(name)
            sums.append(w.sum(dtype=torch.int64))
            nbytes += b.numel()
        if keep:
            kept.append(tensors)
        del tensors
    values = torch.stack(sums).cpu().tolist()
    t_done = time.monotonic()
    return {"t_start": T_START, "t_imported": t_imported, "t_first_shard": t_first,
            "t_done": t_done, "bytes": nbytes, "tensors": len(names), "kept": keep,
            "peak_rss": peak_rss(), "pid": os.getpid(),
            "device_name": torch.cuda.get_device_name(0) if dev == "cuda" else "cpu",
            "sums": {n: str(v & MASK) for n, v in zip(names, values)}}


def parent(spec: dict) -> dict:
    """Starts spec["procs"] ranks at once and collects their results."""
    procs = []
    for i in range(spec["procs"]):
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                       json.dumps({**spec, "rank": i})],
                                      stdout=subprocess.PIPE, text=True))
    ranks, errors = [], []
    for i, p in enumerate(procs):
        out, _ = p.communicate()
        res = next((json.loads(ln[7:]) for ln in out.splitlines() if ln.startswith("RESULT ")),
                   None)
        if p.returncode != 0 or res is None:
            errors.append(f"rank {i}: exit status {p.returncode}")
            continue
        res["t_exit"] = time.monotonic()   # reaped (an upper bound of its exit)
        res["rank"] = i
        ranks.append(res)
    return {"t_start": T_START, "ranks": ranks, "errors": errors}


def main() -> int:
    spec = json.loads(sys.argv[1])
    if spec.get("procs", 1) > 1 and spec.get("rank") is None:
        res = parent(spec)
        print("RESULT " + json.dumps(res), flush=True)
        return 1 if res["errors"] else 0
    print("RESULT " + json.dumps(load(spec)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
