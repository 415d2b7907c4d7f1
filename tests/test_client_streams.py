"""ObjectReader and ObjectWriter behave like Python binary streams, and
readinto writes straight into numpy arrays and torch tensors."""

import io
import os

import pytest

MiB = 1 << 20


@pytest.fixture
def text_obj(client, bucket):
    lines = [f"line {i} {'x' * (i % 50)}\n".encode() for i in range(20000)]
    data = b"".join(lines)
    client.put(f"oss://{bucket}/text", data)
    return data, lines


def test_readline_and_iteration(client, bucket, text_obj):
    data, lines = text_obj
    with client.open(f"oss://{bucket}/text") as f:
        assert f.readline() == lines[0]
        assert f.readline() == lines[1]
        rest = list(f)
    assert rest == lines[2:]


def test_seek_tell_read(client, bucket, text_obj):
    data, _ = text_obj
    with client.open(f"oss://{bucket}/text") as f:
        assert f.size() == len(data) and f.seekable() and f.readable()
        f.seek(1000)
        assert f.tell() == 1000
        assert f.read(10) == data[1000:1010]
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]
        f.seek(5, io.SEEK_SET)
        f.seek(5, io.SEEK_CUR)
        assert f.read(3) == data[10:13]
        f.seek(len(data) + 100)
        assert f.read(5) == b""
        with pytest.raises(OSError):
            f.seek(-1)
        # Many small reads across the read-ahead chunk boundary.
        f.seek(4 * MiB - 7)
        got = b"".join(f.read(3) for _ in range(10))
        assert got == data[4 * MiB - 7:4 * MiB + 23]


def test_read_sizes_random_access(client, bucket):
    import random

    data = os.urandom(9 * MiB + 11)
    client.put(f"oss://{bucket}/r", data)
    rng = random.Random(5)
    with client.open(f"oss://{bucket}/r") as f:
        for _ in range(60):
            off = rng.randrange(len(data))
            n = rng.choice([1, 17, 4096, 300_000, 2 * MiB + 3])
            f.seek(off)
            assert f.read(n) == data[off:off + n]


def test_readinto_numpy_and_torch(client, bucket):
    import numpy as np
    import torch

    data = os.urandom(3 * MiB)
    client.put(f"oss://{bucket}/t", data)
    arr = np.zeros(len(data), dtype=np.uint8)
    with client.open(f"oss://{bucket}/t") as f:
        assert f.readinto(arr) == len(data)
    assert arr.tobytes() == data

    tensor = torch.zeros(len(data) // 4, dtype=torch.float32)
    with client.open(f"oss://{bucket}/t") as f:
        assert f.readinto(tensor) == len(data)
    assert tensor.numpy().tobytes() == data
    with client.open(f"oss://{bucket}/t") as f:
        with pytest.raises(ValueError, match="contiguous"):
            f.readinto(torch.zeros(16, 16)[:, 0])
        with pytest.raises(TypeError):
            f.readinto(b"read-only bytes")


def test_readinto_memoryview_slices(client, bucket):
    data = os.urandom(2 * MiB + 5)
    client.put(f"oss://{bucket}/m", data)
    buf = bytearray(len(data) + 10)
    with client.open(f"oss://{bucket}/m") as f:
        n = f.readinto(memoryview(buf)[10:])
    assert n == len(data) and bytes(buf[10:]) == data


def test_torch_save_load_roundtrip(client, bucket):
    import torch

    state = {"w": torch.randn(300, 300), "b": torch.arange(1000), "name": "model"}
    with client.create(f"oss://{bucket}/ckpt.pt") as w:
        torch.save(state, w)
    with client.open(f"oss://{bucket}/ckpt.pt") as f:
        loaded = torch.load(f, weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and torch.equal(loaded["b"], state["b"])


def test_writer_stream_api(client, bucket):
    with client.create(f"oss://{bucket}/w") as w:
        assert w.writable() and not w.seekable()
        assert w.write(b"abc") == 3
        assert w.write(memoryview(b"defgh")[1:3]) == 2
        assert w.write(bytearray(b"")) == 0
        assert w.tell() == 5
        # Not visible before close.
        with pytest.raises(FileNotFoundError):
            client.stat(f"oss://{bucket}/w")
    assert client.get(f"oss://{bucket}/w") == b"abcef"
    with pytest.raises(ValueError):
        w.write(b"more")


def test_writer_garbage_collected_does_not_commit(client, bucket):
    w = client.create(f"oss://{bucket}/gc")
    w.write(b"half a checkpoint")
    del w
    import gc

    gc.collect()
    with pytest.raises(FileNotFoundError):
        client.stat(f"oss://{bucket}/gc")


def test_overwrite_replaces(client, bucket):
    client.put(f"oss://{bucket}/o", b"one")
    client.put(f"oss://{bucket}/o", b"two!")
    assert client.get(f"oss://{bucket}/o") == b"two!"


def test_copy_and_delete(client, bucket):
    client.put(f"oss://{bucket}/src key+", b"payload")
    client.copy(f"oss://{bucket}/src key+", f"oss://{bucket}/dst/数据")
    assert client.get(f"oss://{bucket}/dst/数据") == b"payload"
    client.delete(f"oss://{bucket}/src key+")
    with pytest.raises(FileNotFoundError):
        client.stat(f"oss://{bucket}/src key+")


def test_client_closed_before_its_streams(emu, bucket, cred_file, config_file):
    """Whatever order the GC picks, closing a client first aborts its open
    writers and closes its readers: no crash, nothing committed."""
    import gc

    from ossconnector import Client

    c = Client(emu.endpoint, cred_path=cred_file, config_path=config_file)
    c.put(f"oss://{bucket}/r", os.urandom(3 * MiB))
    reader = c.open(f"oss://{bucket}/r")
    reader.read(10)  # read-ahead in flight
    writer = c.create(f"oss://{bucket}/never")
    writer.write(os.urandom(3 * MiB))  # parts in flight
    c.close()
    assert reader.closed
    with pytest.raises(ValueError):
        writer.write(b"more")
    del reader, writer, c
    gc.collect()
    c2 = Client(emu.endpoint, cred_path=cred_file, config_path=config_file)
    with pytest.raises(FileNotFoundError):
        c2.stat(f"oss://{bucket}/never")
