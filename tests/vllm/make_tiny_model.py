"""Writes a tiny seeded Llama model to a directory (run by the vLLM venv's
python: its transformers is the one vLLM reads the files with).

Usage: make_tiny_model.py DIR SHARD_BYTES

- random weights (seed 0, std 0.2 so that logits differ), float32, saved as
  safetensors shards of about SHARD_BYTES each plus the index;
- a word-level tokenizer built locally with ``tokenizers`` (no download):
  ``tokenizer.json`` and ``tokenizer_config.json``, 1,000 words.
Prints the files written, one per line, as JSON {name: size}.
"""

import json
import os
import sys

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

WORDS = ("the a quick brown fox jumps over lazy dog and of to in is it that was he for on are "
         "as with his they at be this from have or by one had not but what all were when we "
         "there can an your which their said if do will each about how up out them then she "
         "many some so these would other into has more her two like him see time could no make "
         "than first been its who now people my made over did down only way find use may water "
         "long little very after words called just where most know").split()
VOCAB = 1000


def main(out_dir: str, shard_bytes: int) -> None:
    os.makedirs(out_dir, exist_ok=True)
    specials = ["<unk>", "<s>", "</s>"]
    words = list(dict.fromkeys(WORDS))
    words += [f"w{i}" for i in range(VOCAB - len(specials) - len(words))]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(out_dir)

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=256, intermediate_size=512,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, initializer_range=0.2,
                         tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                         torch_dtype="float32")
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(out_dir, max_shard_size=shard_bytes, safe_serialization=True)
    print(json.dumps({n: os.path.getsize(os.path.join(out_dir, n))
                      for n in sorted(os.listdir(out_dir))}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
