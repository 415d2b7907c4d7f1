"""Cross-check the server-side signature verifier against oss2's signer (no server)."""

import io
import time

import oss2
import pytest
import requests
from oss2 import http as oss2_http

from ossconnector.emulator.auth import Authenticator
from ossconnector.emulator.errors import OssError
from ossconnector.emulator.request import OssRequest

AK, SK, REGION = "unit-ak", "unit-sk", "cn-hangzhou"
ENDPOINT = "http://127.0.0.1:9"
KEYS = ["plain.txt", "dir/sub dir/file+plus%percent#hash?q.bin", "unicode/数据/ünï.txt", "a//b", "~tilde*star"]


def environ_for(method, url, params=None, headers=None):
    prepared = requests.Request(method, url, params=params, headers=headers).prepare()
    raw_headers = [("Host", "127.0.0.1:9")] + [(k, v) for k, v in prepared.headers.items() if v is not None]
    return {"REQUEST_METHOD": method, "RAW_URI": prepared.path_url, "ossemu.raw_headers": raw_headers,
            "wsgi.input": io.BytesIO(b"")}


def signed_request(auth, method, bucket, key, params=None, headers=None, **sign_kwargs):
    url = "%s/%s/%s" % (ENDPOINT, bucket, oss2.compat.urlquote(key, "")) if bucket else ENDPOINT + "/"
    req = oss2_http.Request(method, url, params=dict(params or {}), headers=dict(headers or {}),
                            region=REGION, product="oss")
    auth._sign_request(req, bucket, key, **sign_kwargs)
    hdrs = {k: v for k, v in req.headers.items() if v is not None}
    return OssRequest(environ_for(method, url, req.params, hdrs))


def authenticator(**kw):
    return Authenticator({AK: SK, "STS.tmp": "tmp-sk"}, REGION, kw.pop("max_skew", 900), **kw)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("auth", [oss2.Auth(AK, SK), oss2.AuthV4(AK, SK)], ids=["v1", "v4"])
def test_object_requests_verify(auth, key):
    params = {"response-content-type": "text/plain", "acl": "", "prefix": "a b+c", "partNumber": "3",
              "uploadId": "UP+ID/=", "x-oss-process": "image/resize,w_10"}
    headers = {"Content-Type": "text/plain; charset=utf-8", "x-oss-meta-Color": "Blue",
               "Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "Range": "bytes=0-9"}
    req = signed_request(auth, "PUT", "bkt", key, params, headers)
    assert req.bucket == "bkt" and req.key == key
    info = authenticator().authenticate(req)
    assert info.access_key_id == AK


@pytest.mark.parametrize("auth", [oss2.Auth(AK, SK), oss2.AuthV4(AK, SK)], ids=["v1", "v4"])
def test_bucket_and_service_requests_verify(auth):
    authenticator().authenticate(signed_request(auth, "GET", "bkt", "", {"list-type": "2", "prefix": "x/"}))
    authenticator().authenticate(signed_request(auth, "GET", "", "", {}))


def test_v4_additional_headers_verify():
    req = signed_request(oss2.AuthV4(AK, SK), "GET", "bkt", "k", None,
                         {"Range": "bytes=1-2", "If-None-Match": "x"}, in_additional_headers=["range", "if-none-match"])
    assert "AdditionalHeaders" in req.header("authorization")
    assert authenticator().authenticate(req).version == "v4"


@pytest.mark.parametrize("version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_sts_token_is_signed_and_accepted(version):
    auth = oss2.StsAuth("STS.tmp", "tmp-sk", "any-token-value", auth_version=version)
    req = signed_request(auth, "GET", "bkt", "k")
    assert req.header("x-oss-security-token") == "any-token-value"
    assert authenticator().authenticate(req).security_token == "any-token-value"
    # the token is covered by the signature
    pairs = [(k, "other-token" if k.lower() == "x-oss-security-token" else v) for k, v in req.headers.pairs]
    req.environ["ossemu.raw_headers"] = pairs
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(OssRequest(req.environ))
    assert exc.value.code == "SignatureDoesNotMatch"


def test_sts_key_without_token_rejected():
    req = signed_request(oss2.Auth("STS.tmp", "tmp-sk"), "GET", "bkt", "k")
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(req)
    assert exc.value.status == 403


@pytest.mark.parametrize("auth", [oss2.Auth(AK, "bad"), oss2.AuthV4(AK, "bad")], ids=["v1", "v4"])
def test_wrong_secret(auth):
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(signed_request(auth, "GET", "bkt", "k"))
    assert (exc.value.status, exc.value.code) == (403, "SignatureDoesNotMatch")
    assert "StringToSign" in exc.value.fields and SK not in exc.value.to_xml("r", "h").decode()


def test_unknown_key_and_anonymous():
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(signed_request(oss2.Auth("nobody", SK), "GET", "bkt", "k"))
    assert exc.value.code == "InvalidAccessKeyId"
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(OssRequest(environ_for("GET", ENDPOINT + "/bkt/k")))
    assert (exc.value.status, exc.value.code) == (403, "AccessDenied")


def test_v4_region_mismatch():
    auth = oss2.AuthV4(AK, SK)
    url = ENDPOINT + "/bkt/k"
    req = oss2_http.Request("GET", url, region="us-west-1", product="oss")
    auth._sign_request(req, "bkt", "k")
    hdrs = {k: v for k, v in req.headers.items() if v is not None}
    with pytest.raises(OssError) as exc:
        authenticator().authenticate(OssRequest(environ_for("GET", url, None, hdrs)))
    assert exc.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("auth", [oss2.Auth(AK, SK), oss2.AuthV4(AK, SK)], ids=["v1", "v4"])
def test_clock_skew(auth):
    req = signed_request(auth, "GET", "bkt", "k")
    skewed = authenticator(clock=lambda: time.time() + 3600)
    with pytest.raises(OssError) as exc:
        skewed.authenticate(req)
    assert exc.value.code == "RequestTimeTooSkewed"
    # disabled check accepts it
    assert authenticator(max_skew=None, clock=lambda: time.time() + 3600).authenticate(req)


@pytest.mark.parametrize("auth", [oss2.Auth(AK, SK), oss2.AuthV4(AK, SK)], ids=["v1", "v4"])
def test_presigned_urls(auth):
    bucket = oss2.Bucket(auth, ENDPOINT, "bkt", region=REGION)
    url = bucket.sign_url("GET", "dir/a b+c.txt", 60, slash_safe=True)
    path = url[len(ENDPOINT):]
    env = {"REQUEST_METHOD": "GET", "RAW_URI": path, "ossemu.raw_headers": [("Host", "127.0.0.1:9")],
           "wsgi.input": io.BytesIO(b"")}
    req = OssRequest(env)
    assert req.key == "dir/a b+c.txt"
    assert authenticator().authenticate(req).version.endswith("presigned")
    late = authenticator(clock=lambda: time.time() + 3600)
    with pytest.raises(OssError) as exc:
        late.authenticate(OssRequest(env))
    assert exc.value.code == "AccessDenied"


@pytest.mark.parametrize("version", [oss2.AUTH_VERSION_1, oss2.AUTH_VERSION_4])
def test_presigned_url_with_sts_token(version):
    auth = oss2.StsAuth("STS.tmp", "tmp-sk", "tok+/=", auth_version=version)
    url = oss2.Bucket(auth, ENDPOINT, "bkt", region=REGION).sign_url("GET", "k", 60)
    env = {"REQUEST_METHOD": "GET", "RAW_URI": url[len(ENDPOINT):], "ossemu.raw_headers": [("Host", "h")],
           "wsgi.input": io.BytesIO(b"")}
    assert authenticator().authenticate(OssRequest(env)).security_token == "tok+/="
