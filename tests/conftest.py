"""Shared fixtures: one emulator subprocess per session, a fresh bucket per
test, and clients of ours and of oss2 pointed at it."""

from __future__ import annotations

import json
import os
import signal

import pytest

from ossconnector.emulator.testing import oss2_bucket, running_emulator, unique_bucket_name

from tests_helpers import EMULATOR_DOMAIN, write_config


# A shell runs a background job ("make test &", CI launched with "&") with
# SIGINT ignored, and an ignored signal stays ignored across exec: every
# child would then ignore Ctrl-C, and the tests that send it (cp's exit
# status 130, an interrupted prepare_directory) would see their programs run
# on.  The suite's processes get the disposition a terminal gives them.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def emu():
    with running_emulator(min_part_size=100 * 1024, domain=EMULATOR_DOMAIN) as emulator:
        yield emulator


@pytest.fixture
def bucket(emu):
    # Faults are global to the emulator: none may leak from one test into the next.
    emu.faults.clear()
    name = emu.create_bucket(unique_bucket_name())
    yield name
    emu.faults.clear()
    emu.delete_bucket(name)


@pytest.fixture
def cred_file(emu, tmp_path):
    path = tmp_path / "credentials"
    path.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                "AccessKeySecret": emu.access_key_secret}))
    os.chmod(path, 0o600)
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


@pytest.fixture
def hosts_entry():
    """Adds '127.0.0.1 NAME' lines to /etc/hosts for the test and removes
    exactly those lines afterwards (skips when /etc/hosts is not writable)."""
    path = "/etc/hosts"
    if not os.access(path, os.W_OK):
        pytest.skip("/etc/hosts is not writable: cannot resolve virtual-hosted names")
    added = []

    def add(name):
        line = f"127.0.0.1 {name}  # ossconnector-test\n"
        with open(path, "a") as f:
            f.write(line)
        added.append(line)

    yield add
    with open(path) as f:
        lines = f.readlines()
    with open(path, "w") as f:
        f.writelines(l for l in lines if l not in added)


@pytest.fixture(autouse=True)
def _no_fault_leaks(request):
    """Whatever a test injected into the shared emulator ends with it."""
    yield
    if "emu" in request.fixturenames:
        request.getfixturevalue("emu").faults.clear()
