"""OssModelConnector.list: normal and fast listing agree with each other and
with oss2 on 10,000+ keys; keys are inside the bucket."""

from concurrent.futures import ThreadPoolExecutor

import oss2


def test_list_and_fast_list_agree_on_10k_keys(emu, bucket, connector, oss2b):
    keys = [f"ds/{d}/{i:06d}{suffix}" for d in ("a", "b b", "ü") for i in range(3500)
            for suffix in ("",)]
    keys += ["ds/+plus", "ds/%pct", "ds/#hash?q", "ds/z/deep/er/file"]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: emu.put_object(bucket, k, k.encode()[: (len(k) % 7) + 1]), keys))
    emu.put_object(bucket, "other/outside", b"x")  # not under the prefix
    want = sorted((k, (len(k) % 7) + 1) for k in keys)

    normal = connector.list(bucket, "ds/")
    assert [(o.key, o.size) for o in normal] == want  # key order
    fast = connector.list(bucket, "ds/", True)
    assert sorted((o.key, o.size) for o in fast) == want
    ref = sorted((o.key, o.size) for o in oss2.ObjectIteratorV2(oss2b, prefix="ds/"))
    assert ref == want
    assert len(connector.list(bucket, "ds/b b/")) == 3500
    assert connector.list(bucket, "nothing/here/") == []
    assert connector.list(bucket, "nothing/here/", fast=True) == []


def test_list_whole_bucket(emu, bucket, connector):
    for k in ("x", "y/z"):
        emu.put_object(bucket, k, b"12")
    got = connector.list(bucket, "")
    assert [(o.key, o.size) for o in got] == [("x", 2), ("y/z", 2)]
    assert sorted(o.key for o in connector.list(bucket, "", True)) == ["x", "y/z"]


def test_list_missing_bucket_names_it(connector):
    import pytest

    with pytest.raises(FileNotFoundError, match="no-such-bucket-xyz"):
        connector.list("no-such-bucket-xyz", "a/")
