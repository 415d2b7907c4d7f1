"""Shared fixtures: one emulator subprocess per session, a fresh bucket per
test, and clients of ours and of oss2 pointed at it."""

from __future__ import annotations

import json
import os

import pytest

from ossconnector.emulator.testing import oss2_bucket, running_emulator, unique_bucket_name

PART_SIZE = 1 << 20  # small parts so multi-part paths run on small objects


@pytest.fixture(scope="session")
def emu():
    with running_emulator(min_part_size=100 * 1024) as emulator:
        yield emulator


@pytest.fixture
def bucket(emu):
    name = emu.create_bucket(unique_bucket_name())
    yield name
    emu.delete_bucket(name)


@pytest.fixture
def cred_file(emu, tmp_path):
    path = tmp_path / "credentials"
    path.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                "AccessKeySecret": emu.access_key_secret}))
    os.chmod(path, 0o600)
    return str(path)


def write_config(tmp_path, **overrides):
    """A config.json for tests: small parts, logs under tmp_path."""
    cfg = {
        "logLevel": 1,
        "logPath": str(tmp_path / "connector.log"),
        "auditPath": str(tmp_path / "audit.log"),
        "prefetch": {"vcpus": 2, "workers": 8},
        "http": {"partSize": PART_SIZE, "retryBaseMs": 10, "retryMaxMs": 200,
                 "connectTimeoutMs": 2000, "lowSpeedTimeoutSec": 5},
    }
    for key, value in overrides.items():
        if isinstance(value, dict):
            cfg.setdefault(key, {}).update(value)
        else:
            cfg[key] = value
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


@pytest.fixture
def config_file(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def client(emu, cred_file, config_file):
    from ossconnector import Client

    c = Client(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()


@pytest.fixture
def oss2b(emu, bucket):
    """oss2's Bucket on the same bucket: the reference client."""
    return oss2_bucket(emu, bucket)
