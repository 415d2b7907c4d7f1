"""ListObjects (V1) and ListObjectsV2 with OSS semantics.

Contract:
- Keys are listed in UTF-8 byte order (= code point order), filtered by
  ``prefix``; with a ``delimiter`` keys sharing ``prefix + part + delimiter``
  collapse into one ``CommonPrefixes`` entry.  Keys and common prefixes both
  count toward ``max-keys`` (default 100, 1..1000 else 400 InvalidArgument).
- V1: resumes after ``marker``; when truncated ``NextMarker`` is always
  present (OSS returns it even without a delimiter).
- V2 (``list-type=2``): resumes after ``continuation-token`` (opaque,
  URL-safe) or else ``start-after``; answers ``KeyCount`` and, when truncated,
  ``NextContinuationToken``; ``Owner`` only with ``fetch-owner=true``.
- ``encoding-type=url``: Key, Prefix, Marker, NextMarker, StartAfter,
  Delimiter and CommonPrefixes values are percent-encoded (``quote(s,
  safe='')``) and ``<EncodingType>url</EncodingType>`` is included.
- XML has no namespace; every Contents has Key, LastModified, ETag, Type,
  Size, StorageClass (and Owner for V1).
"""

import base64
from urllib.parse import quote

from moto.s3.models import FakeKey

from . import errors
from .response import iso8601, xml_response

OWNER_ID = "ossemu-owner"
OWNER_NAME = "ossemu-owner"


def _max_keys(req, default=100, limit=1000):
    raw = req.params.get("max-keys")
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or value > limit:
        raise errors.invalid_argument("Argument max-keys must be an integer between 0 and %d." % limit,
                                      "max-keys", raw)
    return value


def encode_token(key):
    return base64.urlsafe_b64encode(key.encode("utf-8", "surrogateescape")).decode("ascii").rstrip("=")


def decode_token(token):
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8", "surrogateescape")
    except (ValueError, UnicodeError):
        raise errors.invalid_argument("The continuation token provided is incorrect.", "continuation-token", token)


def walk(bucket, prefix, delimiter, after, max_keys):
    """Return (keys, common_prefixes, truncated, last_entry)."""
    names = sorted(name for name, key in bucket.keys.items()
                   if isinstance(key, FakeKey) and name.startswith(prefix) and name > after)
    contents, prefixes = [], []
    last = None
    seen_prefix = None
    truncated = False
    for name in names:
        common = None
        if delimiter:
            idx = name.find(delimiter, len(prefix))
            if idx >= 0:
                common = name[:idx + len(delimiter)]
        if common is not None and (common == seen_prefix or common <= after):
            continue
        if len(contents) + len(prefixes) >= max_keys:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            seen_prefix = common
            last = common
        else:
            key = bucket.keys.get(name)
            if not isinstance(key, FakeKey):
                continue
            contents.append(key)
            last = name
    return contents, prefixes, truncated, last


def _contents(app, keys, enc, with_owner):
    out = []
    for key in keys:
        info = app.store.object_info(key)
        children = [("Key", enc(key.name)), ("LastModified", iso8601(key.last_modified)),
                    ("ETag", key.etag), ("Type", info["object_type"]), ("Size", key.size),
                    ("StorageClass", info["storage_class"])]
        if with_owner:
            children.append(("Owner", [("ID", OWNER_ID), ("DisplayName", OWNER_NAME)]))
        out.append(("Contents", children))
    return out


def _encoder(req):
    encoding = req.params.get("encoding-type")
    if encoding and encoding.lower() != "url":
        raise errors.invalid_argument("Invalid Encoding Method specified in Request.", "encoding-type", encoding)
    if encoding:
        return "url", (lambda s: quote(s, safe="") if s else s)
    return None, (lambda s: s)


def list_objects(app, req):
    bucket = app.store.get_bucket(req.bucket)
    prefix = req.params.get("prefix", "")
    delimiter = req.params.get("delimiter", "")
    marker = req.params.get("marker", "")
    max_keys = _max_keys(req)
    encoding, enc = _encoder(req)
    keys, prefixes, truncated, last = walk(bucket, prefix, delimiter, marker, max_keys)
    children = [("Name", req.bucket), ("Prefix", enc(prefix)), ("Marker", enc(marker)),
                ("MaxKeys", max_keys), ("Delimiter", enc(delimiter))]
    if encoding:
        children.append(("EncodingType", encoding))
    children.append(("IsTruncated", truncated))
    if truncated:
        children.append(("NextMarker", enc(last or marker)))
    children.extend(_contents(app, keys, enc, True))
    children.extend(("CommonPrefixes", [("Prefix", enc(p))]) for p in prefixes)
    return xml_response("ListBucketResult", children)


def list_objects_v2(app, req):
    bucket = app.store.get_bucket(req.bucket)
    prefix = req.params.get("prefix", "")
    delimiter = req.params.get("delimiter", "")
    start_after = req.params.get("start-after", "")
    token = req.params.get("continuation-token")
    max_keys = _max_keys(req)
    fetch_owner = req.params.get("fetch-owner", "").lower() == "true"
    encoding, enc = _encoder(req)
    after = decode_token(token) if token else start_after
    keys, prefixes, truncated, last = walk(bucket, prefix, delimiter, after, max_keys)
    children = [("Name", req.bucket), ("Prefix", enc(prefix))]
    if start_after:
        children.append(("StartAfter", enc(start_after)))
    if token:
        children.append(("ContinuationToken", token))
    children.extend([("MaxKeys", max_keys), ("Delimiter", enc(delimiter))])
    if encoding:
        children.append(("EncodingType", encoding))
    children.extend([("IsTruncated", truncated), ("KeyCount", len(keys) + len(prefixes))])
    if truncated:
        children.append(("NextContinuationToken", encode_token(last or after)))
    children.extend(_contents(app, keys, enc, fetch_owner))
    children.extend(("CommonPrefixes", [("Prefix", enc(p))]) for p in prefixes)
    return xml_response("ListBucketResult", children)
