"""Bad input fails when the dataset is built, with a message naming the
URI, file or setting at fault."""

import pytest

from ossconnector.datasets import OssIterableDataset, OssMapDataset


@pytest.mark.parametrize("cls", [OssIterableDataset, OssMapDataset])
def test_malformed_uris(ds_kwargs, cls):
    with pytest.raises(ValueError, match=r"from_prefix: 's3://b/x' is not an oss:// URI"):
        cls.from_prefix("s3://b/x", **ds_kwargs)
    with pytest.raises(ValueError, match=r"from_prefix: 'oss://B_ad/x'"):
        cls.from_prefix("oss://B_ad/x", **ds_kwargs)
    with pytest.raises(ValueError, match=r"object_uris\[1\]: 'bkt/key' is not an oss:// URI"):
        cls.from_objects(["oss://bkt/a", "bkt/key"], **ds_kwargs)
    with pytest.raises(ValueError, match=r"object_uris\[0\] 'oss://bkt/dir/' names no object"):
        cls.from_objects(["oss://bkt/dir/"], **ds_kwargs)
    with pytest.raises(ValueError, match="object_uris is empty"):
        cls.from_objects([], **ds_kwargs)
    with pytest.raises(TypeError, match=r"object_uris\[0\]: expected an oss:// URI string"):
        cls.from_objects([3], **ds_kwargs)


def test_missing_bucket_when_listing(ds_kwargs):
    with pytest.raises(FileNotFoundError, match="oss://no-such-bucket-here/"):
        OssMapDataset.from_prefix("oss://no-such-bucket-here/x/", **ds_kwargs)


def test_endpoint_and_transform(ds_kwargs):
    kw = dict(ds_kwargs, endpoint="")
    with pytest.raises(ValueError, match="endpoint must be a non-empty string"):
        OssMapDataset.from_objects("oss://bkt/a", **kw)
    with pytest.raises(TypeError, match="transform must be callable"):
        OssIterableDataset.from_objects("oss://bkt/a", transform="nope", **ds_kwargs)


def test_direct_construction_points_to_the_factories(ds_kwargs):
    with pytest.raises(TypeError, match="build it with from_prefix"):
        OssMapDataset(None, **ds_kwargs)
    with pytest.raises(TypeError, match="build it with from_prefix"):
        OssIterableDataset("oss://bkt/", **ds_kwargs)


def test_bad_config_values_name_the_key(ds_kwargs, config_with):
    for overrides, pattern in [
        ({"datasetConfig": {"prefetchConcurrency": 0}}, "prefetchConcurrency"),
        ({"datasetConfig": {"enableFastList": "yes"}}, "enableFastList"),
    ]:
        cfg = config_with(**overrides)
        with pytest.raises(ValueError, match=pattern):
            OssMapDataset.from_objects("oss://bkt/a", **dict(ds_kwargs, config_path=cfg))


def test_missing_config_and_credential_files(ds_kwargs, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        OssMapDataset.from_objects("oss://bkt/a", **dict(ds_kwargs,
                                                         config_path=str(tmp_path / "nope.json")))
    with pytest.raises(FileNotFoundError, match="no-creds"):
        OssMapDataset.from_objects("oss://bkt/a", **dict(ds_kwargs,
                                                         cred_path=str(tmp_path / "no-creds")))


def test_wrong_credentials_name_the_object(ds_kwargs, bucket, emu, tmp_path):
    import json

    emu.put_object(bucket, "a", b"A")
    bad = tmp_path / "bad-creds"
    bad.write_text(json.dumps({"AccessKeyId": emu.access_key_id, "AccessKeySecret": "wrong"}))
    bad.chmod(0o600)
    ds = OssMapDataset.from_objects(f"oss://{bucket}/a", **dict(ds_kwargs, cred_path=str(bad)))
    with pytest.raises(PermissionError, match=f"oss://{bucket}/a"):
        ds[0]
