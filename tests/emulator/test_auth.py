"""Signature checks over real HTTP against the emulator subprocess."""

import re
import urllib.request
from email.utils import formatdate

import oss2
import pytest

from ossconnector.emulator.testing import (build_request, oss2_bucket, parse_head, raw_exchange, request_target,
                                           signed_headers)


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_good_credentials(emu, bucket_name, version):
    b = oss2_bucket(emu, bucket_name, auth_version=version)
    b.put_object("k", b"data")
    assert b.get_object("k").read() == b"data"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_wrong_secret_is_403_with_oss_xml(emu, bucket_name, version):
    target = request_target(bucket_name, "k")
    headers = signed_headers(emu, "GET", bucket_name, "k", auth_version=version, access_key_secret="wrong")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", target, dict(headers, Connection="close")))
    status, hdrs = parse_head(head)
    assert status == 403
    assert hdrs["x-oss-request-id"]
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>')
    assert b"xmlns" not in body
    assert re.search(rb"<RequestId>%s</RequestId><HostId>[^<]+</HostId>" % hdrs["x-oss-request-id"].encode(), body)
    assert b"wrong" not in body and emu.access_key_secret.encode() not in body


def test_wrong_secret_with_oss2(emu, bucket_name):
    bad = oss2_bucket(emu, bucket_name, access_key_secret="nope")
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bad.put_object("k", b"x")
    assert exc.value.status == 403 and exc.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_unknown_access_key(emu, bucket_name, version):
    b = oss2_bucket(emu, bucket_name, auth_version=version, access_key_id="who-is-this")
    with pytest.raises(oss2.exceptions.OssError) as exc:
        b.get_object("k")
    assert exc.value.status == 403 and exc.value.code == "InvalidAccessKeyId"


def test_anonymous_denied(emu, bucket_name):
    emu.put_object(bucket_name, "k", b"x")
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, "k"),
                                                             {"Host": "x", "Connection": "close"}))
    assert parse_head(head)[0] == 403
    assert b"<Code>AccessDenied</Code>" in body


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_sts_token(emu, bucket_name, version, sts_credentials):
    b = oss2_bucket(emu, bucket_name, auth_version=version, security_token="opaque-token/==",
                    access_key_id=sts_credentials[0], access_key_secret=sts_credentials[1])
    b.put_object("sts", b"temporary")
    assert b.get_object("sts").read() == b"temporary"


def test_sts_key_requires_token(emu, bucket_name, sts_credentials):
    b = oss2_bucket(emu, bucket_name, access_key_id=sts_credentials[0], access_key_secret=sts_credentials[1])
    with pytest.raises(oss2.exceptions.OssError) as exc:
        b.get_object("k")
    assert exc.value.status == 403


def test_clock_skew_rejected(emu, bucket_name):
    # sign with a date one hour in the past: V1 signs the Date header verbatim
    old = formatdate(timeval=__import__("time").time() - 3600, usegmt=True)
    headers = signed_headers(emu, "GET", bucket_name, "k")
    headers["date"] = old
    from ossconnector.emulator.auth import v1_signature, v1_string_to_sign
    from ossconnector.emulator.request import Headers
    sts = v1_string_to_sign("GET", Headers(headers.items()), bucket_name, "k", [], old)
    headers["authorization"] = "OSS %s:%s" % (emu.access_key_id, v1_signature(emu.access_key_secret, sts))
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, "k"),
                                                             dict(headers, Connection="close")))
    assert parse_head(head)[0] == 403
    assert b"<Code>RequestTimeTooSkewed</Code>" in body


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_url(emu, bucket_name, version):
    b = oss2_bucket(emu, bucket_name, auth_version=version)
    b.put_object("dir/pre signed+.txt", b"presigned body")
    url = b.sign_url("GET", "dir/pre signed+.txt", 60)
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"presigned body"
    assert b.get_object_with_url(url).read() == b"presigned body"
