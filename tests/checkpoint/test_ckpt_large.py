"""A state dict larger than 2 GiB — with one tensor over 2 GiB, so single
reads and writes cross 2**31 bytes — saved and loaded byte for byte, with
OssCheckpoint and with DCP.  Slow through the Python emulator (minutes):
run with OSSC_SLOW_TESTS=1."""

import os

import pytest
import torch
import torch.distributed.checkpoint as DCP

from ossconnector.checkpoint import OssCheckpoint, OssFileSystem

from tests_helpers import write_config

GiB = 1 << 30

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("OSSC_SLOW_TESTS") != "1",
                       reason="slow (>2 GiB through the emulator): set OSSC_SLOW_TESTS=1"),
    pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning"),
]


def big_state():
    huge = torch.arange((2 * GiB + (8 << 20)) // 4, dtype=torch.int32)   # 2 GiB + 8 MiB
    return {"huge": huge, "w": torch.arange(3 << 20, dtype=torch.float32) * 0.5,
            "b": torch.arange(1000, dtype=torch.int64), "step": 12345}


def check(sd, got):
    assert got.keys() == sd.keys()
    for k, v in sd.items():
        assert torch.equal(v, got[k]) if isinstance(v, torch.Tensor) else v == got[k], k


@pytest.fixture
def big_config(tmp_path):
    return write_config(tmp_path, http={"partSize": 8 << 20})


def test_over_2gib_round_trip(emu, bucket, cred_file, big_config, oss2b):
    import oss2

    ck = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=big_config)
    sd = big_state()
    uri = f"oss://{bucket}/big/ckpt.pt"
    with ck.writer(uri) as w:
        torch.save(sd, w)
    assert w.tell() > 2 * GiB
    with ck.reader(uri) as r:
        assert r.size == w.tell()
        got = torch.load(r, weights_only=True, mmap=False)
    check(sd, got)
    assert list(oss2.MultipartUploadIterator(oss2b)) == []


def test_over_2gib_dcp(emu, bucket, cred_file, big_config):
    fs = OssFileSystem(emu.endpoint, cred_path=cred_file, config_path=big_config)
    sd = big_state()
    uri = f"oss://{bucket}/big-dcp"
    DCP.save(sd, storage_writer=fs.writer(uri))
    got = {k: torch.zeros_like(v) if isinstance(v, torch.Tensor) else None for k, v in sd.items()}
    DCP.load(got, storage_reader=fs.reader(uri))
    check(sd, got)
