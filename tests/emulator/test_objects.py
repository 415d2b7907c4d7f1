"""Object operations through oss2 (V1 and V4) and raw HTTP."""

import base64
import hashlib
import os

import oss2
import oss2.utils
import pytest

from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, request_target, signed_headers

SPECIAL_KEYS = ["with space.txt", "unicode-数据-ü.bin", "plus+sign", "percent%25%", "hash#frag", "question?mark=1",
                "dir/sub/../x", "a//double", "trailing/", "~!*'();:@&=$,[]"]


def crc_of(data):
    c = oss2.utils.Crc64()
    c.update(data)
    return c.crc


@pytest.mark.parametrize("key", SPECIAL_KEYS)
def test_special_keys_roundtrip(bucket, key):
    data = key.encode("utf-8") * 3
    bucket.put_object(key, data)
    assert bucket.get_object(key).read() == data
    assert bucket.head_object(key).content_length == len(data)
    assert bucket.object_exists(key)
    assert [o.key for o in oss2.ObjectIterator(bucket)] == [key]
    bucket.delete_object(key)
    assert not bucket.object_exists(key)


def test_put_get_v4_and_crc(bucket_v4):
    data = os.urandom(300_000)
    result = bucket_v4.put_object("obj", data)  # oss2 verifies the returned CRC itself
    assert result.crc == crc_of(data)
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    got = bucket_v4.get_object("obj")  # enable_crc=True: oss2 checks the CRC after reading
    assert got.read() == data
    assert got.server_crc == crc_of(data)
    assert got.headers["x-oss-hash-crc64ecma"] == str(crc_of(data))


def test_zero_byte_object(bucket):
    bucket.put_object("empty", b"")
    got = bucket.get_object("empty")
    assert got.read() == b"" and got.content_length == 0
    assert got.server_crc == 0
    assert bucket.head_object("empty").content_length == 0
    # a range on an empty object is ignored (200, whole = empty)
    assert bucket.get_object("empty", byte_range=(0, 10)).status == 200


@pytest.mark.parametrize("rng,expected_status,expected", [
    ((10, 19), 206, (10, 19)),
    ((990, None), 206, (990, 999)),
    ((None, 15), 206, (985, 999)),
    ((0, 999), 206, (0, 999)),
    ((500, 2000), 200, None),   # end beyond object: OSS ignores the range
    ((1000, 2000), 200, None),  # start beyond object
    ((None, 5000), 200, None),  # suffix longer than object
])
def test_ranges(bucket, rng, expected_status, expected):
    data = bytes(range(256)) * 4
    data = data[:1000]
    bucket.put_object("r", data)
    got = bucket.get_object("r", byte_range=rng)
    body = got.read()
    assert got.status == expected_status
    if expected is None:
        assert body == data and "Content-Range" not in got.headers
    else:
        assert body == data[expected[0]:expected[1] + 1]
        assert got.headers["Content-Range"] == "bytes %d-%d/1000" % expected
    assert got.headers["x-oss-hash-crc64ecma"] == str(crc_of(data))


def test_range_standard_behavior(bucket):
    bucket.put_object("r", b"x" * 100)
    got = bucket.get_object("r", byte_range=(50, 500), headers={"x-oss-range-behavior": "standard"})
    assert got.status == 206 and got.headers["Content-Range"] == "bytes 50-99/100"
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.get_object("r", byte_range=(100, 200), headers={"x-oss-range-behavior": "standard"})
    assert exc.value.status == 416 and exc.value.code == "InvalidRange"


def test_head_and_object_meta(bucket):
    data = b"meta" * 1000
    bucket.put_object("m", data, headers={"Content-Type": "text/x-test", "x-oss-meta-Owner": "Alice",
                                          "Cache-Control": "no-cache", "Content-Disposition": "inline"})
    head = bucket.head_object("m")
    assert head.content_length == len(data)
    assert head.content_type == "text/x-test"
    assert head.headers["x-oss-meta-owner"] == "Alice"
    assert head.headers["Cache-Control"] == "no-cache"
    assert head.headers["x-oss-object-type"] == "Normal"
    assert head.headers["Content-MD5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    meta = bucket.get_object_meta("m")
    assert meta.content_length == len(data)
    assert meta.etag == hashlib.md5(data).hexdigest().upper()
    assert meta.headers["x-oss-hash-crc64ecma"] == str(crc_of(data))
    assert meta.last_modified > 0
    assert "x-oss-meta-owner" not in meta.headers
    assert bucket.get_object("m").headers["x-oss-meta-owner"] == "Alice"


def test_missing_key_error_shape(emu, bucket, bucket_name):
    with pytest.raises(oss2.exceptions.NoSuchKey) as exc:
        bucket.get_object("does/not exist")
    assert exc.value.details["Key"] == "does/not exist"
    headers = signed_headers(emu, "GET", bucket_name, "nope")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, "nope"),
                                                             dict(headers, Connection="close")))
    status, hdrs = parse_head(head)
    assert status == 404 and hdrs["x-oss-request-id"]
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>')
    assert b"<Key>nope</Key>" in body and b"<HostId>" in body
    # HEAD errors carry no body
    with pytest.raises(oss2.exceptions.NotFound):
        bucket.head_object("nope")


def test_missing_bucket(emu):
    from ossconnector.emulator.testing import oss2_bucket
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        oss2_bucket(emu, "no-such-bucket-here").get_object("k")


def test_overwrite_and_delete(bucket):
    bucket.put_object("k", b"one")
    bucket.put_object("k", b"two!")
    assert bucket.get_object("k").read() == b"two!"
    bucket.delete_object("k")
    bucket.delete_object("k")  # deleting a missing key is fine (204)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("k")


def test_copy_object(bucket, bucket_name):
    data = os.urandom(50_000)
    bucket.put_object("src/a b+c", data, headers={"x-oss-meta-tag": "orig", "Content-Type": "text/plain"})
    result = bucket.copy_object(bucket_name, "src/a b+c", "dst/copy")
    assert result.etag == hashlib.md5(data).hexdigest().upper()
    got = bucket.get_object("dst/copy")
    assert got.read() == data
    assert got.headers["x-oss-meta-tag"] == "orig" and got.content_type == "text/plain"
    assert got.server_crc == crc_of(data)
    bucket.copy_object(bucket_name, "src/a b+c", "dst/replaced",
                       headers={"x-oss-metadata-directive": "REPLACE", "x-oss-meta-tag": "new",
                                "Content-Type": "application/x-new"})
    head = bucket.head_object("dst/replaced")
    assert head.headers["x-oss-meta-tag"] == "new" and head.content_type == "application/x-new"
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.copy_object(bucket_name, "missing", "dst/x")


def test_conditional_get(bucket):
    etag = bucket.put_object("c", b"cond").etag
    with pytest.raises(oss2.exceptions.NotModified):
        bucket.get_object("c", headers={"If-None-Match": '"%s"' % etag})
    with pytest.raises(oss2.exceptions.PreconditionFailed):
        bucket.get_object("c", headers={"If-Match": '"0000"'})
    assert bucket.get_object("c", headers={"If-Match": '"%s"' % etag}).read() == b"cond"


def test_forbid_overwrite_and_bad_md5(bucket):
    bucket.put_object("f", b"1")
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.put_object("f", b"2", headers={"x-oss-forbid-overwrite": "true"})
    assert exc.value.status == 409 and exc.value.code == "FileAlreadyExists"
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.put_object("g", b"data", headers={"Content-MD5": base64.b64encode(b"0" * 16).decode()})
    assert exc.value.code == "InvalidDigest"
    assert not bucket.object_exists("g")


def test_chunked_upload(bucket):
    chunks = [os.urandom(70_000) for _ in range(5)]
    bucket.put_object("chunked", iter(chunks))  # a generator: requests sends Transfer-Encoding: chunked
    assert bucket.get_object("chunked").read() == b"".join(chunks)


def test_response_overrides(bucket):
    bucket.put_object("o", b"x")
    got = bucket.get_object("o", params={"response-content-type": "image/png",
                                         "response-content-disposition": "attachment"})
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["Content-Disposition"] == "attachment"


def test_large_object_spilled_to_disk_ranges(bucket):
    data = os.urandom(9 * 1024 * 1024)  # above the in-memory threshold
    bucket.put_object("big", data)
    for start, end in [(0, 0), (4_000_000, 7_000_000), (len(data) - 10, len(data) - 1)]:
        assert bucket.get_object("big", byte_range=(start, end)).read() == data[start:end + 1]
    assert bucket.get_object("big").read() == data
