"""Shared fixtures for the emulator tests: one emulator subprocess per session."""

import pytest

from ossconnector.emulator.testing import oss2_bucket, running_emulator, unique_bucket_name

ACCESS_KEY_ID = "test-ak-id"
ACCESS_KEY_SECRET = "test-ak-secret"
STS_ACCESS_KEY_ID = "STS.test-temporary-id"
STS_ACCESS_KEY_SECRET = "test-temporary-secret"
DOMAIN = "ossemu.test"
REGION = "cn-hangzhou"


@pytest.fixture(scope="session")
def emu():
    with running_emulator(access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET,
                          region=REGION, domain=DOMAIN,
                          extra_credentials={STS_ACCESS_KEY_ID: STS_ACCESS_KEY_SECRET}) as e:
        yield e


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "emu" in request.fixturenames:
        request.getfixturevalue("emu").faults.clear()


@pytest.fixture
def bucket_name(emu):
    name = unique_bucket_name()
    emu.create_bucket(name)
    yield name
    emu.delete_bucket(name)


@pytest.fixture
def bucket(emu, bucket_name):
    """oss2 Bucket using V1 signatures."""
    return oss2_bucket(emu, bucket_name)


@pytest.fixture
def bucket_v4(emu, bucket_name):
    """oss2 Bucket using V4 signatures (same bucket as ``bucket``)."""
    return oss2_bucket(emu, bucket_name, auth_version="v4")


@pytest.fixture(scope="session")
def sts_credentials():
    """(access key id, secret) of a temporary (STS.*) credential the emulator accepts."""
    return STS_ACCESS_KEY_ID, STS_ACCESS_KEY_SECRET
