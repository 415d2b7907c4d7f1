"""Writes a sharded safetensors model of random bf16 weights (numpy only).

    python3 gen_model.py OUT_DIR SIZE_GIB SHARDS EXPECTED_JSON

Shapes of a 2048-wide decoder (vocab 32000; layers fill the size), tensors
split over SHARDS files in order; every file written straight in the
safetensors format (8-byte header length, JSON header padded to 8 bytes,
raw data), one thread per shard.  Writes config.json,
model.safetensors.index.json and EXPECTED_JSON: {"shards", "sums" (name ->
str of the wrap-around uint64 sum of the tensor's bytes), "bytes",
"tensors"}.  Every tensor is a multiple of 8 bytes, so load_worker.py can
take the same sum on CPU or GPU.
"""

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

GiB = 1 << 30
H, INTER, VOCAB = 2048, 5632, 32000
LAYER = [("self_attn.q_proj.weight", (H, H)), ("self_attn.k_proj.weight", (H, H)),
         ("self_attn.v_proj.weight", (H, H)), ("self_attn.o_proj.weight", (H, H)),
         ("mlp.gate_proj.weight", (INTER, H)), ("mlp.up_proj.weight", (INTER, H)),
         ("mlp.down_proj.weight", (H, INTER)), ("input_layernorm.weight", (H,)),
         ("post_attention_layernorm.weight", (H,))]


def nbytes(shape) -> int:
    return 2 * int(np.prod(shape))


def layout(size: int):
    per_layer = sum(nbytes(s) for _, s in LAYER)
    emb = nbytes((VOCAB, H))
    layers = max(1, round((size - 2 * emb) / per_layer))
    tensors = [("model.embed_tokens.weight", (VOCAB, H))]
    for i in range(layers):
        tensors += [(f"model.layers.{i}.{n}", s) for n, s in LAYER]
    tensors += [("model.norm.weight", (H,)), ("lm_head.weight", (VOCAB, H))]
    return tensors, layers


def main() -> int:
    out, size_gib, nshards, expected = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4]
    t0 = time.monotonic()
    os.makedirs(out, exist_ok=True)
    tensors, layers = layout(int(size_gib * GiB))
    total = sum(nbytes(s) for _, s in tensors)
    shards = [[] for _ in range(nshards)]
    cum = 0
    for name, shape in tensors:
        shards[min(nshards - 1, cum * nshards // total)].append((name, shape))
        cum += nbytes(shape)
    shards = [s for s in shards if s]
    names = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    sums, weight_map = {}, {}

    def write_shard(i):
        header, off = {}, 0
        for name, shape in shards[i]:
            header[name] = {"dtype": "BF16", "shape": list(shape),
                            "data_offsets": [off, off + nbytes(shape)]}
            off += nbytes(shape)
        header["__metadata__"] = {"format": "pt"}
        hb = json.dumps(header, separators=(",", ":")).encode()
        hb += b" " * (-len(hb) % 8)
        rng = np.random.default_rng(1000 + i)
        mine = {}
        with open(os.path.join(out, names[i]), "wb") as f:
            f.write(len(hb).to_bytes(8, "little"))
            f.write(hb)
            for name, shape in shards[i]:
                words = rng.integers(0, np.iinfo(np.uint64).max, size=nbytes(shape) // 8,
                                     dtype=np.uint64, endpoint=True)
                mine[name] = str(int(words.sum(dtype=np.uint64)))
                f.write(memoryview(words).cast("B"))
        return i, mine

    with ThreadPoolExecutor(len(shards)) as pool:
        for i, mine in pool.map(write_shard, range(len(shards))):
            sums.update(mine)
            weight_map.update({n: names[i] for n in mine})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "hidden_size": H,
                   "intermediate_size": INTER, "num_hidden_layers": layers, "vocab_size": VOCAB,
                   "torch_dtype": "bfloat16", "note": "random weights (gen_model.py)"}, f)
    with open(expected, "w") as f:
        json.dump({"shards": names, "sums": sums, "bytes": total, "tensors": len(sums),
                   "gen_s": round(time.monotonic() - t0, 2)}, f)
    print(f"generated {total / GiB:.2f} GiB, {len(sums)} tensors, {len(names)} shards in "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
