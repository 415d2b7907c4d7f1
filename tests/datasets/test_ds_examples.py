"""The product's documented dataset examples, run through the drop-in
``osstorchconnector`` package unchanged apart from endpoint, credentials
and the bucket name, and the steps they repeat (printing an item, the
three from_objects URIs) written once below; torchvision's transforms (no
CPU build here) are replaced by the same steps written with PIL and
torch."""

import io
from typing import Iterable, Tuple

import pytest
import torch

PIL = pytest.importorskip("PIL.Image")
Image = PIL

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")

N_IMAGES = 12


def trans(img):
    """Resize(256), CenterCrop(224), ToTensor(), Normalize(ImageNet)."""
    w, h = img.size
    scale = 256 / min(w, h)
    img = img.resize((max(256, round(w * scale)), max(256, round(h * scale))))
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    t = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    t = t.view(224, 224, 3).permute(2, 0, 1).float() / 255
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    return (t - mean) / std


def transform(data):
    try:
        img = Image.open(io.BytesIO(data.read())).convert('RGB')
        val = trans(img)
    except Exception as e:
        raise e
    return val, data.key, data.label


def transform_two(data):
    img = Image.open(io.BytesIO(data.read())).convert('RGB')
    return trans(img), data.label


def manifest_parser(reader: io.IOBase) -> Iterable[Tuple[str, str]]:
    lines = reader.read().decode("utf-8").strip().split("\n")
    for i, line in enumerate(lines):
        try:
            items = line.strip().split(' ')
            if len(items) >= 2:
                key = items[0]
                label = items[1]
                yield (key, label)
            elif len(items) == 1:
                key = items[0]
                yield (key, '')
            else:
                raise ValueError("format error")
        except ValueError as e:
            raise e


def print_item(item):
    """What the examples print for an item: key, size, length of its bytes."""
    print(item.key)
    print(item.size)
    content = item.read()
    print(len(content))


def print_items(dataset):
    """The examples' loop: print_item for every item, closing each."""
    for item in dataset:
        print_item(item)
        item.close()


def example_uris(bucket):
    """The objects the from_objects examples name."""
    return [
        f"oss://{bucket}/EnglistImg/Img/BadImag/Bmp/Sample001/img001-00001.png",
        f"oss://{bucket}/EnglistImg/Img/BadImag/Bmp/Sample001/img001-00002.png",
        f"oss://{bucket}/EnglistImg/Img/BadImag/Bmp/Sample001/img001-00003.png"
    ]


@pytest.fixture
def product_env(emu, bucket, cred_file, config_file):
    """ENDPOINT, CONFIG_PATH, CRED_PATH, OSS_URI as in the examples, with
    PNG images generated under EnglistImg/Img/BadImag/Bmp/Sample001/."""
    keys = []
    for i in range(1, N_IMAGES + 1):
        img = Image.new("RGB", (300 + 7 * i, 260 + 3 * i), (i * 20 % 256, 80, 160))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        key = f"EnglistImg/Img/BadImag/Bmp/Sample001/img001-{i:05d}.png"
        emu.put_object(bucket, key, buf.getvalue())
        keys.append(key)
    return {"ENDPOINT": emu.endpoint, "CONFIG_PATH": config_file, "CRED_PATH": cred_file,
            "OSS_URI": f"oss://{bucket}/EnglistImg/Img/BadImag/Bmp/Sample001/",
            "bucket": bucket, "keys": keys}


def test_iterable_dataset_example(product_env, capsys):
    from osstorchconnector import OssIterableDataset

    ENDPOINT, CONFIG_PATH, CRED_PATH, OSS_URI = (product_env[k] for k in (
        "ENDPOINT", "CONFIG_PATH", "CRED_PATH", "OSS_URI"))
    bucket = product_env["bucket"]

    # 1) from_prefix
    iterable_dataset = OssIterableDataset.from_prefix(OSS_URI, endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    print_items(iterable_dataset)

    # 2) from_objects
    uris = example_uris(bucket)
    iterable_dataset = OssIterableDataset.from_objects(uris, endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    print_items(iterable_dataset)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 * (N_IMAGES + 3)
    assert lines[0] == f"oss://{bucket}/{product_env['keys'][0]}"
    assert lines[1] == lines[2] and int(lines[1]) > 0


def test_map_dataset_example(product_env, capsys):
    from osstorchconnector import OssMapDataset

    ENDPOINT, CONFIG_PATH, CRED_PATH, OSS_URI = (product_env[k] for k in (
        "ENDPOINT", "CONFIG_PATH", "CRED_PATH", "OSS_URI"))
    bucket = product_env["bucket"]

    # 1) from_prefix
    map_dataset = OssMapDataset.from_prefix(OSS_URI, endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    # random access
    item = map_dataset[0]
    print_item(item)
    item.close()

    # or
    with map_dataset[5] as item:
        print_item(item)

    # iterable
    print_items(map_dataset)

    # 2) from_objects
    uris = example_uris(bucket)
    map_dataset = OssMapDataset.from_objects(uris, endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    # random access
    item = map_dataset[1]
    print_item(item)
    item.close()

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"oss://{bucket}/{product_env['keys'][0]}"
    assert lines[3] == f"oss://{bucket}/{product_env['keys'][5]}"
    assert lines[-3] == uris[1]
    assert len(lines) == 3 + 3 + 3 * N_IMAGES + 3


def test_manifest_example(product_env, tmp_path, monkeypatch, capsys, emu):
    from osstorchconnector import OssIterableDataset

    ENDPOINT, CONFIG_PATH, CRED_PATH = (product_env[k] for k in (
        "ENDPOINT", "CONFIG_PATH", "CRED_PATH"))
    bucket = product_env["bucket"]
    names = [k[len("EnglistImg/"):] for k in product_env["keys"][:3]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest_file").write_text("".join(f"{n} label{i + 1}\n"
                                                    for i, n in enumerate(names)))
    emu.put_object(bucket, "manifest_file/EnglistImg/manifest_file", "\n".join(names).encode())

    # from local manifest_file
    iterable_dataset = OssIterableDataset.from_manifest_file("manifest_file", manifest_parser, f"oss://{bucket}/EnglistImg/", endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    for item in iterable_dataset:
        print(item.key)
        print(item.size)
        print(item.label)
        content = item.read()
        print(len(content))
        item.close()

    # manifest_file on oss
    iterable_dataset = OssIterableDataset.from_manifest_file(f"oss://{bucket}/manifest_file/EnglistImg/manifest_file", manifest_parser, f"oss://{bucket}/EnglistImg/", endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    assert [i.label for i in iterable_dataset] == ["", "", ""]

    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "label1" and lines[10] == "label3" and len(lines) == 12
    assert lines[1] == lines[3]


def test_transform_example(product_env):
    from osstorchconnector import OssIterableDataset

    ENDPOINT, CONFIG_PATH, CRED_PATH, OSS_URI = (product_env[k] for k in (
        "ENDPOINT", "CONFIG_PATH", "CRED_PATH", "OSS_URI"))
    iterable_dataset = OssIterableDataset.from_prefix(OSS_URI, endpoint=ENDPOINT, transform=transform_two, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    got = []
    for item in iterable_dataset:
        got.append(item)
        assert item[0].shape == (3, 224, 224)
        assert item[1] == ""
    assert len(got) == N_IMAGES


@pytest.mark.parametrize("workers", [2])
def test_dataloader_example(product_env, workers):
    from osstorchconnector import OssIterableDataset, OssMapDataset

    ENDPOINT, CONFIG_PATH, CRED_PATH, OSS_URI = (product_env[k] for k in (
        "ENDPOINT", "CONFIG_PATH", "CRED_PATH", "OSS_URI"))
    expected = {f"oss://{product_env['bucket']}/{k}" for k in product_env["keys"]}

    # OssIterableDataset
    iterable_dataset = OssIterableDataset.from_prefix(OSS_URI, endpoint=ENDPOINT, transform=transform, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    loader = torch.utils.data.DataLoader(iterable_dataset, batch_size=4, num_workers=workers, prefetch_factor=2)
    seen = []
    for i, (datas, keys, labels) in enumerate(loader):
        assert datas.shape[1:] == (3, 224, 224) and len(keys) == len(labels) == datas.shape[0]
        seen.extend(keys)
    assert sorted(seen) == sorted(expected)

    # OssMapDataset with shuffle
    map_dataset = OssMapDataset.from_prefix(OSS_URI, endpoint=ENDPOINT, transform=transform, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    loader = torch.utils.data.DataLoader(map_dataset, batch_size=4, num_workers=workers, prefetch_factor=2, shuffle=True)
    seen = []
    for i, (datas, keys, labels) in enumerate(loader):
        seen.extend(keys)
    assert sorted(seen) == sorted(expected)


def test_documented_names_and_tool(product_env, tmp_path):
    import osstorchconnector

    for name in ("OssIterableDataset", "OssMapDataset", "OssClient", "imagenet_manifest_parser",
                 "generate_tar_archive"):
        assert callable(getattr(osstorchconnector, name)), name
    from osstorchconnector import OssClient, OssMapDataset, generate_tar_archive

    # tools/generate_tar_archive.py's call, positionally.
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(b"A")
    (src / "b.png").write_bytes(b"BB")
    bucket = product_env["bucket"]
    n = generate_tar_archive(product_env["ENDPOINT"], product_env["CRED_PATH"],
                             product_env["CONFIG_PATH"], f"oss://{bucket}/t.tar",
                             f"oss://{bucket}/t.idx", str(src), False)
    assert n == 2
    ds = OssMapDataset.from_tar(f"oss://{bucket}/t.tar", f"oss://{bucket}/t.idx",
                                endpoint=product_env["ENDPOINT"],
                                cred_path=product_env["CRED_PATH"],
                                config_path=product_env["CONFIG_PATH"])
    assert [(ds[i].key, ds[i].read()) for i in range(2)] == [("a.png", b"A"), ("b.png", b"BB")]

    client = OssClient(product_env["ENDPOINT"], product_env["CRED_PATH"],
                       product_env["CONFIG_PATH"])
    key = product_env["keys"][0]
    with client.get_object(bucket, key) as obj:
        assert obj.key == f"oss://{bucket}/{key}" and len(obj.read()) == obj.size
    listed = list(client.list_objects(bucket, "EnglistImg/"))
    assert [o.key for o in listed] == [f"oss://{bucket}/{k}" for k in product_env["keys"]]
    with client.put_object(bucket, "written") as w:
        w.write(b"hello")
    got = list(client.list_objects_from_uris([f"oss://{bucket}/written", f"oss://{bucket}/no"],
                                             prefetch=True, include_errors=True))
    assert got[0].read() == b"hello" and got[1] is None
    members = list(client.list_objects_from_tar(bucket, "t.tar", "t.idx", [1], [1]))
    assert [(m.key, m.read()) for m in members] == [("b.png", b"BB")]
