"""OssModelConnector.open: read, readinto, readline, seek/tell, size, mmap,
text mode, the documented sharded-read example, prefetch order, reads
served from memory, errors."""

import ctypes
import io
import os
import time

import numpy as np
import pytest
import torch

from tests_helpers import write_config

MiB = 1 << 20


def payload(n, seed=0):
    rng = np.random.default_rng(seed)
    data = bytearray(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    for i in range(0, n, 997):  # lines of varying length
        data[i] = 10
    return bytes(data)


def served(emu, bucket, key):
    return emu.object_stats(bucket, key)["bytes_sent"]


def test_read_readinto_seek_tell_size_mmap(emu, bucket, connector):
    data = payload(3 * MiB + 12345)  # parts are 1 MiB: several chunks, ragged end
    emu.put_object(bucket, "blob.bin", data)
    with connector.open(f"oss://{bucket}/blob.bin") as obj:
        assert obj.key == "blob.bin"
        assert obj.size() == len(data)
        assert obj.read(10) == data[:10]
        assert obj.tell() == 10
        buf = bytearray(MiB + 7)
        assert obj.readinto(buf) == len(buf)
        assert bytes(buf) == data[10:10 + len(buf)]
        assert obj.seek(-100, io.SEEK_END) == len(data) - 100
        assert obj.read() == data[-100:]
        assert obj.read() == b"" and obj.readinto(bytearray(5)) == 0
        obj.seek(5)
        assert obj.seek(10, io.SEEK_CUR) == 15
        assert obj.readline() == data[15:data.index(b"\n", 15) + 1]
        obj.seek(1)
        assert obj.readline(3) == data[1:4]  # at most 3 bytes (the next b"\n" is at 997)
        # readinto straight into a torch tensor and a numpy array
        t = torch.empty(2 * MiB, dtype=torch.uint8)
        obj.seek(MiB)
        assert obj.readinto(t) == 2 * MiB
        assert t.numpy().tobytes() == data[MiB:3 * MiB]
        arr = np.zeros(1000, dtype=np.uint8)
        obj.seek(len(data) - 400)
        assert obj.readinto(arr) == 400
        assert arr[:400].tobytes() == data[-400:]
        # mmap: the whole object at one address
        addr = obj.mmap()
        view = (ctypes.c_ubyte * obj.size()).from_address(addr)
        assert bytes(view) == data
        with pytest.raises(OSError):
            obj.seek(-1)
    assert obj.closed
    with pytest.raises(ValueError, match="closed"):
        obj.read(1)


def test_text_mode(emu, bucket, connector):
    text = "première ligne\nsecond line\n" + "x" * 5000 + "\nlast"
    emu.put_object(bucket, "notes.txt", text.encode())
    with connector.open(f"oss://{bucket}/notes.txt", binary=False) as f:
        assert f.key == "notes.txt" and f.size() == len(text.encode())
        assert f.readline() == "première ligne\n"
        assert f.read() == text[len("première ligne\n"):]
    with connector.open(f"oss://{bucket}/notes.txt", False) as f:
        assert list(f) == text.splitlines(keepends=True)


def test_empty_object(emu, bucket, connector):
    emu.put_object(bucket, "empty", b"")
    with connector.open(f"oss://{bucket}/empty") as obj:
        assert obj.size() == 0 and obj.read() == b"" and obj.readline() == b""
        assert obj.readinto(bytearray(4)) == 0
        assert obj.mmap() != 0


def test_sharded_read_example(emu, bucket, connector):
    """python_apis.md: open every shard first, then read each with
    read(4 MiB), then seek(0) and readinto a 4 MiB buffer."""
    shards = {f"qwen/model-{i:05d}-of-00005.safetensors": payload(2 * MiB + 1000 * i, seed=i)
              for i in range(1, 6)}
    for k, v in shards.items():
        emu.put_object(bucket, k, v)
    emu.reset_stats()
    objs = [connector.open(f"oss://{bucket}/{k}") for k in shards]
    for obj, want in zip(objs, shards.values()):
        got = bytearray()
        while True:
            data = obj.read(4 * MiB)
            if not data:
                break
            got += data
        assert got == want
    buf = bytearray(4 * MiB)
    for obj, want in zip(objs, shards.values()):
        obj.seek(0)
        got = bytearray()
        while True:
            n = obj.readinto(buf)
            if n == 0:
                break
            got += buf[:n]
        assert got == want
    # Everything came from memory: each object was fetched once.
    for k, v in shards.items():
        assert served(emu, bucket, k) == len(v), k
    for obj in objs:
        obj.close()


def test_prefetch_follows_open_order(emu, bucket, tmp_path, cred_file):
    """With one transfer at a time, objects are fetched whole, in the order
    they were opened (not key order): while the second one is held up by
    the server, the first is complete and the third untouched."""
    from ossmodelconnector import OssModelConnector

    cfg = write_config(tmp_path, prefetch={"vcpus": 1, "workers": 1})
    names = ["c-first", "a-second", "b-third"]
    blobs = {n: payload(3 * MiB, seed=i) for i, n in enumerate(names)}
    for n, v in blobs.items():
        emu.put_object(bucket, n, v)
    emu.faults.delay(3.0, count=1, bucket=bucket, key="a-second", method="GET")
    emu.reset_stats()
    with OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=cfg) as c:
        objs = [c.open(f"oss://{bucket}/{n}") for n in names]
        deadline = time.time() + 120
        while served(emu, bucket, "c-first") < len(blobs["c-first"]) and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert served(emu, bucket, "c-first") == len(blobs["c-first"])
        assert served(emu, bucket, "b-third") == 0
        assert served(emu, bucket, "a-second") < len(blobs["a-second"])
        for obj, n in zip(objs, names):
            assert obj.read() == blobs[n]
        for n, v in blobs.items():
            assert served(emu, bucket, n) == len(v)


def test_read_jumps_the_queue(emu, bucket, tmp_path, cred_file):
    """A read of an object queued behind others is served first."""
    from ossmodelconnector import OssModelConnector

    cfg = write_config(tmp_path, prefetch={"vcpus": 1, "workers": 1})
    blobs = {f"o{i}": payload(4 * MiB, seed=i) for i in range(3)}
    for n, v in blobs.items():
        emu.put_object(bucket, n, v)
    emu.faults.delay(0.5, count=100, bucket=bucket, key="o0", method="GET")
    with OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=cfg) as c:
        objs = [c.open(f"oss://{bucket}/{n}") for n in blobs]
        t = time.time()
        assert objs[2].read() == blobs["o2"]
        assert time.time() - t < 1.5  # did not wait for o0 (4 parts delayed 0.5 s each)
        assert objs[0].read() == blobs["o0"]


def test_no_prefetch_reads_directly(emu, bucket, connector):
    from ossmodelconnector import Connector, new_oss_connector

    data = payload(2 * MiB + 3)
    emu.put_object(bucket, "direct", data)
    low = connector._connector
    assert isinstance(low, Connector)
    emu.reset_stats()
    with low.open(f"oss://{bucket}/direct", False, False, True) as obj:
        time.sleep(0.3)
        assert served(emu, bucket, "direct") == 0  # nothing fetched ahead
        buf = bytearray(len(data))
        assert obj.readinto(buf) == len(data) and bytes(buf) == data
        obj.seek(10)
        assert obj.readline() == data[10:data.index(b"\n", 10) + 1]
        assert (ctypes.c_ubyte * obj.size()).from_address(obj.mmap())[:5] == list(data[:5])
    assert callable(new_oss_connector)


def test_missing_object_names_the_uri(bucket, connector):
    uri = f"oss://{bucket}/no/such/object.safetensors"
    with pytest.raises(FileNotFoundError, match="no/such/object.safetensors"):
        connector.open(uri)
    with pytest.raises(IsADirectoryError):
        connector.open(f"oss://{bucket}/some/prefix/")


def test_object_deleted_after_open_fails_the_read(emu, bucket, tmp_path, cred_file):
    from ossmodelconnector import OssModelConnector

    cfg = write_config(tmp_path, prefetch={"vcpus": 1, "workers": 1})
    emu.put_object(bucket, "first", payload(4 * MiB))
    emu.put_object(bucket, "gone", payload(MiB))
    emu.faults.delay(1.0, count=1, bucket=bucket, key="first", method="GET")
    with OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=cfg) as c:
        first = c.open(f"oss://{bucket}/first")
        emu.faults.error(status=404, code="NoSuchKey", count=100, bucket=bucket, key="gone",
                         method="GET")  # HEAD (open) succeeds, GETs fail
        obj = c.open(f"oss://{bucket}/gone")
        with pytest.raises(FileNotFoundError, match="gone"):
            obj.read()
        with pytest.raises(FileNotFoundError, match="gone"):
            obj.read()  # every read reports it (and tries again)
        assert len(first.read()) == 4 * MiB


def test_close_frees_memory_and_connector_close_closes_objects(emu, bucket, connector):
    emu.put_object(bucket, "big", payload(8 * MiB))
    obj = connector.open(f"oss://{bucket}/big")
    assert len(obj.read()) == 8 * MiB
    pool = connector._connector._pool
    assert pool._bytes >= 8 * MiB
    obj.close()
    assert pool._bytes == 0
    obj2 = connector.open(f"oss://{bucket}/big")
    del obj2  # garbage collection frees it too
    import gc

    gc.collect()
    deadline = time.time() + 120
    while pool._bytes and time.time() < deadline:
        time.sleep(0.05)
    assert pool._bytes == 0
    obj3 = connector.open(f"oss://{bucket}/big")
    connector.close()
    assert obj3.closed
    with pytest.raises(ValueError, match="closed"):
        connector.open(f"oss://{bucket}/big")


def test_memory_limit_pauses_prefetch(emu, bucket, cred_file, config_file):
    from ossmodelconnector import Connector

    blobs = {f"m{i}": payload(2 * MiB, seed=i) for i in range(4)}
    for n, v in blobs.items():
        emu.put_object(bucket, n, v)
    emu.reset_stats()
    c = Connector(emu.endpoint, cred_path=cred_file, config_path=config_file,
                  memory_limit=3 * MiB)
    try:
        objs = [c.open(f"oss://{bucket}/{n}") for n in blobs]
        # wait for prefetch to reach the limit, then check it stopped there
        deadline = time.monotonic() + 120
        while sum(served(emu, bucket, n) for n in blobs) < 3 * MiB:
            assert time.monotonic() < deadline, "prefetch never reached the memory limit"
            time.sleep(0.05)
        fetched = sum(served(emu, bucket, n) for n in blobs)
        assert 3 * MiB <= fetched < 5 * MiB  # paused at the limit (plus parts in flight)
        for obj, n in zip(objs, blobs):  # reads are still served
            assert obj.read() == blobs[n]
            obj.close()
    finally:
        c.close()


def test_fork_child_reads(emu, bucket, connector):
    data = payload(3 * MiB)
    emu.put_object(bucket, "forked", data)
    obj = connector.open(f"oss://{bucket}/forked")
    pid = os.fork()
    if pid == 0:  # child: the parent's transfers are gone; reads fetch again
        ok = False
        try:
            ok = obj.read() == data
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert obj.read() == data
