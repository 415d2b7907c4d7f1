"""Service and bucket operations."""

import oss2
import pytest

from ossconnector.emulator.testing import oss2_bucket, oss2_service, unique_bucket_name


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_create_list_delete_bucket(emu, version):
    name = unique_bucket_name("cr")
    b = oss2_bucket(emu, name, auth_version=version)
    b.create_bucket()
    with pytest.raises(oss2.exceptions.OssError) as exc:
        b.create_bucket()
    assert exc.value.status == 409
    names = [x.name for x in oss2.BucketIterator(oss2_service(emu, auth_version=version))]
    assert name in names
    info = b.get_bucket_info()
    assert info.name == name and info.location == "oss-" + emu.region
    assert b.get_bucket_location().location == "oss-" + emu.region
    b.put_object("k", b"v")
    with pytest.raises(oss2.exceptions.OssError) as exc:
        b.delete_bucket()
    assert exc.value.status == 409 and exc.value.code == "BucketNotEmpty"
    b.delete_object("k")
    b.delete_bucket()
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        b.get_bucket_info()


def test_invalid_bucket_name(emu):
    from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, signed_headers
    headers = signed_headers(emu, "PUT", "Bad_Name")  # oss2 itself refuses such names client-side
    head, body, _ = raw_exchange(emu.endpoint, build_request("PUT", "/Bad_Name/", dict(headers, Connection="close")))
    assert parse_head(head)[0] == 400 and b"<Code>InvalidBucketName</Code>" in body


def test_batch_delete(bucket):
    keys = ["a", "b c", "d+e", "f/g"]
    for k in keys:
        bucket.put_object(k, b"x")
    result = bucket.batch_delete_objects(keys[:3] + ["missing"])
    assert sorted(result.deleted_keys) == sorted(keys[:3] + ["missing"])
    assert [o.key for o in oss2.ObjectIterator(bucket)] == ["f/g"]


def test_object_and_bucket_acl(bucket):
    bucket.put_object("acl", b"x", headers={"x-oss-object-acl": "private"})
    assert bucket.get_object_acl("acl").acl == "private"
    bucket.put_object_acl("acl", oss2.OBJECT_ACL_PUBLIC_READ)
    assert bucket.get_object_acl("acl").acl == "public-read"
    assert bucket.get_bucket_acl().acl == "private"
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
    assert bucket.get_bucket_acl().acl == "public-read"


def test_tagging_is_forwarded_to_moto(bucket):
    bucket.put_object("tagged", b"x")
    rule = oss2.models.TaggingRule()
    rule.add("team", "data")
    bucket.put_object_tagging("tagged", oss2.models.Tagging(rule))
    assert bucket.get_object_tagging("tagged").tag_set.tagging_rule == {"team": "data"}


def test_bucket_stat(bucket):
    bucket.put_object("a", b"12345")
    bucket.put_object("b", b"678")
    stat = bucket.get_bucket_stat()
    assert stat.storage_size_in_bytes == 8 and stat.object_count == 2


def test_unsupported_operations_answer_501(bucket):
    bucket.put_object("k", b"x")
    for call in (lambda: bucket.put_symlink("k", "link"), lambda: bucket.append_object("ap", 0, b"x")):
        with pytest.raises(oss2.exceptions.OssError) as exc:
            call()
        assert exc.value.status == 501 and exc.value.code == "NotImplemented"
    assert not bucket.object_exists("link")
