"""Fixtures for the dataset tests: objects in the emulator and the keyword
arguments every dataset constructor takes."""

from __future__ import annotations

import pytest

from tests_helpers import write_config


@pytest.fixture
def ds_kwargs(emu, cred_file, config_file):
    """endpoint/cred_path/config_path for dataset constructors."""
    return {"endpoint": emu.endpoint, "cred_path": cred_file, "config_path": config_file}


@pytest.fixture
def config_with(tmp_path):
    """config_with(**overrides) -> path of a test config.json with them."""
    counter = [0]

    def make(**overrides):
        counter[0] += 1
        d = tmp_path / f"cfg{counter[0]}"
        d.mkdir()
        return write_config(d, **overrides)

    return make


@pytest.fixture
def objects(emu, bucket):
    """objects(n, prefix="data/", size=lambda i: ...) puts n objects with
    distinct contents and returns {oss:// URI: bytes}."""

    def make(n, prefix="data/", size=lambda i: 700 + 37 * i):
        out = {}
        for i in range(n):
            key = f"{prefix}{i:05d}.bin"
            body = (f"{key}|".encode() * (size(i) // (len(key) + 1) + 1))[:size(i)]
            emu.put_object(bucket, key, body)
            out[f"oss://{bucket}/{key}"] = body
        return out

    return make
