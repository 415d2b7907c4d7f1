"""Manifests: local and oss://, the documented parser signature, the
imagenet parser, labels, and errors that name the file and line."""

import io
from typing import Iterable, Tuple

import pytest
import torch

from ds_helpers import get_ops
from ossconnector.datasets import OssIterableDataset, OssMapDataset, imagenet_manifest_parser


def documented_parser(reader: io.IOBase) -> Iterable[Tuple[str, str]]:
    """The parser of the product's documentation (space separated)."""
    lines = reader.read().decode("utf-8").strip().split("\n")
    for line in lines:
        items = line.strip().split(" ")
        if len(items) >= 2:
            yield items[0], items[1]
        elif len(items) == 1:
            yield items[0], ""


def label_transform(item):
    return item.key, item.label, item.read()


@pytest.fixture
def images(emu, bucket):
    """Objects under EnglistImg/ as in the product's example."""
    keys = [f"Img/BadImag/Bmp/Sample001/img001-{i:05d}.png" for i in range(1, 7)]
    for k in keys:
        emu.put_object(bucket, "EnglistImg/" + k, k.encode())
    return keys


@pytest.mark.parametrize("cls", [OssIterableDataset, OssMapDataset])
def test_local_manifest_with_labels(ds_kwargs, bucket, images, tmp_path, cls, emu):
    manifest = tmp_path / "manifest_file"
    manifest.write_text("".join(f"{k} label{i}\n" for i, k in enumerate(images)))
    emu.reset_stats()
    ds = cls.from_manifest_file(str(manifest), documented_parser, f"oss://{bucket}/EnglistImg/",
                                transform=label_transform, **ds_kwargs)
    got = list(ds)
    assert got == [(f"oss://{bucket}/EnglistImg/{k}", f"label{i}", k.encode())
                   for i, k in enumerate(images)]
    assert get_ops(emu, "ListObjectsV2") == 0  # a manifest replaces the listing


def test_manifest_on_oss_without_labels(ds_kwargs, bucket, images, emu):
    emu.put_object(bucket, "manifest_file/EnglistImg/manifest_file", "\n".join(images).encode())
    ds = OssIterableDataset.from_manifest_file(
        f"oss://{bucket}/manifest_file/EnglistImg/manifest_file", documented_parser,
        f"oss://{bucket}/EnglistImg/", **ds_kwargs)
    items = list(ds)
    assert [(i.key, i.label, i.size) for i in items] == [
        (f"oss://{bucket}/EnglistImg/{k}", "", len(k)) for k in images]


def test_manifest_with_dataloader_workers(ds_kwargs, bucket, images, tmp_path):
    manifest = tmp_path / "m.tsv"
    manifest.write_text("".join(f"{k}\t{i % 3}\n" for i, k in enumerate(images)))
    ds = OssMapDataset.from_manifest_file(str(manifest), imagenet_manifest_parser,
                                          f"oss://{bucket}/EnglistImg/",
                                          transform=label_transform, **ds_kwargs)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, shuffle=True,
                                         collate_fn=list)
    got = sorted(x for batch in loader for x in batch)
    assert got == sorted((f"oss://{bucket}/EnglistImg/{k}", str(i % 3), k.encode())
                         for i, k in enumerate(images))


def test_imagenet_parser():
    text = b"a/1.jpeg\tn01440764\r\nb/2.jpeg\n\n  \nc/3.jpeg\tn2\textra\n"
    assert list(imagenet_manifest_parser(io.BytesIO(text))) == [
        ("a/1.jpeg", "n01440764"), ("b/2.jpeg", ""), ("c/3.jpeg", "n2")]


def test_imagenet_parser_names_file_and_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(b"a.jpeg\t1\nb.jpeg\t2\n\tno-key\n")
    with open(path, "rb") as f, pytest.raises(ValueError, match=rf"{path}, line 3: empty object key"):
        list(imagenet_manifest_parser(f))
    path.write_bytes(b"a.jpeg\t1\n\xff\xfe\t2\n")
    with open(path, "rb") as f, pytest.raises(ValueError, match=r"line 2: not valid UTF-8"):
        list(imagenet_manifest_parser(f))


def test_bad_manifest_line_fails_the_constructor(ds_kwargs, bucket, tmp_path, emu):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"ok.jpeg\t1\n\tlabel-without-key\n")
    with pytest.raises(ValueError, match=r"bad.tsv, line 2: empty object key"):
        OssMapDataset.from_manifest_file(str(path), imagenet_manifest_parser,
                                         f"oss://{bucket}/", **ds_kwargs)
    emu.put_object(bucket, "m/bad.tsv", b"ok\n\tx\n")
    with pytest.raises(ValueError, match=rf"oss://{bucket}/m/bad.tsv, line 2"):
        OssMapDataset.from_manifest_file(f"oss://{bucket}/m/bad.tsv", imagenet_manifest_parser,
                                         f"oss://{bucket}/", **ds_kwargs)


def test_parser_output_is_checked(ds_kwargs, bucket, tmp_path):
    path = tmp_path / "m"
    path.write_text("a\n")
    with pytest.raises(ValueError, match=r"manifest .*/m: entry 1 from the parser is 'a'"):
        OssMapDataset.from_manifest_file(str(path), lambda r: ["a"], f"oss://{bucket}/",
                                         **ds_kwargs)
    with pytest.raises(ValueError, match=r"entry 2 has key ''"):
        OssMapDataset.from_manifest_file(str(path), lambda r: [("a", ""), ("", "x")],
                                         f"oss://{bucket}/", **ds_kwargs)
    with pytest.raises(TypeError, match="returned None"):
        OssMapDataset.from_manifest_file(str(path), lambda r: None, f"oss://{bucket}/",
                                         **ds_kwargs)


def test_missing_manifest(ds_kwargs, bucket, tmp_path):
    with pytest.raises(FileNotFoundError, match="manifest .*nope: no such file"):
        OssMapDataset.from_manifest_file(str(tmp_path / "nope"), imagenet_manifest_parser,
                                         f"oss://{bucket}/", **ds_kwargs)
    with pytest.raises(FileNotFoundError, match=f"oss://{bucket}/nope"):
        OssMapDataset.from_manifest_file(f"oss://{bucket}/nope", imagenet_manifest_parser,
                                         f"oss://{bucket}/", **ds_kwargs)


def test_full_uris_without_base(ds_kwargs, bucket, emu, tmp_path):
    emu.put_object(bucket, "k", b"v")
    path = tmp_path / "m"
    path.write_text(f"oss://{bucket}/k\tlbl\n")
    ds = OssMapDataset.from_manifest_file(str(path), imagenet_manifest_parser, "", **ds_kwargs)
    assert (ds[0].key, ds[0].label, ds[0].read()) == (f"oss://{bucket}/k", "lbl", b"v")
    path.write_text("k\n")
    with pytest.raises(ValueError, match="not an oss:// URI and no oss_base_uri"):
        OssMapDataset.from_manifest_file(str(path), imagenet_manifest_parser, "", **ds_kwargs)
    with pytest.raises(ValueError, match="oss_base_uri must start with oss://"):
        OssMapDataset.from_manifest_file(str(path), imagenet_manifest_parser, "s3://b/",
                                         **ds_kwargs)


def test_integer_labels(ds_kwargs, bucket, emu, tmp_path):
    emu.put_object(bucket, "k", b"v")
    path = tmp_path / "m"
    path.write_text("k\n")
    ds = OssMapDataset.from_manifest_file(str(path), lambda r: [("k", 0), ("k", 7)],
                                          f"oss://{bucket}/", **ds_kwargs)
    assert [ds[0].label, ds[1].label] == [0, 7]
