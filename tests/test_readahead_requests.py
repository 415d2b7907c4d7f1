"""The requests each read path sends for its normal access pattern: how many
GETs and of which sizes, as the engine's audit log records them
(``auditThresholdMs`` 0: every request) and the emulator counts them.

These pin the read-ahead strategies (``ossconnector.readahead``): a change
that adds a request, re-fetches a byte or changes a request's size fails
here.  Sizes are compared as sorted lists (requests run concurrently).
"""

import io
import os
import random

import pytest

from tests_helpers import write_config

MiB = 1 << 20
KiB = 1 << 10
PART = 8 * MiB


@pytest.fixture
def audited(tmp_path):
    """(config path, function returning the sorted sizes of the GETs the
    engine sent for a key since the last call).  The engine splits a
    request into ``http.partSize`` parts, one GET each: 8 MiB here, so
    that the sizes the Python read paths ask for show."""
    config = write_config(tmp_path, auditThresholdMs=0, http={"partSize": PART})
    log = tmp_path / "audit.log"
    seen, sizes = [0], {}

    def gets(key):
        text = log.read_text() if log.exists() else ""
        lines, seen[0] = text[seen[0]:].splitlines(), len(text)
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[1] == "GET" and fields[3].startswith("key="):
                size = int(next(f for f in fields if f.startswith("bytes="))[6:])
                sizes.setdefault(fields[3][5:-1], []).append(size)
        return sorted(sizes.pop(key, []))

    return config, gets


def _put(emu, bucket, key, size, seed=0):
    data = random.Random(seed).randbytes(size)
    emu.put_object(bucket, key, data)
    return data


def _get_count(emu, bucket, key):
    return emu.object_stats(bucket, key).get("GET", 0)


def test_object_reader_requests(emu, bucket, cred_file, audited):
    from ossconnector import Client

    config, gets = audited
    size = 10 * MiB + 123
    data = _put(emu, bucket, "obj", size)
    emu.reset_stats()
    with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
        # Sequential small reads: 4 MiB chunks, the next one in flight.
        with client.open(f"oss://{bucket}/obj", size=size) as r:
            got = b"".join(iter(lambda: r.read(64 * KiB), b""))
        assert got == data
        seq = gets("obj")
        # One large readinto: straight into the buffer (split into parts by the engine).
        with client.open(f"oss://{bucket}/obj", size=size) as r:
            buf = bytearray(size)
            assert r.readinto(buf) == size and buf == data
        whole = gets("obj")
        # Random access, 1 MiB direct reads.
        with client.open(f"oss://{bucket}/obj", size=size) as r:
            for off in (5 * MiB, 1 * MiB, 9 * MiB):
                r.seek(off)
                assert r.read(MiB) == data[off:off + MiB]
        rand = gets("obj")
        # verify="full": the whole object once.
        with client.open(f"oss://{bucket}/obj", size=size, verify="full") as r:
            assert r.read(10) == data[:10]
            r.seek(8 * MiB)
            assert r.read(100) == data[8 * MiB:8 * MiB + 100]
        full = gets("obj")
    tail = size - 8 * MiB
    assert seq == sorted([4 * MiB, 4 * MiB, tail])  # 4 MiB read-ahead chunks
    assert whole == sorted([tail, PART])             # one request, split in parts
    assert rand == [MiB] * 3                          # direct, no read-ahead
    assert full == whole                              # the whole object, once
    assert _get_count(emu, bucket, "obj") == len(seq) + len(whole) + len(rand) + len(full)


def test_sequential_read_ahead_window(emu, bucket, cred_file, tmp_path):
    """The read-ahead window of Client.open's streams: 4 MiB to start, doubled
    each time the reader moves into the chunk fetched ahead, 32 MiB at most;
    a jump elsewhere starts again at 4 MiB.  (Parts of 64 MiB, set by the
    user, so each chunk is one GET.)"""
    from ossconnector import Client
    from ossconnector.readahead._sequential import DEFAULT_CHUNK, START_CHUNK

    assert (START_CHUNK, DEFAULT_CHUNK) == (4 * MiB, 32 * MiB)
    config = write_config(tmp_path, auditThresholdMs=0, http={"partSize": 64 * MiB})
    log = tmp_path / "audit.log"
    size = 100 * MiB + 5
    data = _put(emu, bucket, "stream", size, seed=9)

    def gets():
        """{first byte: length} of the GETs since the last call (the range
        asked for, so a chunk cancelled half-way still shows its size)."""
        out = {}
        for ln in log.read_text().splitlines():
            if " GET " in ln:
                a, b = next(f for f in ln.split() if f.startswith("range="))[6:].split("-")
                out[int(a)] = int(b) + 1 - int(a)
        log.write_text("")
        return out

    with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
        with client.open(f"oss://{bucket}/stream", size=size) as r:
            assert b"".join(iter(lambda: r.read(256 * KiB), b"")) == data
        streamed = gets()
        with client.open(f"oss://{bucket}/stream", size=size) as r:
            assert r.read(8) == data[:8]               # a header: no more than before
            assert r.read(100) == data[8:108]
        header = gets()
        with client.open(f"oss://{bucket}/stream", size=size) as r:
            for _ in range(3 * 64):                    # into the 8 MiB chunk
                r.read(64 * KiB)
            r.seek(70 * MiB)                           # elsewhere: 4 MiB again
            assert r.read(1000) == data[70 * MiB:70 * MiB + 1000]
        jumped = gets()
    sizes = [4 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB, 32 * MiB, 4 * MiB + 5]
    assert streamed == {sum(sizes[:i]): n for i, n in enumerate(sizes)}
    # The chunk ahead of the one read is started at once, and cancelled by
    # close() or a seek: it may or may not have reached the server.
    def within(got, required, optional):
        assert {k: got[k] for k in required if k in got} == required, got
        assert set(got) <= set(required) | set(optional), got
        assert all(got[k] == optional[k] for k in got if k in optional), got

    within(header, {0: 4 * MiB}, {4 * MiB: 4 * MiB})      # no more than before
    within(jumped, {0: 4 * MiB, 4 * MiB: 4 * MiB, 8 * MiB: 8 * MiB, 70 * MiB: 4 * MiB},
           {16 * MiB: 16 * MiB, 74 * MiB: 4 * MiB})         # back to 4 MiB after the seek


def test_checkpoint_reader_requests(emu, bucket, cred_file, audited):
    torch = pytest.importorskip("torch")
    from ossconnector.checkpoint import OssCheckpoint

    config, gets = audited
    g = torch.Generator().manual_seed(1)
    sd = {f"w{i}": torch.randn(256 * (i + 1), 1024, generator=g) for i in range(5)}
    sd.update({f"b{i}": torch.randn(17, generator=g) for i in range(5)})
    sd["big"] = torch.randn(4096, 1024, generator=g)  # 16 MiB: read in 2 MiB slices
    buf = io.BytesIO()
    torch.save(sd, buf)
    emu.put_object(bucket, "ckpt", buf.getvalue())
    size = len(buf.getvalue())
    emu.reset_stats()
    ckpt = OssCheckpoint(emu.endpoint, cred_path=cred_file, config_path=config)
    try:
        with ckpt.reader(f"oss://{bucket}/ckpt") as r:
            loaded = torch.load(r, weights_only=True)
        assert all(torch.equal(loaded[k], sd[k]) for k in sd)
        ranges = gets("ckpt")
    finally:
        ckpt.close()
    # 1 MiB blocks for the headers, the small tensors and the edges of the
    # 16 MiB one, whose 11 MiB middle goes straight into its storage in 8
    # concurrent slices; no byte fetched twice: the sizes add up to the object.
    assert ranges == sorted([size - 31 * MiB] + [MiB] * 20 + [11 * MiB // 8] * 8), ranges
    assert sum(ranges) == size
    assert _get_count(emu, bucket, "ckpt") == len(ranges)


def test_model_prefetch_requests(emu, bucket, cred_file, audited):
    from ossconnector.model import Connector

    config, gets = audited
    size = 20 * MiB + 7
    data = _put(emu, bucket, "model.bin", size, seed=2)
    small = _put(emu, bucket, "small.txt", 1000, seed=3)
    emu.reset_stats()
    conn = Connector(emu.endpoint, cred_path=cred_file, config_path=config)
    try:
        with conn.open(f"oss://{bucket}/model.bin") as obj:
            assert obj.read() == data
        prefetched = gets("model.bin")
        with conn.open(f"oss://{bucket}/small.txt", prefetch=False) as obj:
            assert obj.read() == small
        direct = gets("small.txt")
    finally:
        conn.close()
    assert prefetched == sorted([size - 2 * PART, PART, PART])  # http.partSize chunks
    assert direct == [1000]
    assert _get_count(emu, bucket, "model.bin") == 3


def test_dataset_requests(emu, bucket, cred_file, audited):
    from ossconnector.datasets import OssIterableDataset

    config, gets = audited
    small = _put(emu, bucket, "ds/a.bin", 300 * KiB, seed=4)
    large = _put(emu, bucket, "ds/b.bin", 1536 * KiB, seed=5)
    emu.reset_stats()
    # Sizes unknown (a URI list): a 1 MiB guess buffer; a short read is the
    # whole object, a full one is followed by a HEAD and a GET of the rest.
    ds = OssIterableDataset.from_objects([f"oss://{bucket}/ds/a.bin", f"oss://{bucket}/ds/b.bin"],
                                         endpoint=emu.endpoint, cred_path=cred_file,
                                         config_path=config, transform=lambda item: item.read())
    assert list(ds) == [small, large]
    assert gets("ds/a.bin") == [300 * KiB]
    assert gets("ds/b.bin") == [512 * KiB, MiB]
    assert _get_count(emu, bucket, "ds/a.bin") == 1
    assert _get_count(emu, bucket, "ds/b.bin") == 2


def test_the_two_data_object_classes_have_distinct_names():
    from ossconnector import datasets, model
    from ossconnector.datasets._item import DatasetItem

    assert datasets.DataObject is DatasetItem  # the datasets' documented name
    assert model.DataObject.__name__ == "DataObject"
    assert datasets.DataObject.__name__ != model.DataObject.__name__
