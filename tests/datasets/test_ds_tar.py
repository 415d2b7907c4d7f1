"""Tar archives with an index: building them (local folder, OSS prefix,
index of an existing archive, command line), random access by one ranged
GET, coalesced batches, chunk shuffling, workers, bad input."""

import collections
import io
import os
import subprocess
import sys
import tarfile

import pytest
import torch

from ds_helpers import pairs_of
from ossconnector.datasets import (OssIterableDataset, OssMapDataset, TarIndex,
                                   generate_tar_archive)

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def member_bytes(transformed):
    return transformed


def name_and_bytes(item):
    return item.key, item.read()


@pytest.fixture
def folder(tmp_path):
    """A local folder of files (nested, long and non-ASCII names)."""
    root = tmp_path / "src"
    files = {}
    for i in range(40):
        sub = f"class{i % 3}/"
        name = f"{sub}img{i:03d}.jpg"
        files[name] = os.urandom(300 + 97 * i)
    files["deep/" + "x" * 120 + "/long-name.bin"] = b"long"
    files["ünïcödé/файл.txt"] = "héllo".encode()
    files["empty.bin"] = b""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root, dict(sorted(files.items()))


def _build(ds_kwargs, bucket, source, index_only=False):
    tar_uri, index_uri = f"oss://{bucket}/ds/train.tar", f"oss://{bucket}/ds/train.idx"
    n = generate_tar_archive(ds_kwargs["endpoint"], ds_kwargs["cred_path"],
                             ds_kwargs["config_path"], tar_uri, index_uri, source, index_only)
    return n, tar_uri, index_uri


def _index(oss2b, key="ds/train.idx"):
    return TarIndex.from_bytes(oss2b.get_object(key).read(), key)


def test_generate_from_local_folder(ds_kwargs, bucket, folder, oss2b):
    root, files = folder
    n, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    assert n == len(files)
    archive = oss2b.get_object("ds/train.tar").read()
    index = _index(oss2b)
    assert index.archive_size == len(archive)
    # Sorted walk order; every offset points at the member's bytes.
    listed = list(index.members())
    assert sorted(name for name, _, _ in listed) == sorted(files)
    for name, offset, size in listed:
        assert archive[offset:offset + size] == files[name]
    # Any tar reader agrees.
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar if m.isreg()} == files


def test_generate_from_oss_prefix_and_to_local_paths(ds_kwargs, bucket, emu, tmp_path):
    files = {f"train/img/{i:03d}.png": os.urandom(1000 + i) for i in range(30)}
    for k, v in files.items():
        emu.put_object(bucket, k, v)
    tar_path, index_path = tmp_path / "out.tar", tmp_path / "out.idx"
    n = generate_tar_archive(ds_kwargs["endpoint"], ds_kwargs["cred_path"],
                             ds_kwargs["config_path"], str(tar_path), str(index_path),
                             f"oss://{bucket}/train/img/")
    assert n == 30
    index = TarIndex.from_bytes(index_path.read_bytes())
    archive = tar_path.read_bytes()
    assert [(name, archive[o:o + s]) for name, o, s in index.members()] == [
        (k[len("train/img/"):], v) for k, v in files.items()]
    # A prefix that is not a "directory": names are relative to its directory.
    generate_tar_archive(ds_kwargs["endpoint"], ds_kwargs["cred_path"], ds_kwargs["config_path"],
                         str(tar_path), str(index_path), f"oss://{bucket}/train/img/00")
    names = [name for name, _, _ in TarIndex.from_bytes(index_path.read_bytes()).members()]
    assert names == [k[len("train/img/"):] for k in files if k.startswith("train/img/00")]


def test_index_of_an_existing_archive(ds_kwargs, bucket, emu, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
        for i in range(12):
            data = os.urandom(i * 333)
            info = tarfile.TarInfo(f"dir/{'n' * (50 + 10 * i)}-{i}")  # GNU long names too
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("dir/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "dir/x"
        tar.addfile(link)
    archive = buf.getvalue()
    emu.put_object(bucket, "ds/train.tar", archive)
    n, _, _ = _build(ds_kwargs, bucket, None, index_only=True)
    assert n == 12
    index = TarIndex.from_bytes(emu and _fetch(ds_kwargs, f"oss://{bucket}/ds/train.idx"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        expect = [(m.name, m.offset_data, m.size) for m in tar if m.isreg()]
    assert list(index.members()) == expect
    # Local archive, local index.
    (tmp_path / "a.tar").write_bytes(archive)
    generate_tar_archive(ds_kwargs["endpoint"], ds_kwargs["cred_path"], ds_kwargs["config_path"],
                         str(tmp_path / "a.tar"), str(tmp_path / "a.idx"), index_only=True)
    assert list(TarIndex.from_bytes((tmp_path / "a.idx").read_bytes()).members()) == expect


def _fetch(ds_kwargs, uri):
    from ossconnector import Client

    with Client(ds_kwargs["endpoint"], cred_path=ds_kwargs["cred_path"],
                config_path=ds_kwargs["config_path"]) as c:
        return c.get(uri)


def test_compressed_archive_cannot_be_indexed(ds_kwargs, tmp_path):
    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    with pytest.raises(ValueError, match="compressed archives have no random access"):
        generate_tar_archive(ds_kwargs["endpoint"], ds_kwargs["cred_path"],
                             ds_kwargs["config_path"], str(path), str(tmp_path / "i"),
                             index_only=True)


def test_generate_errors(ds_kwargs, tmp_path):
    args = (ds_kwargs["endpoint"], ds_kwargs["cred_path"], ds_kwargs["config_path"])
    with pytest.raises(FileNotFoundError, match="source_path .*nope: no such directory"):
        generate_tar_archive(*args, str(tmp_path / "t.tar"), str(tmp_path / "i"),
                             str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files to pack"):
        generate_tar_archive(*args, str(tmp_path / "t.tar"), str(tmp_path / "i"),
                             str(tmp_path / "empty"))
    assert not (tmp_path / "t.tar").exists()
    with pytest.raises(ValueError, match="source_path is required"):
        generate_tar_archive(*args, str(tmp_path / "t.tar"), str(tmp_path / "i"))


def test_map_random_access_is_one_ranged_get(ds_kwargs, bucket, folder, emu):
    root, files = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssMapDataset.from_tar(tar_uri, index_uri, **ds_kwargs)
    names = list(files)
    assert len(ds) == len(files)
    emu.reset_stats()
    item = ds[5]
    assert (item.key, item.size, item.archive) == (names[5], len(files[names[5]]), tar_uri)
    assert item.read() == files[names[5]]
    st = emu.object_stats(bucket, "ds/train.tar")
    assert (st["GET"], st["ranged_gets"], st.get("HEAD", 0)) == (1, 1, 0)
    assert st["bytes_sent"] == len(files[names[5]])


def test_map_contiguous_batch_is_one_request(ds_kwargs, bucket, folder, emu):
    root, files = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssMapDataset.from_tar(tar_uri, index_uri, transform=name_and_bytes, **ds_kwargs)
    names = list(files)
    emu.reset_stats()
    batch = ds.__getitems__(list(range(10, 26)))
    assert batch == [(names[i], files[names[i]]) for i in range(10, 26)]
    st = emu.object_stats(bucket, "ds/train.tar")
    assert (st["GET"], st["ranged_gets"]) == (1, 1)
    # Shuffled indices of one neighbourhood are coalesced too; far apart ones are not.
    emu.reset_stats()
    batch = ds.__getitems__([3, 1, 2, 2])
    assert [n for n, _ in batch] == [names[3], names[1], names[2], names[2]]
    assert emu.object_stats(bucket, "ds/train.tar")["GET"] == 1


def test_map_far_apart_members_are_separate_requests(ds_kwargs, bucket, emu, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    for i in range(4):
        (root / f"{i}.bin").write_bytes(bytes([i]) * (100 << 10))
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssMapDataset.from_tar(tar_uri, index_uri, **ds_kwargs)
    emu.reset_stats()
    items = ds.__getitems__([0, 3])
    assert [i.read() for i in items] == [b"\0" * (100 << 10), b"\3" * (100 << 10)]
    assert emu.object_stats(bucket, "ds/train.tar")["GET"] == 2


@pytest.mark.parametrize("workers", [0, 2])
def test_map_tar_with_dataloader(ds_kwargs, bucket, folder, workers):
    root, files = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssMapDataset.from_tar(tar_uri, index_uri, transform=name_and_bytes, **ds_kwargs)
    loader = torch.utils.data.DataLoader(ds, batch_size=6, shuffle=True, num_workers=workers,
                                         collate_fn=pairs_of)
    got = [p for batch in loader for p in batch]
    assert collections.Counter(n for n, _ in got) == collections.Counter(list(files))
    assert dict(got) == files
    assert list(ds) == list(files.items())


@pytest.mark.parametrize("workers", [0, 2, 4])
def test_iterable_tar_each_member_once(ds_kwargs, bucket, folder, emu, workers):
    root, files = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssIterableDataset.from_tar(tar_uri, index_uri, transform=name_and_bytes, **ds_kwargs)
    emu.reset_stats()
    got = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers))
    assert collections.Counter(n for n, _ in got) == collections.Counter(list(files))
    assert dict(got) == files
    if workers == 0:
        assert [n for n, _ in got] == list(files)
        # 43 small members (~120 KB): one coalesced ranged GET.
        assert emu.object_stats(bucket, "ds/train.tar")["GET"] == 1


def test_iterable_tar_chunk_shuffle(ds_kwargs, bucket, folder):
    root, files = folder
    names = list(files)
    position = {n: i for i, n in enumerate(names)}
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))

    def order(seed, epoch=0, chunk=8):
        ds = OssIterableDataset.from_tar(tar_uri, index_uri, shuffle=True,
                                         shuffle_chunk_size=chunk, seed=seed, **ds_kwargs)
        ds.set_epoch(epoch)
        return [position[item.key] for item in ds]

    a = order(1)
    assert sorted(a) == list(range(len(names))) and a != sorted(a)
    assert order(1) == a  # same seed, same epoch: same order
    assert order(1, epoch=1) != a and order(2) != a
    # Chunk-level: the order is made of runs of consecutive members (whole
    # chunks; two chunks may happen to follow each other), at most one run
    # per chunk.
    runs, run = [], 1
    for x, y in zip(a, a[1:]):
        if y == x + 1:
            run += 1
        else:
            runs.append(run)
            run = 1
    runs.append(run)
    assert 2 <= len(runs) <= len(names) // 8 + 2


def test_iterable_tar_shuffle_with_workers_and_product_shuffle(ds_kwargs, bucket, folder):
    root, files = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    ds = OssIterableDataset.from_tar(tar_uri, index_uri, shuffle=True, shuffle_chunk_size=5,
                                     transform=name_and_bytes, **ds_kwargs)
    ds.shuffle(torch.Generator().manual_seed(0))  # the product's re-shuffle call
    got = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2))
    assert len(got) == len(files) and dict(got) == files


def test_from_tar_errors(ds_kwargs, bucket, folder, emu):
    root, _ = folder
    _, tar_uri, index_uri = _build(ds_kwargs, bucket, str(root))
    emu.put_object(bucket, "ds/other.tar", b"\0" * 1024)
    with pytest.raises(ValueError, match=r"built for a \d+-byte archive but .*other.tar has 1024"):
        OssMapDataset.from_tar(f"oss://{bucket}/ds/other.tar", index_uri, **ds_kwargs)
    emu.put_object(bucket, "ds/bad.idx", b"not an index")
    with pytest.raises(ValueError, match="bad.idx: not an ossconnector tar index"):
        OssIterableDataset.from_tar(tar_uri, f"oss://{bucket}/ds/bad.idx", **ds_kwargs)
    good = _fetch(ds_kwargs, index_uri)
    emu.put_object(bucket, "ds/cut.idx", good[:-3])
    with pytest.raises(ValueError, match="cut.idx: .*truncated or corrupt"):
        OssMapDataset.from_tar(tar_uri, f"oss://{bucket}/ds/cut.idx", **ds_kwargs)
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        OssMapDataset.from_tar(tar_uri, f"oss://{bucket}/ds/nope.idx", **ds_kwargs)
    with pytest.raises(ValueError, match="shuffle_chunk_size must be a positive int"):
        OssIterableDataset.from_tar(tar_uri, index_uri, shuffle=True, shuffle_chunk_size=0,
                                    **ds_kwargs)
    with pytest.raises(ValueError, match="not an oss:// URI"):
        OssMapDataset.from_tar("/local/train.tar", index_uri, **ds_kwargs)


def test_command_line(ds_kwargs, bucket, folder):
    root, files = folder
    out = subprocess.run(
        [sys.executable, "-m", "ossconnector.datasets.tar", "--endpoint", ds_kwargs["endpoint"],
         "--cred-path", ds_kwargs["cred_path"], "--config-path", ds_kwargs["config_path"],
         "--tar-path", f"oss://{bucket}/cli.tar", "--index-path", f"oss://{bucket}/cli.idx",
         "--source-path", str(root), "--list"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"{len(files)} members indexed in oss://{bucket}/cli.idx"
    assert [line.split("\t")[0] for line in lines[1:]] == list(files)
    assert out.stderr == ""
    bad = subprocess.run(
        [sys.executable, "-m", "ossconnector.datasets.tar", "--endpoint", ds_kwargs["endpoint"],
         "--cred-path", ds_kwargs["cred_path"], "--tar-path", "x.tar", "--index-path", "x.idx",
         "--source-path", "/nonexistent/dir"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "/nonexistent/dir: no such directory" in bad.stderr
