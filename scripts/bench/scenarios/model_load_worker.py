"""One timed model load, run in a fresh process by scenarios/model_load.py.

    python model_load_worker.py '<json spec>'

The spec names the client and where the model is.  The process imports
torch and safetensors, loads every shard the client's way, then reads every
byte of every tensor once (a 64-bit wrap-around sum per tensor: it touches
every page of mmap-backed tensors and lets the parent check the data), and
prints one line ``RESULT {json}`` with ``time.monotonic()`` (CLOCK_MONOTONIC,
comparable between processes) after the imports and after the last tensor
was summed.  Checking the sums against the expected ones is the parent's
job, after the clock stopped.

This file runs in the peers' virtual environment too (the product's binary
is installed there), so it imports nothing of this repository at module
level.
"""

from __future__ import annotations

import json
import os
import sys
import time

T_START = time.monotonic()

import numpy as np  # noqa: E402
import safetensors.torch as st  # noqa: E402
import torch  # noqa: E402

T_IMPORTED = time.monotonic()


def tensor_sum(t: "torch.Tensor") -> int:
    """Wrap-around sum of the tensor's bytes as little-endian uint64 words
    (every tensor of the generated model is a multiple of 8 bytes)."""
    raw = t.contiguous().view(-1).view(torch.uint8).numpy()
    return int(raw.view(np.uint64).sum(dtype=np.uint64))


def shard_files(directory: str, shards: list[str]) -> list[str]:
    return [os.path.join(directory, name) for name in shards]


# ------------------------------------------------------------------ clients
# Each returns {tensor name: tensor} for one shard, or yields them.

def load_local(spec: dict):
    """safetensors.torch.load_file on local files (the floor, and
    LD_PRELOAD's MODEL_DIR)."""
    for path in shard_files(spec["dir"], spec["shards"]):
        yield st.load_file(path)


def load_oss2(spec: dict):
    """oss2: every shard downloaded to a local directory (one thread per
    shard, ``get_object_to_file``), then safetensors.torch.load_file."""
    from concurrent.futures import ThreadPoolExecutor

    import oss2

    bucket = oss2.Bucket(oss2.Auth("bench", "bench"), spec["endpoint"], spec["bucket"],
                         enable_crc=False, session=oss2.Session(pool_size=len(spec["shards"])))
    os.makedirs(spec["download_dir"], exist_ok=True)

    def fetch(name):
        bucket.get_object_to_file(spec["prefix"] + name, os.path.join(spec["download_dir"], name))

    with ThreadPoolExecutor(spec.get("threads", 8)) as pool:
        list(pool.map(fetch, spec["shards"]))
    for path in shard_files(spec["download_dir"], spec["shards"]):
        yield st.load_file(path)


def _checkpoint(spec: dict):
    from osstorchconnector import OssCheckpoint

    kw = {"region": spec["region"]} if spec.get("region") else {}
    return OssCheckpoint(spec["endpoint"], cred_path=spec["cred"], config_path=spec["config"],
                         **kw)


def load_checkpoint_bytes(spec: dict):
    """``OssCheckpoint(...).reader(uri).read()`` per shard, then
    ``safetensors.torch.load(bytes)``.  ``osstorchconnector`` is the
    product's binary in the peers' venv and our drop-in package in ours."""
    ck = _checkpoint(spec)
    for name in spec["shards"]:
        with ck.reader(f"oss://{spec['bucket']}/{spec['prefix']}{name}") as r:
            data = r.read()
        yield st.load(data)
        del data


def load_oss_safetensor(spec: dict):
    """The product's own ``OssSafetensor(...).load_file(uri)`` per shard."""
    from osstorchconnector import OssSafetensor

    s = OssSafetensor(spec["endpoint"], cred_path=spec["cred"], config_path=spec["config"],
                      region=spec["region"])
    for name in spec["shards"]:
        yield s.load_file(f"oss://{spec['bucket']}/{spec['prefix']}{name}")


def load_runai(spec: dict):
    """Run:ai ``SafetensorsStreamer.stream_files`` over all shards (S3 API,
    path-style); the streamer reuses its buffers, so every tensor is copied
    out (``clone``) as a loader copying into model parameters would."""
    from runai_model_streamer import SafetensorsStreamer

    uris = [f"s3://{spec['bucket']}/{spec['prefix']}{name}" for name in spec["shards"]]
    with SafetensorsStreamer() as streamer:
        streamer.stream_files(uris)
        yield {name: t.clone() for name, t in streamer.get_tensors()}


CLIENTS = {
    "local": load_local,
    "oss2": load_oss2,
    "checkpoint_bytes": load_checkpoint_bytes,
    "oss_safetensor": load_oss_safetensor,
    "runai": load_runai,
}


def main() -> int:
    spec = json.loads(sys.argv[1])
    sums: dict[str, int] = {}
    nbytes = 0
    kept = []  # every tensor stays alive until the end, as in a loaded model
    t_first = None
    for tensors in CLIENTS[spec["how"]](spec):
        if t_first is None:
            t_first = time.monotonic()
        for name, t in tensors.items():
            sums[name] = tensor_sum(t)
            nbytes += t.numel() * t.element_size()
        kept.append(tensors)
    t_done = time.monotonic()
    print("RESULT " + json.dumps({
        "t_start": T_START, "t_imported": T_IMPORTED, "t_first_shard": t_first,
        "t_done": t_done, "tensors": len(sums), "bytes": nbytes,
        "sums": {k: str(v) for k, v in sums.items()}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
