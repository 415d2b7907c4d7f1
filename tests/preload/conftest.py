"""Fixtures for LD_PRELOAD tests: a model uploaded under a fresh prefix."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from preload_helpers import make_sharded_model, upload  # noqa: E402


@pytest.fixture
def toy_model(emu, bucket, tmp_path):
    local = tmp_path / "local-model"
    files = make_sharded_model(str(local))
    upload(emu, bucket, "models/toy/", files)
    emu.reset_stats()
    return {"local": local, "files": files, "prefix": "models/toy/",
            "model_dir": tmp_path / "model", "cache": tmp_path / "cache"}
