"""OssCheckpoint streams: torch.save/torch.load round trips, the reader's
seek/readinto behaviour, use as a plain uploader/downloader, bad input and
the checkpointConfig concurrency settings."""

import io
import os
import pickle
import random
import time

import pytest
import torch

from ossconnector.checkpoint import CheckpointReader, OssCheckpoint

from tests_helpers import write_config

MiB = 1 << 20


def state_dict(n_layers=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {f"layers.{i}.weight": torch.randn(128 * (i + 1), 1024, generator=g)
          for i in range(n_layers)}
    sd.update({f"layers.{i}.bias": torch.randn(17, generator=g) for i in range(n_layers)})
    sd["half"] = torch.randn(1000, 333, generator=g).half()
    sd["ints"] = torch.arange(100_000, dtype=torch.int64)
    sd["view"] = sd["ints"][10:20]          # shares storage with "ints"
    sd["empty"] = torch.empty(0)
    sd["epoch"] = 3
    sd["optimizer"] = {"lr": 0.1, "betas": (0.9, 0.999), "step": torch.tensor(42)}
    return sd


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    else:
        assert a == b


def torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("load_kwargs", [{}, {"weights_only": True}, {"mmap": False},
                                         {"weights_only": True, "mmap": False,
                                          "map_location": "cpu"}])
def test_save_load_round_trip(ckpt, bucket, load_kwargs):
    sd = state_dict()
    uri = f"oss://{bucket}/checkpoint/epoch.1"
    with ckpt.writer(uri) as writer:
        torch.save(sd, writer)
    with ckpt.reader(uri) as reader:
        assert reader.size == len(torch_bytes(sd)) > 6 * MiB
        loaded = torch.load(reader, **load_kwargs)
    assert_same(sd, loaded)
    assert loaded["view"].untyped_storage().data_ptr() == loaded["ints"].untyped_storage().data_ptr()


def test_object_is_byte_identical_to_local_save(ckpt, client, bucket):
    sd = state_dict(seed=1)
    with ckpt.writer(f"oss://{bucket}/c") as writer:
        torch.save(sd, writer)
    assert client.get(f"oss://{bucket}/c") == torch_bytes(sd)


def test_reader_streams_each_byte_once(ckpt, emu, bucket):
    sd = state_dict(n_layers=10, seed=2)
    data = torch_bytes(sd)
    emu.put_object(bucket, "c", data)
    emu.reset_stats()
    with ckpt.reader(f"oss://{bucket}/c") as reader:
        assert_same(sd, torch.load(reader, weights_only=True))
    # Headers are served from cached blocks, tensors fetched straight into
    # their storage: no byte is downloaded twice.
    assert emu.object_stats(bucket, "c")["bytes_sent"] <= len(data)


def test_reader_seek_readinto(ckpt, emu, bucket):
    data = os.urandom(7 * MiB + 12345)
    emu.put_object(bucket, "blob", data)
    with ckpt.reader(f"oss://{bucket}/blob") as r:
        assert isinstance(r, CheckpointReader) and isinstance(r, io.RawIOBase)
        assert r.readable() and r.seekable() and not r.writable()
        assert (r.bucket, r.key, r.uri, r.size, len(r)) == (
            bucket, "blob", f"oss://{bucket}/blob", len(data), len(data))
        assert r.read(4) == data[:4] and r.tell() == 4
        r.seek(-100, io.SEEK_END)
        assert r.read() == data[-100:]
        assert r.read(10) == b""
        r.seek(3 * MiB + 5)
        r.seek(-5, io.SEEK_CUR)
        buf = bytearray(2 * MiB + 7)
        assert r.readinto(buf) == len(buf) and buf == data[3 * MiB:5 * MiB + 7]
        t = torch.empty(3 * MiB // 4, dtype=torch.float32)      # 3 MiB into a tensor
        r.seek(1)
        assert r.readinto(t) == 3 * MiB
        assert bytes(t.numpy().tobytes()) == data[1:1 + 3 * MiB]
        r.seek(len(data) - 10)
        big = bytearray(MiB)
        assert r.readinto(big) == 10 and big[:10] == data[-10:]
        rng = random.Random(3)
        for _ in range(40):
            off = rng.randrange(len(data))
            n = rng.choice([1, 30, 4096, 700_000, 3 * MiB + 1])
            r.seek(off)
            assert r.read(n) == data[off:off + n]
        with pytest.raises(ValueError):
            r.seek(-1)
        with pytest.raises(ValueError):
            r.seek(0, 7)
    with pytest.raises(ValueError, match="closed"):
        r.read(1)


def test_whole_read_is_crc_checked(ckpt, emu, bucket):
    data = os.urandom(3 * MiB + 1)
    emu.put_object(bucket, "blob", data)
    emu.faults.corrupt(offset=10, length=1, count=100, bucket=bucket, key="blob")
    with ckpt.reader(f"oss://{bucket}/blob") as r:
        with pytest.raises(OSError, match="CRC64 mismatch"):
            r.read()
    emu.faults.clear()


def test_general_upload_download(ckpt, bucket, oss2b):
    """The product advertises OssCheckpoint for any object, not only
    checkpoints: bytes in, the same bytes out, readable by others."""
    data = os.urandom(5 * MiB + 3)
    with ckpt.writer(f"oss://{bucket}/any/file.bin") as w:
        for i in range(0, len(data), 777_777):
            assert w.write(memoryview(data)[i:i + 777_777]) == len(data[i:i + 777_777])
        assert w.tell() == len(data)
    assert oss2b.get_object("any/file.bin").read() == data
    with ckpt.reader(f"oss://{bucket}/any/file.bin") as r:
        assert r.read() == data
    with ckpt.writer(f"oss://{bucket}/any/empty") as w:
        pass
    with ckpt.reader(f"oss://{bucket}/any/empty") as r:
        assert r.size == 0 and r.read() == b""


@pytest.mark.parametrize("uri", ["s3://bucket/key", "bucket/key", "oss://", "oss://Bad_Name/k",
                                 "oss://bucket", "oss://bucket/", "oss://bucket/dir/"])
def test_malformed_uri(ckpt, uri):
    with pytest.raises(ValueError):
        ckpt.reader(uri)
    with pytest.raises(ValueError):
        ckpt.writer(uri)


def test_missing_object(ckpt, bucket):
    with pytest.raises(FileNotFoundError, match="nope"):
        ckpt.reader(f"oss://{bucket}/nope")


def test_bad_construction(emu, cred_file, tmp_path):
    with pytest.raises(ValueError, match="endpoint"):
        OssCheckpoint("")
    missing = str(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=missing)
    bad = tmp_path / "bad.json"
    bad.write_text('{"checkpointConfig": {"uploadConcurrency": 0}}')
    with pytest.raises(ValueError, match="uploadConcurrency"):
        OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=str(bad))


def test_positional_arguments_and_pickle(emu, cred_file, config_file, bucket):
    # The product's order: endpoint, cred_path, config_path, cred_provider, region.
    c = OssCheckpoint(emu.endpoint, cred_file, config_file)
    with c.writer(f"oss://{bucket}/p") as w:
        w.write(b"hello")
    c2 = pickle.loads(pickle.dumps(c))
    with c2.reader(f"oss://{bucket}/p") as r:
        assert r.read() == b"hello"
    assert c.client.profile == "checkpoint"


def _timed_save(emu, cred_file, tmp_path, bucket, key, upload_concurrency):
    cfg = write_config(tmp_path, checkpointConfig={"uploadConcurrency": upload_concurrency})
    c = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=cfg)
    emu.faults.delay(0.4, count=8, op="UploadPart", bucket=bucket, key=key)
    t0 = time.monotonic()
    with c.writer(f"oss://{bucket}/{key}") as w:
        w.write(os.urandom(8 * MiB))        # 8 parts of 1 MiB
    elapsed = time.monotonic() - t0
    emu.faults.clear()
    c.close()
    return elapsed


def test_upload_concurrency_is_honoured(emu, cred_file, tmp_path, bucket):
    slow = _timed_save(emu, cred_file, tmp_path, bucket, "c2", 2)
    fast = _timed_save(emu, cred_file, tmp_path, bucket, "c8", 8)
    assert slow >= 4 * 0.4 * 0.9           # 8 parts, 2 at a time
    assert fast < slow / 2


def _timed_load(emu, cred_file, tmp_path, bucket, workers, per_worker):
    cfg = write_config(tmp_path, checkpointConfig={"prefetchWorker": workers,
                                                   "prefetchConcurrency": per_worker})
    c = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=cfg)
    assert c.client.concurrency == workers * per_worker
    emu.faults.delay(0.4, count=8, method="GET", bucket=bucket, key="blob")
    buf = bytearray(8 * MiB)
    t0 = time.monotonic()
    with c.reader(f"oss://{bucket}/blob") as r:
        r.seek(0)
        assert r.readinto(buf) == len(buf)  # 8 ranged GETs of 1 MiB
    elapsed = time.monotonic() - t0
    emu.faults.clear()
    c.close()
    return elapsed


def test_prefetch_concurrency_is_honoured(emu, cred_file, tmp_path, bucket):
    emu.put_object(bucket, "blob", os.urandom(8 * MiB + 1))
    slow = _timed_load(emu, cred_file, tmp_path, bucket, 1, 2)
    fast = _timed_load(emu, cred_file, tmp_path, bucket, 2, 4)
    assert slow >= 4 * 0.4 * 0.9
    assert fast < slow / 2


def test_close_with_reads_in_flight(emu, cred_file, config_file, bucket):
    data = os.urandom(6 * MiB)
    emu.put_object(bucket, "blob", data)
    c = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=config_file)
    r = c.reader(f"oss://{bucket}/blob")
    w = c.writer(f"oss://{bucket}/never")
    w.write(os.urandom(3 * MiB))
    emu.faults.delay(0.3, count=20, method="GET", bucket=bucket, key="blob")
    assert r.read(10) == data[:10]            # read-ahead blocks now in flight
    c.close()                                 # stops them, aborts the writer
    emu.faults.clear()
    with pytest.raises(ValueError, match="closed"):
        r.read(1)
    with pytest.raises(FileNotFoundError):
        OssCheckpoint(emu.endpoint, cred_path=cred_file,
                      config_path=config_file).reader(f"oss://{bucket}/never")


def test_reader_survives_fork(ckpt, emu, bucket):
    data = os.urandom(5 * MiB)
    emu.put_object(bucket, "blob", data)
    r = ckpt.reader(f"oss://{bucket}/blob")
    assert r.read(100) == data[:100]          # blocks cached / in flight in the parent
    pid = os.fork()
    if pid == 0:                              # child: its own engine, fresh fetches
        ok = False
        try:
            r.seek(50)
            ok = r.read(3 * MiB) == data[50:50 + 3 * MiB]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    r.seek(0)
    assert r.read() == data
