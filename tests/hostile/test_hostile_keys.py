"""Hostile object keys (defect 6 of issue 14).

NUL: the engine takes C strings, so ``uni/a\\0b`` used to reach the wire
as ``uni/a`` and overwrite another object.  Every entry point now refuses
a URI, bucket, key or prefix with a NUL (ValueError naming it) before a
request leaves.

Dot segments: ``a/./b``, ``a/../b``, ``..``, ``./x`` are valid OSS keys.
libcurl used to normalise them away on the wire (the signature then
failed as 403 SignatureDoesNotMatch, pointing at the secret); they are
now sent verbatim and round-trip under V1 and V4 signing."""

from __future__ import annotations

import json

import pytest

from ossconnector import Client

DOT_KEYS = ["a/./b", "a/../b", "..", "./x", ".", "a/..", "a/.", "../../etc/passwd", "d/../../x"]


@pytest.fixture(params=[None, "v4"])
def any_client(request, emu, cred_file, config_file):
    region = emu.region if request.param else None
    c = Client(emu.endpoint, cred_path=cred_file, config_path=config_file, region=region)
    yield c
    c.close()


def _key_id(key):
    return key.replace("/", "|") or "empty"


@pytest.mark.parametrize("key", DOT_KEYS, ids=_key_id)
def test_dot_segments_round_trip(any_client, bucket, key):
    data = f"the object {key}".encode()
    uri = f"oss://{bucket}/{key}"
    any_client.put(uri, data)
    assert any_client.get(uri) == data
    assert any_client.stat(uri).size == len(data)
    # stored under exactly that key, nothing else created
    assert [e.key for e in any_client.list(f"oss://{bucket}/")] == [key]
    with any_client.open(uri) as r:
        r.seek(4)
        assert r.read(6) == data[4:10]
    any_client.delete(uri)
    assert list(any_client.list(f"oss://{bucket}/")) == []


def test_dot_segments_list_under_a_dotted_prefix(any_client, bucket):
    for key in ("p/../q/1", "p/../q/2", "p/q/3"):
        any_client.put(f"oss://{bucket}/{key}", b"x")
    assert [e.key for e in any_client.list(f"oss://{bucket}/p/../")] == ["p/../q/1", "p/../q/2"]
    assert sorted(e.key for e in any_client.list(f"oss://{bucket}/p/", fast=True)) == \
        ["p/../q/1", "p/../q/2", "p/q/3"]


def test_dot_segments_copy(any_client, bucket):
    any_client.put(f"oss://{bucket}/a/../b", b"src")
    any_client.copy(f"oss://{bucket}/a/../b", f"oss://{bucket}/./c")
    assert any_client.get(f"oss://{bucket}/./c") == b"src"
    assert sorted(e.key for e in any_client.list(f"oss://{bucket}/")) == ["./c", "a/../b"]


def _jsonl(f):
    return [tuple(json.loads(line)) for line in f]


NUL_URIS = ["oss://{b}/uni/a\0b", "oss://{b}\0x/uni/a", "oss://{b}/\0", "oss://{b}/uni/a\0"]


@pytest.mark.parametrize("template", NUL_URIS, ids=["key", "bucket", "only-nul", "trailing"])
def test_nul_is_refused_by_every_client_call(client, emu, bucket, template):
    emu.put_object(bucket, "uni/a", b"the other object")
    uri = template.format(b=bucket)
    emu.reset_stats()
    calls = [
        lambda: client.put(uri, b"overwrite"),
        lambda: client.get(uri),
        lambda: client.open(uri),
        lambda: client.open(uri, size=5),
        lambda: client.stat(uri),
        lambda: client.create(uri),
        lambda: client.delete(uri),
        lambda: list(client.list(uri)),
        lambda: list(client.list(uri, fast=True)),
        lambda: client.copy(f"oss://{bucket}/uni/a", uri),
        lambda: client.copy(uri, f"oss://{bucket}/uni/c"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="NUL"):
            call()
    assert emu.stats()["total_requests"] == 0  # refused before anything was sent
    assert client.get(f"oss://{bucket}/uni/a") == b"the other object"


def test_nul_is_refused_by_dataset_checkpoint_and_model_entry_points(
        emu, bucket, cred_file, config_file, tmp_path):
    from ossconnector.checkpoint import OssCheckpoint
    from ossconnector.datasets import OssIterableDataset as IterableDataset
    from ossconnector.datasets import OssMapDataset as MapDataset
    from ossconnector.model import Connector

    emu.put_object(bucket, "uni/a", b"the other object")
    bad = f"oss://{bucket}/uni/a\0b"
    kw = dict(cred_path=cred_file, config_path=config_file)
    emu.reset_stats()
    with pytest.raises(ValueError, match="NUL"):
        list(IterableDataset.from_objects([bad], emu.endpoint, **kw))
    with pytest.raises(ValueError, match="NUL"):
        list(IterableDataset.from_prefix(bad, emu.endpoint, **kw))
    with pytest.raises(ValueError, match="NUL"):
        MapDataset.from_objects([bad], emu.endpoint, **kw)[0]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text(json.dumps(["uni/a\0b", "label"]) + "\n")
    with pytest.raises(ValueError, match="NUL"):
        list(IterableDataset.from_manifest_file(str(manifest), _jsonl, f"oss://{bucket}/",
                                                emu.endpoint, **kw))
    with OssCheckpoint(emu.endpoint, cred_file, config_file) as ckpt:
        with pytest.raises(ValueError, match="NUL"):
            ckpt.writer(bad)
        with pytest.raises(ValueError, match="NUL"):
            ckpt.reader(bad)
    with Connector(emu.endpoint, **kw) as conn:
        with pytest.raises(ValueError, match="NUL"):
            conn.open(bad)
        for fast in (False, True):
            with pytest.raises(ValueError, match="NUL"):
                conn.list(bucket, "uni/a\0b", fast=fast)
        with pytest.raises(ValueError, match="NUL"):
            conn.prepare_directory(bad + "/", str(tmp_path / "model"))
    assert emu.stats()["total_requests"] == 0
    with Client(emu.endpoint, **kw) as c:
        assert c.get(f"oss://{bucket}/uni/a") == b"the other object"
