"""Multipart upload through oss2 (which checks CRCs of parts and the result)."""

import os

import oss2
import pytest
from oss2.models import PartInfo

PART = 100 * 1024


def upload_parts(bucket, key, parts):
    upload_id = bucket.init_multipart_upload(key).upload_id
    infos = []
    for number, data in enumerate(parts, 1):
        result = bucket.upload_part(key, upload_id, number, data)  # oss2 verifies the part CRC
        infos.append(PartInfo(number, result.etag, size=len(data), part_crc=result.crc))
    return upload_id, infos


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_multipart_roundtrip(emu, bucket_name, version):
    from ossconnector.emulator.testing import oss2_bucket
    bucket = oss2_bucket(emu, bucket_name, auth_version=version)
    parts = [os.urandom(PART), os.urandom(PART + 17), os.urandom(999)]
    key = "mp/obj ect+1"
    upload_id, infos = upload_parts(bucket, key, parts)
    result = bucket.complete_multipart_upload(key, upload_id, infos)  # oss2 checks the combined CRC
    data = b"".join(parts)
    got = bucket.get_object(key)
    assert got.read() == data
    assert got.headers["x-oss-object-type"] == "Multipart"
    assert result.etag.endswith("-3") and got.etag == result.etag
    assert bucket.get_object(key, byte_range=(PART - 5, PART + 5)).read() == data[PART - 5:PART + 6]
    # the upload is gone
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.list_parts(key, upload_id)


def test_list_parts_and_uploads(bucket):
    upload_id, infos = upload_parts(bucket, "lp", [b"a" * PART, b"b" * PART, b"c"])
    other = bucket.init_multipart_upload("dir/other").upload_id
    parts = bucket.list_parts("lp", upload_id).parts
    assert [p.part_number for p in parts] == [1, 2, 3] and [p.size for p in parts] == [PART, PART, 1]
    page = bucket.list_parts("lp", upload_id, max_parts=2)
    assert page.is_truncated and page.next_marker == "2"
    uploads = {(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(bucket)}
    assert uploads == {("lp", upload_id), ("dir/other", other)}
    prefixed = [u.key for u in oss2.MultipartUploadIterator(bucket, prefix="dir/")]
    assert prefixed == ["dir/other"]
    bucket.abort_multipart_upload("dir/other", other)
    bucket.abort_multipart_upload("lp", upload_id)
    assert list(oss2.MultipartUploadIterator(bucket)) == []
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.abort_multipart_upload("lp", upload_id)


def test_part_replacement_and_errors(bucket):
    upload_id, infos = upload_parts(bucket, "e", [b"1" * PART, b"2" * 10])
    bad = [PartInfo(1, "0" * 32), infos[1]]
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.complete_multipart_upload("e", upload_id, bad)
    assert exc.value.code == "InvalidPart"
    small = bucket.upload_part("e", upload_id, 1, b"tiny")
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.complete_multipart_upload("e", upload_id, [PartInfo(1, small.etag), infos[1]])
    assert exc.value.code == "EntityTooSmall"
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.upload_part("e", upload_id, 10001, b"x")
    assert exc.value.status == 400
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.upload_part("e", "no-such-upload", 1, b"x")
    bucket.abort_multipart_upload("e", upload_id)


def test_complete_all_header(bucket):
    parts = [b"x" * PART, b"y" * 5]
    upload_id, _ = upload_parts(bucket, "all", parts)
    bucket.complete_multipart_upload("all", upload_id, None, headers={"x-oss-complete-all": "yes"})
    assert bucket.get_object("all").read() == b"".join(parts)


def test_metadata_from_initiate(bucket):
    upload_id = bucket.init_multipart_upload("meta", headers={"Content-Type": "text/csv",
                                                              "x-oss-meta-origin": "mp"}).upload_id
    r = bucket.upload_part("meta", upload_id, 1, b"only part")
    bucket.complete_multipart_upload("meta", upload_id, [PartInfo(1, r.etag)])
    head = bucket.head_object("meta")
    assert head.content_type == "text/csv" and head.headers["x-oss-meta-origin"] == "mp"


def test_upload_part_copy_via_moto(bucket, bucket_name):
    src = os.urandom(PART * 2)
    bucket.put_object("copy-src", src)
    upload_id = bucket.init_multipart_upload("copied").upload_id
    r1 = bucket.upload_part_copy(bucket_name, "copy-src", (0, PART - 1), "copied", upload_id, 1)
    r2 = bucket.upload_part_copy(bucket_name, "copy-src", (PART, 2 * PART - 1), "copied", upload_id, 2)
    bucket.complete_multipart_upload("copied", upload_id, [PartInfo(1, r1.etag), PartInfo(2, r2.etag)])
    got = bucket.get_object("copied")
    assert got.read() == src


def test_invalid_part_order_raw(emu, bucket, bucket_name):
    from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, request_target, signed_headers
    upload_id, infos = upload_parts(bucket, "order", [b"1" * PART, b"2" * PART])
    body = ("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>\"%s\"</ETag></Part>"
            "<Part><PartNumber>1</PartNumber><ETag>\"%s\"</ETag></Part></CompleteMultipartUpload>"
            % (infos[1].etag, infos[0].etag)).encode()
    params = {"uploadId": upload_id}
    headers = signed_headers(emu, "POST", bucket_name, "order", params=params)
    head, resp, _ = raw_exchange(emu.endpoint, build_request("POST", request_target(bucket_name, "order", params),
                                                             dict(headers, Connection="close"), body))
    assert parse_head(head)[0] == 400 and b"<Code>InvalidPartOrder</Code>" in resp
