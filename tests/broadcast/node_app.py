#!/usr/bin/env python3
"""The application of one broadcast test node (nodes.py): loads every
safetensors file of the model directory with safetensors (mmap, as
frameworks do), sha256s every file (read), writes what it saw to a JSON
file, then stays until a release file exists (a serving framework keeps its
process; the node's cache, and so its chunk server, lives as long as it).

    node_app.py --model-dir DIR --result FILE --release FILE [--prepare oss://b/p/ --config C]

Run under LD_PRELOAD (the interposer mirrors MODEL_DIR), or with
``--prepare``: ``OssModelConnector.prepare_directory(uri, DIR)`` first (the
Python API; credentials and endpoint from the environment).

The result: ``{"pid", "files": {rel: sha256}, "tensors": {name: "dtype
shape sha256"}}``, written to FILE.tmp and renamed."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

RELEASE_POLL_S = 0.05  # how often the release file is looked for


def tensor_digest(array) -> str:
    return f"{array.dtype} {list(array.shape)} {hashlib.sha256(array.tobytes()).hexdigest()}"


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def model_files(model_dir: str) -> list:
    """Relative paths of the model's files (not the connector's manifest)."""
    out = []
    for root, _dirs, names in os.walk(model_dir):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), model_dir)
            if not n.startswith(".ossc"):
                out.append(rel)
    return sorted(out)


def load(model_dir: str) -> dict:
    from safetensors import safe_open

    files = model_files(model_dir)
    tensors = {}
    for rel in files:
        if rel.endswith(".safetensors"):
            with safe_open(os.path.join(model_dir, rel), framework="np") as f:
                for name in f.keys():
                    tensors[name] = tensor_digest(f.get_tensor(name))
    digests = {rel: file_digest(os.path.join(model_dir, rel)) for rel in files}
    return {"pid": os.getpid(), "files": digests, "tensors": tensors}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--release", required=True)
    p.add_argument("--prepare", help="oss:// URI: prepare_directory it into --model-dir first")
    p.add_argument("--config", default="", help="config.json for the Python API")
    args = p.parse_args()
    runner = os.getppid()  # the test; if it dies (SIGKILLed pytest) this node ends too

    connector = None
    if args.prepare:
        from ossconnector.model import OssModelConnector

        connector = OssModelConnector(os.environ["OSS_ENDPOINT"], config_path=args.config)
        connector.prepare_directory(args.prepare, args.model_dir)
    result = load(args.model_dir)
    tmp = args.result + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, args.result)
    while not os.path.exists(args.release) and os.getppid() == runner:
        time.sleep(RELEASE_POLL_S)
    if connector is not None:
        connector.close()


if __name__ == "__main__":
    main()
