"""Every Python read path that assembles an object from ranged GETs checks
the bytes it serves: a body corrupted in transit (the emulator flips bytes
but keeps the object's x-oss-hash-crc64ecma) raises OssIntegrityError
naming the object, at the latest from the read that completes the
coverage of the object, instead of serving the corrupted bytes; a clean
object read with each path's own access pattern (out of order and
overlapping where the path does so) raises nothing, is checked, and costs
no request more than before.

Paths: the checkpoint reader (blocks, direct slices; torch.load), a DCP
load (batches of one data file), the model connector's prefetched chunks
(read, readinto, mmap), a dataset item of unknown size read in two GETs
(the guess buffer, then the rest)."""

from __future__ import annotations

import io
import os

import pytest

from ossconnector.errors import OssIntegrityError
from tests_helpers import PART_SIZE

MiB = 1 << 20
SIZE = 5 * MiB + 12345  # several blocks, chunks and slices; not aligned


@pytest.fixture
def blob(emu, bucket):
    data = os.urandom(SIZE)
    emu.put_object(bucket, "blob.bin", data)
    return data


@pytest.fixture
def ckpt(emu, cred_file, config_file):
    from ossconnector.checkpoint import OssCheckpoint

    c = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()


def corrupt_first_get(emu, bucket, key, offset=1000, count=1):
    """The first ``count`` GETs of ``key`` to reach the server get bytes
    flipped (at ``offset`` in their body, where it is that long)."""
    emu.faults.corrupt(offset=offset, length=4, count=count, bucket=bucket, key=key,
                       method="GET")


def gets(emu, bucket, key):
    return emu.object_stats(bucket, key).get("GET", 0)


# -- checkpoint reader ---------------------------------------------------------


def assert_corruption_sticks(f, reads):
    """reads(f) raises OssIntegrityError naming blob.bin and its CRC-64,
    and every later read raises as well, even from the start."""
    with pytest.raises(OssIntegrityError, match="blob.bin.*CRC-64"):
        reads(f)
    f.seek(0)
    with pytest.raises(OssIntegrityError, match="blob.bin"):
        f.read(10)


def torch_like_reads(f):
    """What torch.load does, plus a jump back over bytes read before: a few
    bytes at the start, the end, small headers and large readintos in
    file order, and an overlapping re-read."""
    out = bytearray(SIZE)
    view = memoryview(out)
    f.seek(0)
    f.readinto(view[:64])
    f.seek(SIZE - 22)
    f.readinto(view[SIZE - 22:])
    f.seek(64)
    f.readinto(view[64:94])                        # a local header
    f.readinto(view[94:3 * MiB + 7])               # a tensor: direct slices
    f.readinto(view[3 * MiB + 7:3 * MiB + 37])     # the next header (cached block)
    f.seek(3 * MiB - 100)                          # overlapping re-read
    f.readinto(bytearray(300))
    f.seek(3 * MiB + 37)
    f.readinto(view[3 * MiB + 37:SIZE - 22])
    return bytes(out)


def test_checkpoint_reader_corruption_raises(emu, bucket, blob, ckpt):
    corrupt_first_get(emu, bucket, "blob.bin")
    with ckpt.reader(f"oss://{bucket}/blob.bin") as f:
        assert_corruption_sticks(f, torch_like_reads)


def test_checkpoint_reader_clean_object_is_checked(emu, bucket, blob, ckpt):
    with ckpt.reader(f"oss://{bucket}/blob.bin") as f:
        assert torch_like_reads(f) == blob
        assert f._object_check.verified_crc is not None


def test_torch_load_of_corrupted_checkpoint_raises(emu, bucket, ckpt):
    torch = pytest.importorskip("torch")
    state = {"w": torch.randn(3 * MiB // 4), "b": torch.arange(1000)}
    buf = io.BytesIO()
    torch.save(state, buf)
    emu.put_object(bucket, "model.pt", buf.getvalue())
    with ckpt.reader(f"oss://{bucket}/model.pt") as f:
        loaded = torch.load(f, weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and torch.equal(loaded["b"], state["b"])
    # The first GET is the block at offset 0: byte 200000 lies in w's data,
    # so nothing but the CRC can notice.
    corrupt_first_get(emu, bucket, "model.pt", offset=200_000)
    with ckpt.reader(f"oss://{bucket}/model.pt") as f:
        # torch 2.x turns an exception raised by readinto inside its zip
        # reader into "AttributeError: ... has no attribute 'read'"; what
        # matters is that the load fails and the reader says why.
        with pytest.raises((OssIntegrityError, AttributeError)):
            torch.load(f, weights_only=True)
        f.seek(0)
        with pytest.raises(OssIntegrityError, match="model.pt.*CRC-64"):
            f.read(1)


# -- DCP -------------------------------------------------------------------------


def dcp_state(torch):
    g = torch.Generator().manual_seed(3)
    sd = {f"layer{i}.weight": torch.randn(256, 300 + i, generator=g) for i in range(6)}
    sd["big"] = torch.randn(17 * MiB // 4, generator=g)  # a large item: streamed
    sd["step"] = 11
    return sd


def test_dcp_load_of_corrupted_data_file_raises(emu, bucket, cred_file, config_file, ckpt):
    torch = pytest.importorskip("torch")
    DCP = pytest.importorskip("torch.distributed.checkpoint")
    from osstorchconnector import OssFileSystem

    fs = OssFileSystem(emu.endpoint, cred_path=cred_file, config_path=config_file)
    uri = f"oss://{bucket}/dcp"
    sd = dcp_state(torch)
    DCP.save(sd, storage_writer=fs.writer(uri))
    data = [o.key for o in ckpt.client.list(f"{uri}/") if o.key.endswith(".distcp")]
    assert len(data) == 1

    clean = {k: torch.zeros_like(v) if torch.is_tensor(v) else 0 for k, v in sd.items()}
    DCP.load(clean, storage_reader=fs.reader(uri))
    assert all(torch.equal(clean[k], v) for k, v in sd.items() if torch.is_tensor(v))

    # Every GET of the data file: which ranges a load fetches, and which it
    # drops unread, depends on timing (a dropped one serves no byte).
    corrupt_first_get(emu, bucket, data[0], offset=5000, count=1000)
    loaded = {k: torch.zeros_like(v) if torch.is_tensor(v) else 0 for k, v in sd.items()}
    with pytest.raises(DCP.CheckpointException) as info:
        DCP.load(loaded, storage_reader=fs.reader(uri))
    (exc, _), = info.value.failures.values()
    assert isinstance(exc, OssIntegrityError) and data[0] in str(exc) and "CRC-64" in str(exc)


# -- model connector: prefetched chunks ------------------------------------------


@pytest.fixture
def connector(emu, cred_file, config_file):
    from ossmodelconnector import OssModelConnector

    c = OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file)
    yield c
    c.close()


def model_reads(obj):
    """Out of order and overlapping: the end, the start, a readinto across
    chunk boundaries, a readline, then the rest."""
    out = bytearray(SIZE)
    obj.seek(SIZE - 100)
    out[SIZE - 100:] = obj.read()
    obj.seek(0)
    out[:10] = obj.read(10)
    obj.seek(MiB - 5)
    obj.readinto(memoryview(out)[MiB - 5:2 * MiB + 5])
    obj.seek(2 * MiB)
    obj.readline()
    obj.seek(10)
    obj.readinto(memoryview(out)[10:SIZE - 100])
    return bytes(out)


def test_model_prefetch_corruption_raises(emu, bucket, blob, connector):
    corrupt_first_get(emu, bucket, "blob.bin", count=1000)
    with connector.open(f"oss://{bucket}/blob.bin") as obj:
        assert_corruption_sticks(obj, model_reads)


def test_model_mmap_of_corrupted_object_raises(emu, bucket, blob, connector):
    corrupt_first_get(emu, bucket, "blob.bin", count=1000)
    with connector.open(f"oss://{bucket}/blob.bin") as obj:
        with pytest.raises(OssIntegrityError, match="blob.bin"):
            obj.mmap()


def test_model_prefetch_clean_object_is_checked(emu, bucket, blob, connector):
    emu.reset_stats()  # the model connector's chunks are http.partSize long
    with connector.open(f"oss://{bucket}/blob.bin") as obj:
        assert model_reads(obj) == blob
        assert obj._buf.check.verified_crc is not None
        address = obj.mmap()
        import ctypes
        assert bytes((ctypes.c_ubyte * SIZE).from_address(address)) == blob
    assert gets(emu, bucket, "blob.bin") == -(-SIZE // PART_SIZE)  # one GET per chunk


# -- datasets: an item of unknown size read in two GETs --------------------------


def test_dataset_item_read_in_two_gets_corruption_raises(emu, bucket, blob, ds_kwargs):
    from ossconnector.datasets import OssMapDataset

    # Unknown size: a 1 MiB guess read (full), a HEAD, then the rest.  The
    # guess read is the first GET.
    corrupt_first_get(emu, bucket, "blob.bin", offset=4096)
    ds = OssMapDataset.from_objects([f"oss://{bucket}/blob.bin"], **ds_kwargs)
    with pytest.raises(OssIntegrityError, match="blob.bin.*CRC-64"):
        ds[0]


def test_dataset_item_read_in_two_gets_clean(emu, bucket, blob, ds_kwargs):
    from ossconnector.datasets import OssMapDataset

    ds = OssMapDataset.from_objects([f"oss://{bucket}/blob.bin"], **ds_kwargs)
    emu.reset_stats()
    assert ds[0].read() == blob
    # The guess, then the rest in http.partSize parts: none more.
    assert gets(emu, bucket, "blob.bin") == 1 + -(-(SIZE - MiB) // PART_SIZE)


@pytest.fixture
def ds_kwargs(emu, cred_file, config_file):
    return {"endpoint": emu.endpoint, "cred_path": cred_file, "config_path": config_file}
