"""Fixtures for LD_PRELOAD tests: a model uploaded under a fresh prefix."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from preload_helpers import upload_toy_model  # noqa: E402
from tests_helpers import tmp_path_on_tmpfs  # noqa: E402,F401 (tmp_path on /dev/shm)


@pytest.fixture
def toy_model(emu, bucket, tmp_path):
    return {**upload_toy_model(emu, bucket, tmp_path), "model_dir": tmp_path / "model"}
