#!/usr/bin/env python3
"""Model load: a sharded safetensors model from a local object server, every
way side by side: run.py's scenario ``model_load``.

A model of ``--size-gib`` (default 4 GiB, 8 shards, bf16 tensors shaped like
a transformer's, random weights, plus config.json and the index json) is
written into the bucket folder of a local full-API server (``localbucket``
behind our OSS adapter by default; ``--server seaweedfs`` uploads it to a
SeaweedFS S3 gateway instead).  Then, in rounds (every client once per
round, so that noise from other work on the machine hits them alike),
every client loads the whole model in a fresh process and the time from
spawning that process until the last tensor has been read is recorded:

* ``local_disk``   ``safetensors.torch.load_file`` on the same files on local
                   disk, page cache warm: the floor;
* ``ours``         our ``LD_PRELOAD=libossc_preload.so`` with
                   ``ENABLE_CONNECTOR=1 OSS_PATH=... MODEL_DIR=...``, the same
                   ``load_file`` calls on ``MODEL_DIR`` (setup included: the
                   listing, placeholders and prefetch run inside the process);
* ``local_shm``    (asked for by name) the floor's ``load_file`` on a copy of
                   the files written anew before each run (not timed) in
                   ``--shm-dir`` (a tmpfs, /dev/shm by default): the floor on
                   the file system the node cache lives on, whose mappings
                   cost more to fault in and to tear down at exit than the
                   disk's page cache (4 KiB pages against its large folios,
                   pages unmapped for the first time) unless the tmpfs is
                   mounted with ``huge=``;
* ``ours_cache_dir``  (asked for by name, with ``--alt-cache-dir DIR``) ours
                   with ``OSSC_CACHE_DIR=DIR``, e.g. a tmpfs mounted
                   ``huge=within_size``, in the same rounds as ours;
* ``ours_checkpoint``  our drop-in ``osstorchconnector.OssCheckpoint``:
                   ``reader(uri).read()`` then ``safetensors.torch.load``;
* ``osstorchconnector``  the product's published binary, same code as the
                   row above (the issue's way), in the peers' venv;
* ``osstorchconnector_safetensor``  the product's ``OssSafetensor.load_file``;
* ``oss2``         download every shard to local disk (8 threads,
                   ``get_object_to_file``), then ``load_file``;
* ``runai``        Run:ai ``SafetensorsStreamer`` (S3 API, path-style), each
                   tensor copied out of its reused buffers;
* ``s3fs_fuse``    ``load_file`` on an s3fs-fuse mount of the bucket
                   (Debian's ``s3fs``, installed when missing);
* ``curl``         16 concurrent ranged ``curl`` over all shards: the wire
                   time (model bytes at the server's ceiling).

In every process, "loaded" means every tensor of every shard is in hand and
every byte of it has been read once (a 64-bit sum, compared with the sums
taken when the model was generated, after the clock stopped: a wrong byte
fails the run).  Peak RSS and CPU seconds are the child's own (``wait4``).
Target: ours within 1.3 x (floor + wire time), faster than oss2
and the product's binary.

    python3 scripts/bench/run.py --scenario model_load --size-gib 4   # in results.json
    python3 scripts/bench/model_load.py --quick          # alone: 512 MiB, 2 rounds
    python3 scripts/bench/model_load.py --size-gib 8 --runs 5 --markdown --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK_START, MARK_END = "<!-- model_load:start -->", "<!-- model_load:end -->"
sys.path.insert(0, str(HERE.parent))   # scripts/bench

from infra import DOC, REPO  # noqa: E402

from infra.peers import DEFAULT_VENV, Series, ensure_peer_venv, package_version, run_worker  # noqa
from report import add_output_args, write_outputs  # noqa: E402

BUCKET, PREFIX = "models", "bench-model/"
DOMAIN = "modelbench.test"     # product's virtual-hosted endpoint: models.modelbench.test
REGION = "cn-hangzhou"
GiB, MiB = 1 << 30, 1 << 20

# key -> (results.json client, worker "how", runs in the peers' venv, method)
CLIENTS = {
    "local_disk": ("local_disk", "local", False,
                   "safetensors.torch.load_file, files on local disk, page cache warm (floor)"),
    "local_shm": ("local_shm", "local", False,
                  "safetensors.torch.load_file, the same files copied to --shm-dir (a tmpfs): "
                  "the floor on the file system the node cache uses"),
    "ours": ("ours", "local", False,
             "LD_PRELOAD libossc_preload.so + load_file(MODEL_DIR/...), setup included"),
    "ours_cache_dir": ("ours_cache_dir", "local", False,
                       "as ours, the node cache in --alt-cache-dir (OSSC_CACHE_DIR)"),
    "ours_checkpoint": ("ours", "checkpoint_bytes", False,
                        "drop-in OssCheckpoint.reader().read() + safetensors.torch.load"),
    "osstorchconnector": ("osstorchconnector", "checkpoint_bytes", True,
                          "product binary: OssCheckpoint.reader().read() + "
                          "safetensors.torch.load"),
    "osstorchconnector_safetensor": ("osstorchconnector", "oss_safetensor", True,
                                     "product binary: OssSafetensor.load_file()"),
    "oss2": ("oss2", "oss2", False,
             "8 threads x get_object_to_file to local disk, then load_file"),
    "runai": ("runai", "runai", True,
              "runai-model-streamer SafetensorsStreamer.stream_files (S3), tensors cloned"),
    "s3fs_fuse": ("s3fs_fuse", "local", False,
                  "safetensors.torch.load_file on an s3fs-fuse mount of the bucket"),
}
DEFAULT_CLIENTS = [c for c in CLIENTS if c not in ("ours_cache_dir", "local_shm")]


# ------------------------------------------------------------------ the model

def model_layout(size: int, shards: int, hidden: int = 2048, inter: int = 5632):
    """Tensor names and shapes (bf16) of a decoder-only model of about
    ``size`` bytes, grouped into at most ``shards`` shards by layer."""
    layer = [("self_attn.q_proj.weight", (hidden, hidden)),
             ("self_attn.k_proj.weight", (hidden, hidden)),
             ("self_attn.v_proj.weight", (hidden, hidden)),
             ("self_attn.o_proj.weight", (hidden, hidden)),
             ("mlp.gate_proj.weight", (inter, hidden)),
             ("mlp.up_proj.weight", (inter, hidden)),
             ("mlp.down_proj.weight", (hidden, inter)),
             ("input_layernorm.weight", (hidden,)),
             ("post_attention_layernorm.weight", (hidden,))]
    per_layer = sum(2 * _numel(s) for _, s in layer)
    layers = max(1, round(size / per_layer))
    shards = max(1, min(shards, layers))
    out = [[] for _ in range(shards)]
    for i in range(layers):
        out[i * shards // layers].extend((f"model.layers.{i}.{n}", s) for n, s in layer)
    out[-1].append(("model.norm.weight", (hidden,)))
    return out, layers


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def make_model(directory: Path, size: int, shards: int, seed: int = 4) -> dict:
    """Writes the shards, ``model.safetensors.index.json`` and
    ``config.json``; returns {"shards": [...], "sums": {...}, "bytes": n}."""
    import numpy as np
    import torch
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    layout, layers = model_layout(size, shards)
    rng = np.random.default_rng(seed)
    names, sums, weight_map, total = [], {}, {}, 0
    for i, tensors in enumerate(layout):
        name = f"model-{i + 1:05d}-of-{len(layout):05d}.safetensors"
        state = {}
        for tname, shape in tensors:
            raw = np.frombuffer(rng.bytes(2 * _numel(shape)), dtype=np.uint8)
            sums[tname] = str(int(raw.view(np.uint64).sum(dtype=np.uint64)))
            state[tname] = torch.from_numpy(raw.copy()).view(torch.bfloat16).view(shape)
            weight_map[tname] = name
            total += raw.size
        save_file(state, str(directory / name), metadata={"format": "pt"})
        names.append(name)
        del state
    (directory / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    (directory / "config.json").write_text(json.dumps(
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
         "intermediate_size": 5632, "num_hidden_layers": layers, "torch_dtype": "bfloat16",
         "note": "random weights generated by scripts/bench/scenarios/model_load.py"}, indent=1))
    os.sync()
    return {"shards": names, "sums": sums, "bytes": total, "layers": layers}


def shard_bytes(directory: Path, shards: list[str]) -> int:
    return sum((directory / s).stat().st_size for s in shards)


# ------------------------------------------------------------------ running

class Bench:
    """The server, the model on it and how to run each client once."""

    def __init__(self, args, work: Path, server, model_dir: Path, model: dict, peer_py: str,
                 mount: Path | None = None):
        self.args, self.work, self.server, self.mount = args, work, server, mount
        self.model_dir, self.model, self.peer_py = model_dir, model, peer_py
        self.file_bytes = shard_bytes(model_dir, model["shards"])
        from infra.worker_env import write_client_files

        self.cred, self.config, self.product_config = write_client_files(work)
        self.preload = subprocess.run([sys.executable, "-m", "ossconnector.preload"],
                                      capture_output=True, text=True, check=True).stdout.strip()
        self.curl = shutil.which("curl") or "/usr/bin/curl"
        self.shm_copy = None   # set by run() for local_shm

    def _env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSS_", "AWS_", "OSSC_", "RUNAI_")) and k != "LD_PRELOAD"}
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spec_and_env(self, key: str, run_dir: Path):
        client, how, in_venv, _ = CLIENTS[key]
        spec = {"how": how, "shards": self.model["shards"], "bucket": BUCKET, "prefix": PREFIX,
                "cred": str(self.cred)}
        env = self._env()
        if key == "local_disk":
            spec["dir"] = str(self.model_dir)
        elif key == "local_shm":
            spec["dir"] = str(self.shm_copy.fresh())
        elif key == "s3fs_fuse":
            spec["dir"] = str(self.mount / PREFIX)
        elif key in ("ours", "ours_cache_dir"):
            model_dir = run_dir / "model"
            spec["dir"] = str(model_dir)
            cache = {"OSSC_CACHE_DIR": self.args.alt_cache_dir} if key == "ours_cache_dir" \
                else {}
            env = self._env(LD_PRELOAD=self.preload, ENABLE_CONNECTOR=1,
                            OSS_ENDPOINT=self.server.endpoint,
                            OSS_PATH=f"oss://{BUCKET}/{PREFIX}", MODEL_DIR=model_dir,
                            OSS_ACCESS_KEY_ID="bench", OSS_ACCESS_KEY_SECRET="bench",
                            OSS_CONNECTOR_CONFIG=self.config, **cache)
        elif key == "ours_checkpoint":
            spec.update(endpoint=self.server.endpoint, config=str(self.config), region="")
        elif key.startswith("osstorchconnector"):
            spec.update(endpoint=f"http://{DOMAIN}:{self.server.port}",
                        config=str(self.product_config), region=REGION)
        elif key == "oss2":
            spec.update(endpoint=self.server.endpoint, download_dir=str(run_dir / "download"),
                        threads=8)
        elif key == "runai":
            env = self._env(AWS_ENDPOINT_URL=self.server.endpoint, AWS_ACCESS_KEY_ID="bench",
                            AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1",
                            AWS_EC2_METADATA_DISABLED="true",
                            RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING=0)
        python = self.peer_py if in_venv else sys.executable
        return [python, str(HERE / "model_load_worker.py"), json.dumps(spec)], env

    def run_client(self, key: str) -> dict:
        """One load in a fresh process; {"seconds", "load_s", "rss", "cpu"}
        or {"error"}."""
        run_dir = Path(tempfile.mkdtemp(prefix=f"run-{key}-", dir=self.work))
        try:
            cmd, env = self.spec_and_env(key, run_dir)
            res = run_worker(cmd, env=env, timeout=self.args.timeout)
            if "error" in res:
                return res
            if res["sums"] != self.model["sums"]:
                bad = [k for k in self.model["sums"] if res["sums"].get(k) != self.model["sums"][k]]
                return {"error": f"wrong data in {len(bad)} tensors (e.g. {bad[:2]})"}
            return {"seconds": res["t_done"] - res["start"],
                    "load_s": res["t_done"] - res["t_imported"],
                    "startup_s": res["t_imported"] - res["start"], "rss": res["rss"],
                    "anon": res["peak"].get("RssAnon", 0), "shm": res["peak"].get("shm", 0),
                    "exit_s": res["end"] - res["t_done"],
                    "cpu": res["cpu"], "bytes": res["bytes"]}
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
            os.sync()   # write-back of oss2's download does not spill into the next run

    def run_curl(self, into_memory: bool = False) -> dict:
        """The wire time; with ``into_memory`` the bytes also land in files
        on /dev/shm, as they must for any client that keeps the model (16
        curl processes, their CPU time measured)."""
        from infra.servers import curl_ceiling, curl_landed

        urls = [(self.server.url(BUCKET, PREFIX + s), (self.model_dir / s).stat().st_size)
                for s in self.model["shards"]]
        if not into_memory:
            try:
                seconds = curl_ceiling(self.curl, urls, 16)
                # CPU of the same 16 processes into /dev/null (set against curl_ram's)
                return {"seconds": seconds, "cpu": curl_landed(self.curl, urls, 16, None)[1]}
            except RuntimeError as e:
                return {"error": str(e)}
        sink = tempfile.mkdtemp(prefix="bench-curl-", dir="/dev/shm")
        try:
            seconds, cpu = curl_landed(self.curl, urls, 16, sink)
            return {"seconds": seconds, "cpu": cpu}
        except RuntimeError as e:
            return {"error": str(e)}
        finally:
            shutil.rmtree(sink, ignore_errors=True)


def leftover_caches() -> list[str]:
    try:
        return [n for n in os.listdir("/dev/shm") if n.startswith("ossc-")]
    except OSError:
        return []


def run_rounds(bench: Bench, clients: list[str], runs: int) -> dict[str, Series]:
    series = {k: Series(k, CLIENTS[k][0], CLIENTS[k][3]) for k in clients}
    series["curl"] = Series("curl", "curl", "16 concurrent ranged curl transfers over all "
                            "shards, best of 1 process --parallel and 16 processes "
                            "(wire time at the server's ceiling)")
    series["curl_ram"] = Series("curl_ram", "curl", "the same ranges, 16 curl processes "
                                "writing into files on /dev/shm (wire time plus landing the "
                                "bytes in fresh memory; CPU of the curl processes)")
    before = set(leftover_caches())
    for rnd in range(runs + 1):   # round 0 is a warm-up, not recorded
        label = "warm-up" if rnd == 0 else f"round {rnd}/{runs}"
        for key in ["curl", "curl_ram", *clients]:
            if key != "curl":
                # Memory the previous run freed goes back to the hypervisor
                # after a moment; until then re-touching it is several times
                # faster than fresh memory.  Every client that lands the
                # model starts on fresh memory alike.
                time.sleep(bench.args.settle)
            res = (bench.run_curl(key == "curl_ram") if key.startswith("curl")
                   else bench.run_client(key))
            s = series[key]
            if "error" in res:
                s.errors.append(res["error"])
                print(f"{label} {key:30s} FAILED: {res['error'][:300]}", flush=True)
                continue
            if rnd:
                s.add(res["seconds"], **{k: v for k, v in res.items() if k != "seconds"})
            extra = (f" (startup {res['startup_s']:.2f} s, load {res['load_s']:.2f} s, "
                     f"peak RSS {res['rss'] / GiB:.2f} GiB, anon {res['anon'] / GiB:.2f}, "
                     f"/dev/shm {res['shm'] / GiB:.2f}, CPU {res['cpu']:.1f} s, exit took "
                     f"{res['exit_s']:.2f} s)"
                     if "rss" in res else "")
            print(f"{label} {key:30s} {res['seconds']:6.2f} s{extra}", flush=True)
        left = set(leftover_caches()) - before
        if left:
            print(f"warning: cache directories left in /dev/shm: {sorted(left)}", flush=True)
    return series


# ------------------------------------------------------------------ reporting

def summarize(series: dict[str, Series], nbytes: int) -> dict:
    floor = series.get("local_disk")
    wire = series.get("curl")
    landed = series.get("curl_ram")
    f = floor.median() if floor and floor.seconds else None
    w = wire.median() if wire and wire.seconds else None
    lw = landed.median() if landed and landed.seconds else None
    out = {"floor_s": f, "wire_s": w, "floor_plus_wire_s": (f + w) if f and w else None,
           "ceiling_GBps": nbytes / w / 1e9 if w else None,
           "landed_wire_s": lw, "floor_plus_landed_wire_s": (f + lw) if f and lw else None,
           "landed_wire_cpu_s": landed.med("cpu") if landed and landed.seconds else None,
           "wire_cpu_s": wire.med("cpu") if wire and wire.seconds else None}
    out["exit_s"] = {k: s.med("exit_s") for k, s in series.items() if s.med("exit_s") is not None}
    ours = series.get("ours")
    if ours and ours.seconds:
        o = ours.median()
        if out["floor_plus_wire_s"]:
            out["ours_over_floor_plus_wire"] = o / out["floor_plus_wire_s"]
            out["target_1_3x_met"] = o <= 1.3 * out["floor_plus_wire_s"]
        if f:
            out["ours_over_floor"] = o / f
        if w:
            out["ours_over_max_floor_wire"] = o / max(f or 0, w)
        if out["floor_plus_landed_wire_s"]:
            out["ours_over_floor_plus_landed_wire"] = o / out["floor_plus_landed_wire_s"]
        for k, s in series.items():
            if k not in ("ours", "curl", "curl_ram", "local_disk") and s.seconds:
                out[f"{k}_over_ours"] = s.median() / o
    return out


def rows(series: dict[str, Series], nbytes: int, summary: dict) -> list[list[str]]:
    o = series.get("ours")
    om = o.median() if o and o.seconds else None
    f = summary.get("floor_s")
    out = []
    for k, s in series.items():
        if not s.seconds:
            out.append([k, s.client, s.method, "failed", "", "", "", "", "", "", "", "", "",
                        "; ".join(dict.fromkeys(e[:160] for e in s.errors))])
            continue
        med = s.median()
        rss, cpu, anon, shm = s.med("rss"), s.med("cpu"), s.med("anon"), s.med("shm")
        out.append([k, s.client, s.method, f"{med:.2f}", f"{min(s.seconds):.2f}",
                    f"{max(s.seconds):.2f}", f"{nbytes / med / 1e9:.2f}",
                    f"{med / om:.2f}" if om else "-", f"{med / f:.2f}" if f else "-",
                    f"{rss / GiB:.2f}" if rss else "", f"{anon / GiB:.2f}" if rss else "",
                    f"{shm / GiB:.2f}" if rss else "",
                    f"{cpu / (nbytes / GiB):.2f}" if cpu else "",
                    (f"{len(s.errors)} failed run(s)" if s.errors else "")])
    return out


HEADER = ["key", "client", "method", "median s", "min s", "max s", "GB/s", "÷ ours",
          "÷ floor", "peak RSS GiB", "anon GiB", "/dev/shm GiB", "CPU s/GiB", "note"]


def format_table(rows_: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(HEADER[1:]) + " |",
                 "|---|---|" + "---:|" * (len(HEADER) - 4) + "---|"]
        lines += ["| " + " | ".join([r[1] if r[0] == r[1] else f"{r[1]} ({r[0]})", *r[2:]])
                  + " |" for r in rows_]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows_)) for i, h in enumerate(HEADER)]
    widths[2] = min(widths[2], 60)
    fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths[:-1]))
    return "\n".join([fmt.format(*HEADER[:-1])]
                     + [fmt.format(*(r[:2] + [r[2][:60]] + r[3:-1])) + "  " + r[-1]
                        for r in rows_])


def machine(server_version: str, peer_py: str) -> dict:
    from report import machine_basics

    import safetensors
    import torch

    import ossconnector

    return {**machine_basics(), "server": server_version,
            "torch": torch.__version__, "safetensors": safetensors.__version__,
            "ossconnector": ossconnector.__version__,
            "osstorchconnector (product)": package_version(peer_py, "osstorchconnector"),
            "runai-model-streamer": package_version(peer_py, "runai-model-streamer"),
            "oss2": _oss2_version()}


def _oss2_version() -> str:
    try:
        import oss2

        return oss2.__version__
    except ImportError:
        return "?"


def records(series: dict[str, Series], server_name: str, summary: dict,
            nbytes: int) -> list[dict]:
    """results.json records (seconds to load the whole model of ``nbytes``);
    ``cpu_s_per_gib`` is the child's whole CPU time (start-up included)
    per GiB of model."""
    out = []
    for k, s in series.items():
        if not s.seconds:
            continue
        cpu = s.med("cpu")
        out.append({"scenario": "model_load", "client": s.client, "server": server_name,
                    "median": s.median(), "min": min(s.seconds), "max": max(s.seconds),
                    "unit": "s", "ceiling": summary.get("wire_s"), "method": s.method,
                    "key": k, "runs": len(s.seconds),
                    "peak_rss_bytes": s.med("rss"), "peak_anon_bytes": s.med("anon"),
                    "peak_dev_shm_bytes": s.med("shm"), "cpu_s": cpu,
                    "cpu_s_per_gib": cpu / (nbytes / GiB) if cpu else None,
                    "exit_s": s.med("exit_s")})
    return out


def markdown_section(doc: dict, rows_: list[list[str]], summary: dict) -> str:
    m, p = doc["machine"], doc["params"]
    gib = doc["bytes"] / GiB
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
        f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}; server: {m['server']} on "
        f"127.0.0.1; torch {m['torch']}, safetensors {m['safetensors']}, ossconnector "
        f"{m['ossconnector']}, osstorchconnector (product) {m['osstorchconnector (product)']}, "
        f"runai-model-streamer {m['runai-model-streamer']}, oss2 {m['oss2']}; Python "
        f"{m['python']}. Load average at start: {m['load_average_at_start']}.",
        "",
        f"Model: {len(doc['shards'])} shards, {gib:.2f} GiB of bf16 tensors "
        f"({doc['tensors']} tensors, {doc['layers']} layers of a 2048-wide decoder). Median of "
        f"{p['runs']} rounds after a warm-up round; each round runs every client once in a "
        f"fresh process; min and max beside the median.",
        "",
        "```",
        doc["command"],
        "```",
        "",
        format_table(rows_, markdown=True),
        "",
    ]
    f, w, fw = summary.get("floor_s"), summary.get("wire_s"), summary.get("floor_plus_wire_s")
    if fw:
        lines.append(f"- Floor (local disk, warm) {f:.2f} s; wire time (16 parallel curl, "
                     f"{summary['ceiling_GBps']:.2f} GB/s) {w:.2f} s; floor + wire {fw:.2f} s.")
    if "ours_over_floor_plus_wire" in summary:
        r = summary["ours_over_floor_plus_wire"]
        lines.append(f"- Ours (LD_PRELOAD) / (floor + wire) = {r:.2f}: "
                     f"{'meets' if r <= 1.3 else 'misses'} the 1.3× target; "
                     f"ours / max(floor, wire) = {summary['ours_over_max_floor_wire']:.2f} "
                     f"(the 1.25× target of the side-by-side runs).")
    flw = summary.get("floor_plus_landed_wire_s")
    if flw and "ours_over_floor_plus_landed_wire" in summary:
        lw = summary["landed_wire_s"]
        budget = f" (the 1.3 × (floor + wire) budget is {1.3 * fw:.2f} s)" if fw else ""
        cpu = summary.get("landed_wire_cpu_s")
        lines.append(f"- Landing the bytes in memory (curl_ram: the same ranges into "
                     f"/dev/shm files) takes {lw:.2f} s on this machine{budget}"
                     + (f", and {cpu:.1f} CPU s of the curl processes against "
                        f"{summary['wire_cpu_s']:.1f} into /dev/null" if cpu and
                        summary.get("wire_cpu_s") else "")
                     + f"; ours / (floor + landed wire {flw:.2f} s) = "
                     f"{summary['ours_over_floor_plus_landed_wire']:.2f}.")
    series_exit = summary.get("exit_s") or {}
    if series_exit:
        lines.append("- Process exit after the last tensor (not in the times above): "
                     + ", ".join(f"{k} {v:.2f} s" for k, v in series_exit.items()) + ".")
    for k in ("oss2", "osstorchconnector", "osstorchconnector_safetensor", "runai",
              "ours_checkpoint"):
        if f"{k}_over_ours" in summary:
            r = summary[f"{k}_over_ours"]
            lines.append(f"- {k} takes {r:.2f}× as long as ours"
                         f"{'' if r > 1 else ' (ours is not faster)'}.")
    return "\n".join(lines)


# ------------------------------------------------------------------ main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gib", type=float, default=4.0, help="model size (GiB)")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--runs", type=int, default=3, help="timed rounds after one warm-up round")
    p.add_argument("--quick", action="store_true", help="512 MiB, 1 round (smoke run)")
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS),
                   help=f"comma-separated subset of {','.join(CLIENTS)}")
    p.add_argument("--server", choices=["localbucket", "seaweedfs"], default="localbucket")
    p.add_argument("--alt-cache-dir", metavar="DIR",
                   help="the node cache's root for the client ours_cache_dir (e.g. a tmpfs "
                        "mounted huge=within_size), beside ours' default /dev/shm")
    p.add_argument("--shm-dir", default="/dev/shm",
                   help="where the client local_shm's copy of the model is made (a directory "
                        "of its own, removed at the end; default /dev/shm)")
    p.add_argument("--peer-venv", default=DEFAULT_VENV,
                   help="venv for the product's binary and runai (created when missing)")
    p.add_argument("--workdir", help="keep the model and logs here (default: a temporary "
                                     "directory, removed at the end)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per client run")
    p.add_argument("--settle", type=float, default=6.0,
                   help="seconds to wait before each run that lands the model in memory, so "
                        "memory freed by the run before is fresh again (default 6)")
    add_output_args(p, DOC.relative_to(REPO), MARK_START, MARK_END)
    a = p.parse_args(argv)
    if a.quick:
        a.size_gib, a.runs = 0.5, 1
    a.clients = [c for c in a.clients.split(",") if c]
    unknown = set(a.clients) - set(CLIENTS)
    if unknown:
        p.error(f"unknown clients: {', '.join(sorted(unknown))}")
    if ("ours_cache_dir" in a.clients) != bool(a.alt_cache_dir):
        p.error("the client ours_cache_dir and --alt-cache-dir go together")
    return a


class ShmCopy:
    """A new directory under ``parent`` (a tmpfs, /dev/shm by default) for
    the client local_shm's copy of the model; removed on exit.  Only this
    directory, made here, is ever removed."""

    def __init__(self, parent: Path, paths: list[Path]):
        self.parent, self.paths, self.path = parent, paths, None

    def __enter__(self) -> "ShmCopy":
        self.path = Path(tempfile.mkdtemp(prefix="bench-model-load-", dir=self.parent))
        return self

    def fresh(self) -> Path:
        """The shards written anew (not timed): pages never mapped before,
        as the node cache's are in each run.  A page's first unmapping
        costs more than later ones (the kernel moves it to the active list
        then), so a copy mapped in earlier rounds would flatter the floor."""
        for p in self.paths:
            dst = self.path / p.name
            dst.unlink(missing_ok=True)
            shutil.copyfile(p, dst)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def make_server(kind: str, root: Path):
    from infra.servers import LocalBucket, SeaweedFS

    if kind == "localbucket":
        return LocalBucket(root, domain=DOMAIN)
    return SeaweedFS(root / "seaweedfs", domain=DOMAIN)


def upload(server, model_dir: Path) -> None:
    """Puts the model into a server that does not serve the folder itself."""
    from concurrent.futures import ThreadPoolExecutor

    from ossconnector import Client

    os.environ.setdefault("OSS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("OSS_ACCESS_KEY_SECRET", "bench")
    server.create_bucket(BUCKET)
    with Client(server.endpoint, profile="checkpoint") as c:
        def put(path):
            c.put(f"oss://{BUCKET}/{PREFIX}{path.name}", path.read_bytes())
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(put, sorted(model_dir.iterdir())))


def run(args, command: str) -> dict:
    """The whole benchmark; returns the document (also used by run.py)."""
    from infra.data import PageCachePin
    from infra.servers import HostsEntry

    needs_venv = any(CLIENTS[c][2] for c in args.clients)
    peer_py = ensure_peer_venv(args.peer_venv) if needs_venv else sys.executable
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()} at the start: other work on this "
              "machine lowers and scatters the numbers", file=sys.stderr)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-model-load-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    size = int(args.size_gib * GiB)
    try:
        root = work / "buckets"
        model_dir = root / BUCKET / PREFIX.rstrip("/")
        meta_path = work / "model.json"
        model = json.loads(meta_path.read_text()) if meta_path.exists() else None
        if not model or model.get("requested") != [size, args.shards]:
            shutil.rmtree(model_dir, ignore_errors=True)
            t0 = time.perf_counter()
            model = make_model(model_dir, size, args.shards)
            model["requested"] = [size, args.shards]
            meta_path.write_text(json.dumps(model))
            print(f"model written: {len(model['shards'])} shards, {model['bytes'] / GiB:.2f} "
                  f"GiB in {time.perf_counter() - t0:.1f} s", flush=True)
        server = make_server(args.server, root)
        paths = [model_dir / s for s in model["shards"]]
        with server, PageCachePin(paths) as pin, \
                HostsEntry(f"{BUCKET}.{DOMAIN}", DOMAIN), ExitStack() as stack:
            if args.server != "localbucket":
                upload(server, model_dir)
            mount = None
            if "s3fs_fuse" in args.clients:   # unmounted on leaving, errors included
                from infra.s3fs_mount import S3fsMount

                mount = stack.enter_context(S3fsMount(server.endpoint, BUCKET, work)).path
            bench = Bench(args, work, server, model_dir, model, peer_py, mount)
            if "local_shm" in args.clients:   # removed on leaving, errors included
                bench.shm_copy = stack.enter_context(ShmCopy(Path(args.shm_dir), paths))
            mach = machine(server.version(), peer_py)
            print(json.dumps(mach), flush=True)
            series = run_rounds(bench, args.clients, args.runs)
            pinned = pin.locked
        nbytes = model["bytes"]
        summary = summarize(series, bench.file_bytes)
        doc = {"command": command, "machine": mach,
               "params": {"size_gib": args.size_gib, "shards": args.shards, "runs": args.runs,
                          "server": args.server, "page_cache_pinned": pinned},
               "shards": model["shards"], "bytes": nbytes, "file_bytes": bench.file_bytes,
               "tensors": len(model["sums"]), "layers": model["layers"],
               "series": {k: {"client": s.client, "method": s.method, "seconds": s.seconds,
                              "extra": s.extra, "errors": s.errors} for k, s in series.items()},
               "summary": summary,
               "records": records(series, server.version(), summary, bench.file_bytes)}
        doc["rows"] = rows(series, bench.file_bytes, summary)
        return doc
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None, command: str | None = None) -> int:
    args = parse_args(argv)
    command = command or shlex.join(["python3", "scripts/bench/run.py", "--scenario", "model_load",
                         *(sys.argv[1:] if argv is None else argv)])
    doc = run(args, command)
    print()
    print(format_table(doc["rows"], markdown=False))
    print(json.dumps(doc["summary"], indent=1))
    write_outputs(args, doc, DOC, MARK_START, MARK_END,
                  lambda: markdown_section(doc, doc["rows"], doc["summary"]))
    return 0


if __name__ == "__main__":
    from infra import run_main

    run_main(main)
