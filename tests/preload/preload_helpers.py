"""Helpers for LD_PRELOAD tests: the library path, the environment that
turns the interposer on, running a program under it, and small models."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from ossconnector.preload import library_path
from tests_helpers import read_tree

LIB = library_path()


def preload_env(emu, bucket, prefix, model_dir, cache_dir, **extra):
    env = dict(os.environ)
    env.update(
        LD_PRELOAD=LIB,
        ENABLE_CONNECTOR="1",
        OSS_ACCESS_KEY_ID=emu.access_key_id,
        OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
        OSS_ENDPOINT=emu.endpoint,
        OSS_PATH=f"oss://{bucket}/{prefix}",
        MODEL_DIR=str(model_dir),
        OSSC_CACHE_DIR=str(cache_dir),
        OSSC_SMALL_FILE_SIZE="64K",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fast_fail_config(tmp_path, max_retries=2):
    """A connector config, written to tmp_path, that gives up on a failing
    server within seconds: max_retries retries 50-200 ms apart, 1 s to
    connect, 3 s without a byte.  Logs to tmp_path/connector.log, no audit
    log.  Returns its path, for OSS_CONNECTOR_CONFIG."""
    cfg = tmp_path / "connector-config.json"
    cfg.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"), "auditPath": "",
                               "http": {"maxRetries": max_retries, "retryBaseMs": 50,
                                        "retryMaxMs": 200, "connectTimeoutMs": 1000,
                                        "lowSpeedTimeoutSec": 3}}))
    return str(cfg)


def run(args, env, timeout=300, check=True):
    """Runs a command (list) or Python code (str) under the given env."""
    cmd = [sys.executable, "-c", args] if isinstance(args, str) else args
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd[:3]} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr[-5000:]}")
    return proc


def make_sharded_model(local_dir, shards=3, rows=256, seed=0):
    """A safetensors model of `shards` shards + index + config, written to
    local_dir; returns {relative path: bytes}."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    os.makedirs(local_dir, exist_ok=True)
    weight_map = {}
    for s in range(shards):
        name = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"layer{s}.{k}": torch.randn(rows, 128 + 64 * k, generator=g) for k in range(3)}
        tensors[f"layer{s}.ids"] = torch.arange(1000 * (s + 1), dtype=torch.int64)
        save_file(tensors, os.path.join(local_dir, name), metadata={"format": "pt"})
        weight_map.update({k: name for k in tensors})
    with open(os.path.join(local_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f)
    with open(os.path.join(local_dir, "config.json"), "w") as f:
        json.dump({"model_type": "toy", "shards": shards}, f)
    return read_tree(local_dir)


def upload(emu, bucket, prefix, files):
    for rel, data in files.items():
        emu.put_object(bucket, prefix + rel, data)


def upload_toy_model(emu, bucket, tmp_path, prefix="models/toy/"):
    """A make_sharded_model model written to tmp_path/local-model and
    uploaded under prefix, the emulator's stats reset after; returns what
    the toy_model fixtures share: local, files, prefix and cache (a
    directory path under tmp_path)."""
    local = tmp_path / "local-model"
    files = make_sharded_model(str(local))
    upload(emu, bucket, prefix, files)
    emu.reset_stats()
    return {"local": local, "files": files, "prefix": prefix, "cache": tmp_path / "cache"}


def served_bytes(emu, bucket, prefix):
    objects = emu.stats()["objects"].get(bucket, {})
    return sum(v["bytes_sent"] for k, v in objects.items() if k.startswith(prefix))
