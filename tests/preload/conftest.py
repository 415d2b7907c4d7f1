"""Fixtures for LD_PRELOAD tests: a model uploaded under a fresh prefix."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from preload_helpers import upload_toy_model  # noqa: E402
from tests_helpers import tmpfs_tmp_path  # noqa: E402


@pytest.fixture
def tmp_path(request, tmp_path_factory):
    """On /dev/shm: caches made under tmp_path then live on tmpfs, as the
    cache does by default, so these tests cover the path that ships."""
    yield from tmpfs_tmp_path(request, tmp_path_factory)


@pytest.fixture
def toy_model(emu, bucket, tmp_path):
    return {**upload_toy_model(emu, bucket, tmp_path), "model_dir": tmp_path / "model"}
