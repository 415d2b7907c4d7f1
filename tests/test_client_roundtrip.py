"""Bytes written by one client read back byte-identical by the other:
ours vs oss2 (the official SDK), both ways, for awkward keys and sizes."""

import os

import pytest

KEYS = [
    "plain.bin",
    "dir/sub dir/with space.bin",
    "unicode/数据/模型.safetensors",
    "plus+sign",
    "percent%20literal",
    "hash#frag",
    "question?mark=1&x",
    "tilde~and'quote",
]
SIZES = [0, 1, 100 * 1024, 3 * (1 << 20) + 17]


@pytest.mark.parametrize("key", KEYS)
def test_ours_write_oss2_read(client, oss2b, bucket, key):
    data = os.urandom(4096) + key.encode()
    client.put(f"oss://{bucket}/{key}", data)
    assert oss2b.get_object(key).read() == data


@pytest.mark.parametrize("key", KEYS)
def test_oss2_write_ours_read(client, oss2b, bucket, key):
    data = os.urandom(5000) + key.encode()
    oss2b.put_object(key, data)
    assert client.get(f"oss://{bucket}/{key}") == data
    entry = client.stat(f"oss://{bucket}/{key}")
    assert entry.key == key and entry.size == len(data)


@pytest.mark.parametrize("size", SIZES)
def test_sizes_both_ways(client, oss2b, bucket, size):
    data = os.urandom(size)
    client.put(f"oss://{bucket}/ours-{size}", data)
    oss2b.put_object(f"theirs-{size}", data)
    assert oss2b.get_object(f"ours-{size}").read() == data
    assert client.get(f"oss://{bucket}/theirs-{size}") == data


def test_multipart_writer_read_by_oss2(client, oss2b, bucket):
    data = os.urandom(5 * (1 << 20) + 123)
    with client.create(f"oss://{bucket}/big") as w:
        for i in range(0, len(data), 777_777):
            w.write(data[i:i + 777_777])
    got = oss2b.get_object("big")
    assert got.read() == data
    # oss2 verifies the server's CRC64 of the object against what it read.
    assert got.server_crc is not None


def test_oss2_multipart_read_by_us(client, oss2b, bucket):
    import oss2

    data = os.urandom(3 * (1 << 20) + 5)
    upload_id = oss2b.init_multipart_upload("mp").upload_id
    parts = []
    for n, off in enumerate(range(0, len(data), 1 << 20), start=1):
        r = oss2b.upload_part("mp", upload_id, n, data[off:off + (1 << 20)])
        parts.append(oss2.models.PartInfo(n, r.etag))
    oss2b.complete_multipart_upload("mp", upload_id, parts)
    assert client.get(f"oss://{bucket}/mp") == data


def test_object_larger_than_4gib(client, emu, oss2b, bucket):
    size = (4 << 30) + (1 << 20) + 7
    emu.create_sparse_object(bucket, "huge", size)
    with client.open(f"oss://{bucket}/huge") as f:
        assert f.size() == size
        for offset in (0, (4 << 30) - 3, (4 << 30) + 12345, size - 100):
            f.seek(offset)
            ours = f.read(4096)
            theirs = oss2b.get_object("huge", byte_range=(offset, min(offset + 4095, size - 1))).read()
            assert ours == theirs
            assert len(ours) == min(4096, size - offset)
        f.seek(size)
        assert f.read(10) == b""


def test_listing_matches_oss2(client, oss2b, bucket, emu):
    import oss2

    keys = sorted({f"ls/{c}/{i:03d}" for c in "ab c+%" for i in range(40)} | {"ls/数据", "other"})
    for k in keys:
        emu.put_object(bucket, k, b"x" * (len(k) % 7))
    theirs = [(o.key, o.size) for o in oss2.ObjectIteratorV2(oss2b, prefix="ls/", max_keys=50)]
    ours = [(e.key, e.size) for e in client.list(f"oss://{bucket}/ls/")]
    assert ours == theirs
    fast = sorted((e.key, e.size) for e in client.list(f"oss://{bucket}/ls/", fast=True))
    assert fast == theirs
    assert len(theirs) == len(keys) - 1
