"""Huge sparse objects: > 4 GiB without writing 4 GiB."""

import oss2

from ossconnector.emulator.crc64 import crc64
from ossconnector.emulator.sparse import expected_bytes, marker_bytes, marker_offsets, sparse_crc

SIZE = 5 << 30


def test_sparse_helpers():
    size = (2 << 30) + 100
    offsets = marker_offsets(size)
    assert offsets == [0, 1 << 30, 2 << 30, size - 16]
    assert expected_bytes(size, 0, 16) == marker_bytes(0)
    assert expected_bytes(size, (1 << 30) - 4, (1 << 30) + 4) == b"\0" * 4 + marker_bytes(1 << 30)[:4]
    small = 100
    content = expected_bytes(small, 0, small)
    assert len(content) == small and sparse_crc(small) == crc64(content)
    assert sparse_crc(small, markers=False) == crc64(b"\0" * small)


def test_five_gib_sparse_object(emu, bucket_name, bucket):
    info = emu.create_sparse_object(bucket_name, "huge/5g.bin", SIZE)
    assert info["size"] == SIZE and info["crc64"] == str(sparse_crc(SIZE))
    head = bucket.head_object("huge/5g.bin")
    assert head.content_length == SIZE
    assert head.headers["x-oss-hash-crc64ecma"] == info["crc64"]
    listed = [(o.key, o.size) for o in oss2.ObjectIterator(bucket, prefix="huge/")]
    assert listed == [("huge/5g.bin", SIZE)]
    # a range above 4 GiB, spanning the marker at 4 GiB
    start = (4 << 30) - 8
    got = bucket.get_object("huge/5g.bin", byte_range=(start, start + 63))
    assert got.status == 206
    assert got.headers["Content-Range"] == "bytes %d-%d/%d" % (start, start + 63, SIZE)
    assert got.read() == expected_bytes(SIZE, start, start + 64)
    tail = bucket.get_object("huge/5g.bin", byte_range=(None, 16)).read()
    assert tail == marker_bytes(SIZE - 16)
    emu.reset_stats()
    mib = bucket.get_object("huge/5g.bin", byte_range=((4 << 30) + 1, (4 << 30) + (1 << 20))).read()
    assert mib == expected_bytes(SIZE, (4 << 30) + 1, (4 << 30) + (1 << 20) + 1)
    assert emu.object_stats(bucket_name, "huge/5g.bin")["bytes_sent"] == 1 << 20
    bucket.delete_object("huge/5g.bin")
