"""Fixtures for the checkpoint tests."""

import pytest

from ossconnector.checkpoint import OssCheckpoint


@pytest.fixture
def ckpt(emu, cred_file, config_file):
    """An OssCheckpoint on the emulator, closed after the test."""
    c = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()
