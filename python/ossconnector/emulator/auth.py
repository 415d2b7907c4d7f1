"""Verify OSS request signatures (V1 HMAC-SHA1 and V4 OSS4-HMAC-SHA256).

This is a server-side reimplementation of the canonicalisation in oss2's
``oss2/auth.py`` (``ProviderAuth`` and ``ProviderAuthV4``); the test-suite
cross-checks it against oss2-signed requests.

Contract: :func:`authenticate` returns an :class:`AuthInfo` for a correctly
signed request and raises :class:`~.errors.OssError` otherwise:

- no signature at all -> 403 ``AccessDenied``;
- unknown access key id -> 403 ``InvalidAccessKeyId``;
- wrong signature (or V4 scope/region mismatch) -> 403 ``SignatureDoesNotMatch``
  whose body carries ``StringToSign`` (never the secret);
- ``Date``/``x-oss-date`` further than ``max_skew`` seconds from now ->
  403 ``RequestTimeTooSkewed``; an expired presigned URL -> 403 ``AccessDenied``.

Accepted forms: ``Authorization: OSS ak:sig``; ``Authorization:
OSS4-HMAC-SHA256 Credential=ak/yyyymmdd/region/oss/aliyun_v4_request,
[AdditionalHeaders=h1;h2,] Signature=hex``; V1 presigned URLs
(``OSSAccessKeyId``, ``Expires``, ``Signature``); V4 presigned URLs
(``x-oss-signature-version=OSS4-HMAC-SHA256`` ...).  A security token
(``x-oss-security-token``) is accepted with any value; it is covered by the
signature like every ``x-oss-*`` header.  Access key ids starting with
``STS.`` must carry a token.
"""

import base64
import calendar
import email.utils
import hashlib
import hmac
import time
from dataclasses import dataclass

from .errors import OssError, access_denied

# oss2's V1 subresource whitelist (ProviderAuth._subresource_key_set).
V1_SUBRESOURCES = frozenset([
    "response-content-type", "response-content-language", "response-cache-control", "logging",
    "response-content-encoding", "acl", "uploadId", "uploads", "partNumber", "group", "link",
    "delete", "website", "location", "objectInfo", "objectMeta", "response-expires",
    "response-content-disposition", "cors", "lifecycle", "restore", "qos", "referer", "stat",
    "bucketInfo", "append", "position", "security-token", "live", "comp", "status", "vod",
    "startTime", "endTime", "x-oss-process", "symlink", "callback", "callback-var", "tagging",
    "encryption", "versions", "versioning", "versionId", "policy", "requestPayment",
    "x-oss-traffic-limit", "qosInfo", "asyncFetch", "x-oss-request-payer", "sequential",
    "inventory", "inventoryId", "continuation-token", "worm", "wormId", "wormExtend",
    "replication", "replicationLocation", "replicationProgress", "transferAcceleration", "cname",
    "metaQuery", "x-oss-ac-source-ip", "x-oss-ac-subnet-mask", "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow", "resourceGroup", "style", "styleName", "x-oss-async-process",
    "regionList", "x-oss-write-get-object-response", "bucketArchiveDirectRead", "httpsConfig",
    "redundancyTransition", "x-oss-target-redundancy-type", "x-oss-redundancy-transition-taskid",
    "accessPoint", "accessPointPolicy", "publicAccessBlock", "x-oss-access-point-name",
    "requesterQosInfo", "qosRequester", "resourcePoolInfo", "resourcePool", "resourcePoolBuckets",
])
V4_DEFAULT_SIGNED = ("content-type", "content-md5")
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_TERMINATOR = "aliyun_v4_request"
V4_PRODUCT = "oss"
# Query parameters that carry a presigned V1 signature and are never signed.
V1_PRESIGN_PARAMS = ("OSSAccessKeyId", "Expires", "Signature")


@dataclass
class AuthInfo:
    version: str  # "v1", "v4", "v1-presigned", "v4-presigned"
    access_key_id: str
    security_token: str | None = None


# ---------------------------------------------------------------- V1

def v1_canonical_headers(headers):
    items = sorted((k, v.strip()) for k, v in headers.items_lower() if k.startswith("x-oss-"))
    return "".join("%s:%s\n" % (k, v) for k, v in items)


def v1_canonical_resource(bucket, key, query):
    sub = sorted((k, v) for k, v in query if k in V1_SUBRESOURCES)
    sub_str = ""
    if sub:
        sub_str = "?" + "&".join(k + "=" + v if v else k for k, v in sub)
    if not bucket:
        return "/" + sub_str
    return "/%s/%s%s" % (bucket, key, sub_str)


def v1_string_to_sign(method, headers, bucket, key, query, date):
    return "\n".join([
        method,
        headers.get("content-md5", ""),
        headers.get("content-type", ""),
        date,
        v1_canonical_headers(headers) + v1_canonical_resource(bucket, key, query),
    ])


def v1_signature(secret, string_to_sign):
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


# ---------------------------------------------------------------- V4

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~.")


def v4_uri_encode(text, keep_slash):
    out = []
    for b in text.encode("utf-8", "surrogateescape"):
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def v4_canonical_uri(bucket, key):
    return v4_uri_encode("/%s/%s" % (bucket, key) if bucket else "/", True)


def v4_canonical_query(query, exclude=()):
    encoded = {}
    for k, v in query:
        if k in exclude:
            continue
        encoded.setdefault(v4_uri_encode(k, False), v4_uri_encode(v, False))
    return "&".join(k + "=" + v if v else k for k, v in sorted(encoded.items()))


def v4_canonical_headers(headers, additional):
    items = []
    for k, v in headers.items_lower():
        if k.startswith("x-oss-") or k in V4_DEFAULT_SIGNED or k in additional:
            items.append((k, v.strip()))
    items.sort()
    return "".join("%s:%s\n" % (k, v) for k, v in items)


def v4_canonical_request(method, headers, bucket, key, query, additional, payload_hash, exclude=()):
    return "\n".join([
        method,
        v4_canonical_uri(bucket, key),
        v4_canonical_query(query, exclude),
        v4_canonical_headers(headers, additional),
        ";".join(sorted(additional)),
        payload_hash,
    ])


def v4_string_to_sign(datetime_str, scope, canonical_request):
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    return "\n".join([V4_ALGORITHM, datetime_str, scope, digest])


def v4_signing_key(secret, date, region, product=V4_PRODUCT):
    k = hmac.new(("aliyun_v4" + secret).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    k = hmac.new(k, region.encode("utf-8"), hashlib.sha256).digest()
    k = hmac.new(k, product.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(k, V4_TERMINATOR.encode("utf-8"), hashlib.sha256).digest()


def v4_signature(secret, date, region, string_to_sign):
    key = v4_signing_key(secret, date, region)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse_v4_authorization(value):
    fields = {}
    for part in value[len(V4_ALGORITHM):].split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            fields[name.strip()] = val.strip()
    return fields


# ---------------------------------------------------------------- time

def parse_http_date(value):
    """Epoch seconds from an RFC 1123 date or ISO8601 basic ``yyyymmddTHHMMSSZ``."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) == 16 and value[8] == "T" and value.endswith("Z"):
        try:
            return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed is None:
        return None
    return parsed.timestamp()


def _check_skew(when, now, max_skew):
    if max_skew and abs(now - when) > max_skew:
        raise OssError(403, "RequestTimeTooSkewed",
                       "The difference between the request time and the current time is too large.",
                       RequestTime=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(when)),
                       ServerTime=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now)),
                       MaxAllowedSkewMilliseconds=int(max_skew * 1000))


# ---------------------------------------------------------------- entry

class Authenticator:
    """Checks requests against a fixed credential table.

    ``credentials``: {access_key_id: secret}; ``region``: the only region
    accepted in V4 scopes (None accepts any); ``max_skew``: seconds or None.
    """

    def __init__(self, credentials, region=None, max_skew=900, clock=time.time):
        self.credentials = dict(credentials)
        self.region = region
        self.max_skew = max_skew
        self.clock = clock

    def _secret(self, access_key_id):
        secret = self.credentials.get(access_key_id)
        if secret is None:
            raise OssError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.",
                           OSSAccessKeyId=access_key_id)
        return secret

    def _require_token(self, access_key_id, token):
        if access_key_id.startswith("STS.") and not token:
            raise OssError(403, "InvalidAccessKeyId",
                           "A temporary (STS) access key requires a security token.",
                           OSSAccessKeyId=access_key_id)

    def authenticate(self, req):
        authorization = (req.header("authorization") or "").strip()
        if authorization.startswith("OSS "):
            return self._v1_header(req, authorization)
        if authorization.startswith(V4_ALGORITHM):
            return self._v4(req, _parse_v4_authorization(authorization), presigned=False)
        if authorization:
            raise access_denied("Unsupported authorization scheme; use OSS (V1) or OSS4-HMAC-SHA256 (V4).")
        if req.params.get("x-oss-signature-version") == V4_ALGORITHM:
            p = req.params
            fields = {"Credential": p.get("x-oss-credential", ""), "Signature": p.get("x-oss-signature", ""),
                      "AdditionalHeaders": p.get("x-oss-additional-headers", "")}
            return self._v4(req, fields, presigned=True)
        if "OSSAccessKeyId" in req.params and "Signature" in req.params:
            return self._v1_presigned(req)
        raise access_denied("You have no right to access this object because of bucket acl.")

    # V1 ------------------------------------------------------------
    def _v1_header(self, req, authorization):
        credential = authorization[4:].strip()
        access_key_id, sep, provided = credential.rpartition(":")
        if not sep or not access_key_id:
            raise access_denied("Invalid Authorization header format.")
        secret = self._secret(access_key_id)
        token = req.header("x-oss-security-token")
        self._require_token(access_key_id, token)
        date = req.header("x-oss-date") or req.header("date") or ""
        when = parse_http_date(date)
        if when is None:
            raise access_denied("OSS authentication requires a valid Date.")
        _check_skew(when, self.clock(), self.max_skew)
        sts = v1_string_to_sign(req.method, req.headers, req.bucket, req.key, req.query, date)
        self._compare(v1_signature(secret, sts), provided, sts, access_key_id)
        return AuthInfo("v1", access_key_id, token)

    def _v1_presigned(self, req):
        access_key_id = req.params["OSSAccessKeyId"]
        provided = req.params["Signature"]
        expires = req.params.get("Expires", "")
        secret = self._secret(access_key_id)
        token = req.params.get("security-token")
        self._require_token(access_key_id, token)
        try:
            expires_at = int(expires)
        except ValueError:
            raise access_denied("Invalid Expires parameter.")
        if expires_at < self.clock():
            raise access_denied("Request has expired.")
        query = [(k, v) for k, v in req.query if k not in V1_PRESIGN_PARAMS]
        sts = v1_string_to_sign(req.method, req.headers, req.bucket, req.key, query, expires)
        self._compare(v1_signature(secret, sts), provided, sts, access_key_id)
        return AuthInfo("v1-presigned", access_key_id, token)

    # V4 ------------------------------------------------------------
    def _v4(self, req, fields, presigned):
        credential = fields.get("Credential", "")
        provided = fields.get("Signature", "")
        scope_parts = credential.split("/")
        if len(scope_parts) != 5 or not provided:
            raise access_denied("Invalid V4 Credential or Signature.")
        access_key_id, date, region, product, terminator = scope_parts
        secret = self._secret(access_key_id)
        if presigned:
            token = req.params.get("x-oss-security-token")
            datetime_str = req.params.get("x-oss-date", "")
        else:
            token = req.header("x-oss-security-token")
            datetime_str = req.header("x-oss-date", "")
        self._require_token(access_key_id, token)
        scope = "/".join([date, region, product, terminator])
        if product != V4_PRODUCT or terminator != V4_TERMINATOR:
            raise OssError(403, "SignatureDoesNotMatch", "Invalid V4 credential scope %r." % scope)
        if self.region and region != self.region:
            raise OssError(403, "SignatureDoesNotMatch",
                           "Invalid signing region in credential scope: %r, expected %r." % (region, self.region))
        when = parse_http_date(datetime_str)
        if when is None or datetime_str[:8] != date:
            raise access_denied("x-oss-date is missing or does not match the credential scope date.")
        now = self.clock()
        if presigned:
            try:
                expires = int(req.params.get("x-oss-expires", ""))
            except ValueError:
                raise access_denied("Invalid x-oss-expires parameter.")
            if when + expires < now:
                raise access_denied("Request has expired.")
        else:
            _check_skew(when, now, self.max_skew)
        additional = set(h.strip().lower() for h in fields.get("AdditionalHeaders", "").split(";") if h.strip())
        payload_hash = req.header("x-oss-content-sha256") or "UNSIGNED-PAYLOAD"
        exclude = ("x-oss-signature",) if presigned else ()
        canonical = v4_canonical_request(req.method, req.headers, req.bucket, req.key, req.query,
                                         additional, payload_hash, exclude)
        sts = v4_string_to_sign(datetime_str, scope, canonical)
        self._compare(v4_signature(secret, date, region, sts), provided, sts, access_key_id,
                      CanonicalRequest=canonical)
        return AuthInfo("v4-presigned" if presigned else "v4", access_key_id, token)

    @staticmethod
    def _compare(expected, provided, string_to_sign, access_key_id, **extra):
        if not hmac.compare_digest(expected.encode("ascii"), provided.strip().encode("ascii", "replace")):
            raise OssError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your key and signing method.",
                           StringToSign=string_to_sign, SignatureProvided=provided,
                           OSSAccessKeyId=access_key_id, **extra)
