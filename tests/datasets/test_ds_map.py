"""OssMapDataset against the emulator: random access, len without
re-listing, concurrent batches, DataLoader with shuffle across workers."""

import collections
import pickle
import time

import pytest
import torch

from ds_helpers import get_ops, key_and_bytes, keys_of, pairs_of
from ossconnector.datasets import OssMapDataset

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def _dataset(ds_kwargs, bucket, **kw):
    return OssMapDataset.from_prefix(f"oss://{bucket}/data/", **ds_kwargs, **kw)


def test_random_access_and_len_without_relisting(ds_kwargs, bucket, objects, emu):
    data = objects(25)
    uris = sorted(data)
    emu.reset_stats()
    ds = _dataset(ds_kwargs, bucket)
    assert len(ds) == 25 and len(ds) == 25
    assert get_ops(emu, "ListObjectsV2") == 1
    item = ds[3]
    assert (item.key, item.size) == (uris[3], len(data[uris[3]]))
    assert item.read() == data[uris[3]]
    item.close()
    with ds[-1] as last:
        assert last.key == uris[-1] and last.read() == data[uris[-1]]
    assert [i.key for i in ds] == uris  # iteration prefetches, in order
    assert get_ops(emu, "ListObjectsV2") == 1
    assert get_ops(emu, "HeadObject") == 0


def test_index_errors(ds_kwargs, bucket, objects):
    objects(3)
    ds = _dataset(ds_kwargs, bucket)
    with pytest.raises(IndexError, match="index 3 out of range .*3 items"):
        ds[3]
    with pytest.raises(IndexError):
        ds[-4]
    with pytest.raises(TypeError, match="indices must be integers"):
        ds["a"]
    assert ds[torch.tensor(1)].key.endswith("00001.bin")


def test_getitems_fetches_a_batch_concurrently(ds_kwargs, bucket, objects, emu):
    data = objects(8)
    ds = _dataset(ds_kwargs, bucket, transform=key_and_bytes)
    emu.faults.delay(0.5, count=8, bucket=bucket, method="GET")
    t0 = time.monotonic()
    batch = ds.__getitems__([7, 0, 3, 3, 5, 1, 2, 6])
    elapsed = time.monotonic() - t0
    uris = sorted(data)
    assert [k for k, _ in batch] == [uris[i] for i in [7, 0, 3, 3, 5, 1, 2, 6]]
    assert all(data[k] == v for k, v in batch)
    assert elapsed < 2.0  # 8 x 0.5 s one after the other would take 4 s


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_shuffle_workers_each_once(ds_kwargs, bucket, objects, emu, context):
    data = objects(64)
    emu.reset_stats()
    ds = _dataset(ds_kwargs, bucket, transform=key_and_bytes)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2,
                                         collate_fn=pairs_of, multiprocessing_context=context)
    got = [pair for batch in loader for pair in batch]
    assert collections.Counter(k for k, _ in got) == collections.Counter(list(data))
    assert dict(got) == data
    assert get_ops(emu, "ListObjectsV2") == 1 and get_ops(emu, "GetObject") == 64


@pytest.mark.parametrize("workers", [0, 4])
def test_dataloader_batches(ds_kwargs, bucket, objects, workers):
    data = objects(30)
    loader = torch.utils.data.DataLoader(_dataset(ds_kwargs, bucket), batch_size=7,
                                         num_workers=workers, collate_fn=keys_of)
    keys = [k for batch in loader for k in batch]
    assert keys == sorted(data)


def test_missing_object_gives_transform_none(ds_kwargs, bucket, emu):
    emu.put_object(bucket, "a", b"A")
    ds = OssMapDataset.from_objects([f"oss://{bucket}/a", f"oss://{bucket}/gone"],
                                    transform=key_and_bytes, **ds_kwargs)
    assert ds[1] is None
    assert ds.__getitems__([0, 1]) == [(f"oss://{bucket}/a", b"A"), None]


def test_object_deleted_after_listing(ds_kwargs, bucket, objects, oss2b):
    data = objects(3)
    ds = _dataset(ds_kwargs, bucket, transform=key_and_bytes)
    oss2b.delete_object("data/00001.bin")
    uris = sorted(data)
    assert list(ds) == [(uris[0], data[uris[0]]), None, (uris[2], data[uris[2]])]


def test_other_errors_raise_naming_the_key(ds_kwargs, bucket, emu):
    emu.put_object(bucket, "data/a", b"A")
    ds = _dataset(ds_kwargs, bucket)
    emu.faults.error(status=403, code="AccessDenied", count=1, bucket=bucket, key="data/a")
    with pytest.raises(PermissionError, match=f"oss://{bucket}/data/a"):
        ds[0]


def test_pickle_keeps_the_listing(ds_kwargs, bucket, objects, emu):
    data = objects(6)
    ds = _dataset(ds_kwargs, bucket, transform=key_and_bytes)
    emu.reset_stats()
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == 6 and dict(clone) == data
    assert get_ops(emu, "ListObjectsV2") == 0


def test_from_objects_order_and_duplicates(ds_kwargs, bucket, emu):
    emu.put_object(bucket, "x", b"X")
    emu.put_object(bucket, "y", b"YY")
    uris = [f"oss://{bucket}/y", f"oss://{bucket}/x", f"oss://{bucket}/y"]
    ds = OssMapDataset.from_objects(uris, **ds_kwargs)
    assert len(ds) == 3
    assert [(ds[i].key, ds[i].size, ds[i].read()) for i in range(3)] == [
        (uris[0], 2, b"YY"), (uris[1], 1, b"X"), (uris[2], 2, b"YY")]


def test_large_objects_are_streams(ds_kwargs, bucket, emu):
    from ossconnector.datasets._item import StreamObject

    emu.create_sparse_object(bucket, "data/huge", 80 << 20)
    ds = _dataset(ds_kwargs, bucket)
    item = ds[0]
    assert isinstance(item, StreamObject) and item.size == 80 << 20
    item.seek(10 << 20)
    assert len(item.read(1000)) == 1000
    clone = pickle.loads(pickle.dumps(item))
    assert clone.tell() == item.tell() and clone.read(10) == item.read(10)
