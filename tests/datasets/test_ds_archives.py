"""What the older S3 plugin offered: streaming tar/zip shards without an
index, shard order shuffled per epoch (set_epoch), and a shuffle buffer
across shards."""

import collections
import io
import tarfile
import zipfile

import pytest
import torch

from ds_helpers import key_and_bytes
from ossconnector.datasets import OssIterableDataset, ShuffleDataset

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def _tar(members, mode="w"):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def shards(emu, bucket):
    """Six shards of 10 samples (webdataset-style .cls/.jpg pairs) in tar,
    tar.gz and zip form; returns {member name: bytes}."""
    everything = {}
    for s in range(6):
        members = {}
        for i in range(5):
            stem = f"s{s}-{i:03d}"
            members[f"{stem}.cls"] = str(i % 3).encode()
            members[f"{stem}.jpg"] = bytes([s, i]) * (100 + 50 * i)
        everything.update(members)
        if s % 3 == 0:
            emu.put_object(bucket, f"shards/{s:02d}.tar", _tar(members))
        elif s % 3 == 1:
            emu.put_object(bucket, f"shards/{s:02d}.tar.gz", _tar(members, "w:gz"))
        else:
            emu.put_object(bucket, f"shards/{s:02d}.zip", _zip(members))
    return everything


def test_members_of_every_shard_in_archive_order(ds_kwargs, bucket, shards):
    ds = OssIterableDataset.from_archives(f"oss://{bucket}/shards/", **ds_kwargs)
    items = list(ds)
    assert [i.key for i in items] == list(shards)
    assert all(i.read() == shards[i.key] for i in items)
    assert items[0].archive == f"oss://{bucket}/shards/00.tar"
    assert items[-1].archive == f"oss://{bucket}/shards/05.zip"


def test_list_of_shards_and_plain_objects(ds_kwargs, bucket, shards, emu):
    emu.put_object(bucket, "other/blob.h5", b"whole object")
    uris = [f"oss://{bucket}/shards/02.zip", f"oss://{bucket}/other/blob.h5"]
    keys = [i.key for i in OssIterableDataset.from_archives(uris, **ds_kwargs)]
    assert keys == [k for k in shards if k.startswith("s2-")] + [uris[1]]


@pytest.mark.parametrize("workers", [2, 4])
def test_shards_split_across_workers(ds_kwargs, bucket, shards, workers):
    ds = OssIterableDataset.from_archives(f"oss://{bucket}/shards/", transform=key_and_bytes,
                                          **ds_kwargs)
    got = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers))
    assert collections.Counter(k for k, _ in got) == collections.Counter(list(shards))
    assert dict(got) == shards


def test_shard_order_shuffled_per_epoch(ds_kwargs, bucket, shards):
    ds = OssIterableDataset.from_archives(f"oss://{bucket}/shards/", shuffle=True, seed=11,
                                          **ds_kwargs)

    def shard_order():
        seen = []
        for item in ds:
            if item.archive not in seen:
                seen.append(item.archive)
        return seen

    first = shard_order()
    assert first == shard_order() and len(first) == 6
    ds.set_epoch(1)
    second = shard_order()
    assert sorted(second) == sorted(first) and second != first


def test_shuffle_buffer_mixes_shards(ds_kwargs, bucket, shards):
    inner = OssIterableDataset.from_archives(f"oss://{bucket}/shards/", shuffle=True, seed=5,
                                             transform=key_and_bytes, **ds_kwargs)
    ds = ShuffleDataset(inner, buffer_size=20, seed=1)
    got = list(ds)
    assert dict(got) == shards and len(got) == len(shards)
    assert [k for k, _ in got] != [k for k, _ in inner]
    assert [k for k, _ in ShuffleDataset(inner, buffer_size=20, seed=1)] == [k for k, _ in got]
    ds.set_epoch(3)  # passed on to the shards' order too
    assert inner._epoch == 3 and [k for k, _ in ds] != [k for k, _ in got]
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    assert sorted(k for k, _ in loader) == sorted(shards)


def test_shuffle_buffer_rejects_bad_size(ds_kwargs, bucket, shards):
    inner = OssIterableDataset.from_archives(f"oss://{bucket}/shards/", **ds_kwargs)
    with pytest.raises(ValueError, match="buffer_size must be a positive int"):
        ShuffleDataset(inner, buffer_size=0)


def test_corrupt_archive_names_the_shard(ds_kwargs, bucket, emu):
    emu.put_object(bucket, "bad/x.zip", b"not a zip at all")
    with pytest.raises(ValueError, match=f"oss://{bucket}/bad/x.zip: not a zip archive"):
        list(OssIterableDataset.from_archives(f"oss://{bucket}/bad/", **ds_kwargs))
    emu.put_object(bucket, "bad2/y.tar", b"\x01" * 2048)
    with pytest.raises(ValueError, match=f"oss://{bucket}/bad2/y.tar"):
        list(OssIterableDataset.from_archives(f"oss://{bucket}/bad2/", **ds_kwargs))
