#!/usr/bin/env python3
"""Generate sign_vectors.json: request signatures computed by oss2 itself.

Each vector is one request (method, bucket, key, query, headers, time,
region, credentials) signed by the installed oss2 SDK's own signer classes
(oss2.Auth / oss2.AuthV4 / oss2.StsAuth) with the clock pinned, and records:

  expected_headers   the headers oss2's signer added or changed
                     (authorization, date / x-oss-date, ...), names lowercased
  string_to_sign     V1: the exact bytes oss2 HMACs (as UTF-8 text)
  canonical_request  V4: the exact canonical request oss2 hashes

test_sign.c checks that the C signer reproduces all of it, and
tests/test_sign_vectors.py checks that this script, rerun against the
installed oss2, still yields the committed file.

Usage: gen_sign_vectors.py [OUTPUT]   (default: sign_vectors.json beside
this script).  The output is deterministic.
"""

import datetime as _dt
import email.utils
import json
import os
import sys
from unittest import mock

import oss2
import oss2.auth
import oss2.http

CREDS = [
    ("LTAI5tExampleKeyId0001", "ExampleSecret/with+special=chars0001"),
    ("STS.NUexampleTemporaryKeyId", "TmpSecret9+/Zx=="),
]
STS_TOKEN = (
    "CAIS8gF1q6Ft5B2yfSjIr5bdGt3lv6hv0KGnNlLRlWEkdcl/ttyd1zz2IHpKeXJtBO0YsP4/"
    "lGFW7/8dlrp6SJtIXleCZtF94oxN9h2gb4fb4/+Cq+Wl0s/LI3OaLjKm9u2wCryLYbGwU/"
    "OpbE++0E8KmMz+D0d2a+Y4Thtl/T1GdA==")

UPLOAD_ID = "0004B9894A22E5B1888A1E29F823XXXX"
LONG_KEY = "long/" + "\u6570" * 339 + "x"  # exactly 1023 UTF-8 bytes
assert len(LONG_KEY.encode("utf-8")) == 1023

# (name, method, bucket, key, query pairs, header pairs, unix time, region)
CASES = [
    ("get object with range", "GET", "example-bucket", "dir/file.txt", [],
     [("Range", "bytes=0-99")], 1700000000, "cn-hangzhou"),
    ("head object, spaces in key", "HEAD", "example-bucket", "a b/c d.txt", [], [],
     1709622245, "cn-hangzhou"),
    ("put object with type, md5 and metadata", "PUT", "my-bucket-123",
     "\u6570\u636e\u96c6/\u56fe\u7247 01.jpg", [],
     [("Content-Type", "image/jpeg"), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
      ("x-oss-meta-author", "alice"), ("X-OSS-Meta-Note", "hello world"),
      ("x-oss-object-acl", "private"), ("Content-Length", "1234")],
     1234567890, "us-west-1"),
    ("get object, reserved characters in key", "GET", "example-bucket",
     "special/a+b%20c#d?e~f&g=h;i,j:k@l$m!n*o'p(q)r[s]t.txt", [], [],
     1700000001, "cn-hangzhou"),
    ("delete object with trailing slash", "DELETE", "example-bucket", "trailing/slash/", [], [],
     1700000002, "cn-beijing"),
    ("initiate multipart upload", "POST", "example-bucket", "big/model.safetensors",
     [("uploads", "")], [("Content-Type", "application/octet-stream")],
     1700000003, "cn-hangzhou"),
    ("upload part", "PUT", "example-bucket", "big/model.safetensors",
     [("uploadId", UPLOAD_ID), ("partNumber", "3")], [("Content-Length", "8388608")],
     1700000004, "cn-hangzhou"),
    ("complete multipart upload", "POST", "example-bucket", "big/model.safetensors",
     [("uploadId", UPLOAD_ID)],
     [("Content-Type", "application/xml"), ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww==")],
     1700000005, "cn-hangzhou"),
    ("abort multipart upload", "DELETE", "example-bucket", "big/model.safetensors",
     [("uploadId", UPLOAD_ID)], [], 1700000006, "cn-hangzhou"),
    ("list objects v2", "GET", "example-bucket", "",
     [("list-type", "2"), ("prefix", "dir/sub dir/\u6570\u636e/"), ("delimiter", "/"),
      ("max-keys", "1000"), ("continuation-token", "ChR0ZXN0L2tleS0wMDAwMDEudHh0EAA-"),
      ("encoding-type", "url"), ("fetch-owner", "false")], [],
     1700000007, "cn-shanghai"),
    ("list objects v2, token with + / = &", "GET", "example-bucket", "",
     [("continuation-token", "a+b/c=d&e f"), ("list-type", "2"), ("prefix", "")], [],
     1700000008, "cn-hangzhou"),
    ("get bucket acl", "GET", "example-bucket", "", [("acl", "")], [],
     1700000009, "cn-hangzhou"),
    ("list buckets (service level)", "GET", "", "",
     [("prefix", "my-"), ("max-keys", "100"), ("marker", "")], [],
     1700000010, "cn-hangzhou"),
    ("service level, no parameters", "GET", "", "", [], [], 0, "cn-hangzhou"),
    ("get object meta", "HEAD", "example-bucket", "dir/file.txt", [("objectMeta", "")], [],
     1700000011, "cn-hangzhou"),
    ("response overrides and a non-subresource parameter", "GET", "example-bucket",
     "report.csv",
     [("response-content-disposition", 'attachment; filename="a b.txt"'),
      ("response-content-type", "text/plain; charset=utf-8"), ("foo", "bar/baz"),
      ("response-cache-control", "no-cache")], [],
     1700000012, "cn-hangzhou"),
    ("image process", "GET", "example-bucket", "img/cat.png",
     [("x-oss-process", "image/resize,w_100/quality,q_90")], [],
     1700000013, "cn-hangzhou"),
    ("copy object", "PUT", "dst-bucket", "copy/dst key.bin", [],
     [("x-oss-copy-source", "/src-bucket/src%20key.bin"),
      ("x-oss-metadata-directive", "COPY"), ("Content-Type", "")],
     1700000014, "ap-southeast-1"),
    ("emoji and tilde key", "GET", "example-bucket", "emoji/\U0001F600 smile~v2.txt", [], [],
     4102444799, "cn-hangzhou"),
    ("header name cases and order", "PUT", "example-bucket", "k",
     [], [("content-type", "text/plain"), ("X-Oss-Meta-B", "2"), ("x-oss-meta-a", "1"),
          ("X-OSS-META-C", "  spaced  value "), ("x-oss-meta-empty", ""),
          ("User-Agent", "ossc-test"), ("Host", "example-bucket.example.com")],
     1700000015, "cn-hangzhou"),
    ("caller x-oss-date header", "GET", "example-bucket", "dated.txt", [],
     [("x-oss-date", "Tue, 14 Nov 2023 22:13:20 GMT")], 1700000016, "cn-hangzhou"),
    ("duplicate names, last wins", "GET", "example-bucket", "dup.txt",
     [("response-expires", "first"), ("response-expires", "second")],
     [("X-Oss-Meta-Dup", "one"), ("x-oss-meta-dup", "two")], 1700000017, "cn-hangzhou"),
    ("longest key", "GET", "example-bucket", LONG_KEY, [("partNumber", "1")], [],
     1700000018, "cn-hangzhou"),
    ("unicode query names and values", "GET", "example-bucket", "",
     [("prefix", "\u00e9t\u00e9/"), ("\u540d", "\u503c"), ("tilde~name", "x~y"),
      ("Upper", "A"), ("lower", "a")], [], 1700000019, "eu-central-1"),
    ("versioned get with tagging", "GET", "example-bucket", "obj", [("versionId", "CAEQ"),
     ("tagging", "")], [], 1700000020, "cn-hangzhou"),
]


class _FixedClock:
    """Pins both clocks oss2's signers read: utils.http_date (V1) and
    datetime.utcnow (V4)."""

    def __init__(self, unix_time):
        self.unix_time = unix_time

    def http_date(self, timeval=None):
        return email.utils.formatdate(self.unix_time, usegmt=True)

    def datetime_class(self):
        fixed = _dt.datetime.fromtimestamp(self.unix_time, _dt.timezone.utc).replace(tzinfo=None)

        class FixedDatetime(_dt.datetime):
            @classmethod
            def utcnow(cls):
                return fixed

        return FixedDatetime


def _make_auth(version, ak, secret, token):
    """oss2's own signer for the version/credentials; also returns the
    inner provider object whose private methods build the canonical text."""
    auth_version = oss2.AUTH_VERSION_4 if version == 4 else oss2.AUTH_VERSION_1
    if token:
        auth = oss2.StsAuth(ak, secret, token, auth_version=auth_version)
        inner = auth._StsAuth__auth
    elif version == 4:
        auth = inner = oss2.AuthV4(ak, secret)
    else:
        auth = inner = oss2.Auth(ak, secret)
    return auth, inner


def _lower_headers(req):
    return {k.lower(): v for k, v in req.headers.items()}


def sign_one(version, case, ak, secret, token):
    """Signs one request with oss2 and returns the vector dict."""
    name, method, bucket, key, query, headers, unix_time, region = case
    auth, inner = _make_auth(version, ak, secret, token)
    req = oss2.http.Request(method, "http://unused.invalid/", params=dict(query),
                            headers=list(headers), region=region, product="oss")
    before = _lower_headers(req)
    clock = _FixedClock(unix_time)
    with mock.patch.object(oss2.utils, "http_date", clock.http_date), \
            mock.patch.object(oss2.auth, "datetime", clock.datetime_class()):
        auth._sign_request(req, bucket, key)
    after = _lower_headers(req)
    added = {k: v for k, v in sorted(after.items()) if before.get(k, object()) != v}

    vec = {
        "name": name,
        "version": version,
        "method": method,
        "bucket": bucket,
        "key": key,
        "query": [list(p) for p in query],
        "headers": [list(p) for p in headers],
        "time": unix_time,
        "region": region,
        "access_key_id": ak,
        "access_key_secret": secret,
        "security_token": token,
        "expected_headers": added,
    }
    if version == 4:
        text = inner._ProviderAuthV4__get_canonical_request_bytes(req, bucket, key, None)
        vec["canonical_request"] = text.decode("utf-8")
    else:
        text = inner._ProviderAuth__get_bytes_to_sign(req, bucket, key)
        vec["string_to_sign"] = text.decode("utf-8")
    return vec


def build_vectors():
    """Every case in V1 and V4, each with and without an STS token."""
    vectors = []
    for i, case in enumerate(CASES):
        for version in (1, 4):
            for with_token in (False, True):
                ak, secret = CREDS[1] if with_token else CREDS[i % 2]
                token = STS_TOKEN if with_token else ""
                vectors.append(sign_one(version, case, ak, secret, token))
    return vectors


def render(vectors):
    doc = {
        "comment": "Generated by gen_sign_vectors.py from the installed oss2 SDK; do not edit.",
        "vectors": vectors,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "sign_vectors.json")
    text = render(build_vectors())
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
