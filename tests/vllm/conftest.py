"""Fixtures for the real-vLLM tests: the vLLM venv (built once per machine,
vllm_venv.py), a tiny seeded model, uploaded to the session's emulator, and
what vLLM answers when it serves the model from a local directory (the
reference every other way of serving it must match)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import vllm_venv  # noqa: E402
from tests_helpers import tmp_path_on_tmpfs  # noqa: E402,F401 (tmp_path on /dev/shm)
from vllm_server import base_env, serving  # noqa: E402

HERE = Path(__file__).parent
# Shards of ~4.7 MB, 4.7 MB and 2.1 MB: all above the 1 MiB small-file
# threshold the tests set, so every shard is served from the node cache.
SHARD_BYTES = 5_000_000
SMALL_FILE_SIZE = 1 << 20
PREFIX = "models/tiny-llama/"


@pytest.fixture(scope="session")
def vllm_python(tmp_path_factory):
    try:
        return vllm_venv.ensure_venv()
    except vllm_venv.VenvUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def vllm_pythonpath(tmp_path_factory):
    """PYTHONPATH for vLLM's processes: the ossconnector under test."""
    root = tmp_path_factory.mktemp("vllm-pythonpath")
    with vllm_venv.ossconnector_path_dir(root / "path") as path:
        yield path


@pytest.fixture(scope="session")
def tiny_model(vllm_python, tmp_path_factory):
    """(local directory, {file name: size})."""
    out = tmp_path_factory.mktemp("tiny-model") / "model"
    proc = subprocess.run([str(vllm_python), str(HERE / "make_tiny_model.py"), str(out),
                           str(SHARD_BYTES)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    sizes = json.loads(proc.stdout.strip().splitlines()[-1])
    shards = [n for n in sizes if n.endswith(".safetensors")]
    assert len(shards) >= 3 and all(sizes[n] > SMALL_FILE_SIZE for n in shards), sizes
    return out, sizes


@pytest.fixture(scope="session")
def model_bucket(emu, tiny_model):
    """The tiny model uploaded under PREFIX in a bucket of its own."""
    from ossconnector.emulator.testing import unique_bucket_name

    local, sizes = tiny_model
    bucket = emu.create_bucket(unique_bucket_name("vllm"))
    for name in sizes:
        emu.put_object(bucket, PREFIX + name, (local / name).read_bytes())
    yield bucket
    emu.delete_bucket(bucket)


@pytest.fixture(scope="session")
def reference(vllm_python, vllm_pythonpath, tiny_model, tmp_path_factory):
    """vLLM's completions for the model served from its local directory."""
    local, _ = tiny_model
    log = tmp_path_factory.mktemp("vllm-local") / "vllm.log"
    with serving(vllm_python, str(local), base_env(vllm_pythonpath), log) as server:
        result = server.complete(str(local))
        assert server.stop() == 0, server.log_tail()
    return result
