"""Object operations served directly from the store (not through moto's HTTP layer).

Contract (each handler takes ``(app, req)`` and returns a Response or raises
OssError):
- ``get_object``: 200 with the whole object, or 206 + ``Content-Range`` for a
  satisfiable single range (see :mod:`.ranges`); the body streams from the
  store without copying the object; ``response-*`` query overrides and
  ``If-Match``/``If-None-Match``/``If-(Un)Modified-Since`` are honoured.
- ``head_object``: same headers, no body.  ``get_object_meta``
  (``HEAD ?objectMeta``): only Content-Length, ETag, Last-Modified and
  ``x-oss-hash-crc64ecma``.
- ``put_object``: stores the body, answers ETag, ``Content-MD5`` and
  ``x-oss-hash-crc64ecma``; honours ``x-oss-forbid-overwrite``.
- ``copy_object``: ``x-oss-copy-source: /bucket/url-encoded-key``,
  ``x-oss-metadata-directive`` COPY (default) or REPLACE, copy-source
  conditions; answers ``CopyObjectResult`` XML.
- ``delete_object``: 204 whether or not the key existed.
Every object response carries ``x-oss-hash-crc64ecma`` (whole-object CRC,
also on ranged GETs, like OSS; not for an object the admin API stored
without one), ``x-oss-object-type`` and ``x-oss-storage-class``.
"""

from urllib.parse import unquote

from . import errors
from .acl import ATTR_ACL, OBJECT_ACLS, acl_from_header
from .auth import parse_http_date
from .metadata import metadata_from_headers, metadata_to_headers, storage_class_from_headers
from .payload import receive_body
from .ranges import resolve_range
from .response import Response, epoch_of, http_date, iso8601, xml_response
from .store import new_buffer

RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def object_headers(app, key):
    info = app.store.object_info(key)
    headers = [("ETag", key.etag), ("Last-Modified", http_date(key.last_modified))]
    headers.extend(metadata_to_headers(key.metadata))
    headers.extend([
        ("Accept-Ranges", "bytes"),
        ("x-oss-object-type", info["object_type"]),
        ("x-oss-storage-class", info["storage_class"]),
    ])
    if info.get("crc_header", True):
        headers.append(("x-oss-hash-crc64ecma", str(app.store.object_crc(key))))
    if info.get("content_md5"):
        headers.append(("Content-MD5", info["content_md5"]))
    return headers


def _etag_matches(header_value, etag):
    wanted = [v.strip().strip('"').upper() for v in header_value.split(",")]
    return "*" in wanted or etag.strip('"').upper() in wanted


def check_conditions(key, get_header, prefix=""):
    """Evaluate If-* headers; ``prefix`` is ``x-oss-copy-source-`` for copies."""
    etag = key.etag
    modified = int(epoch_of(key.last_modified))
    if_match = get_header(prefix + "if-match")
    if if_match is not None and not _etag_matches(if_match, etag):
        raise errors.OssError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.",
                              Condition=prefix + "If-Match")
    unmodified = parse_http_date(get_header(prefix + "if-unmodified-since"))
    if unmodified is not None and modified > unmodified:
        raise errors.OssError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold.",
                              Condition=prefix + "If-Unmodified-Since")
    not_modified_status = 412 if prefix else 304
    if_none = get_header(prefix + "if-none-match")
    if if_none is not None and _etag_matches(if_none, etag):
        raise errors.OssError(not_modified_status, "NotModified" if not prefix else "PreconditionFailed",
                              "The object was not modified.")
    since = parse_http_date(get_header(prefix + "if-modified-since"))
    if since is not None and modified <= since:
        raise errors.OssError(not_modified_status, "NotModified" if not prefix else "PreconditionFailed",
                              "The object was not modified.")


def get_object(app, req, head=False):
    key = app.store.get_object(req.bucket, req.key)
    check_conditions(key, req.header)
    size = key.size
    headers = object_headers(app, key)
    for param, name in RESPONSE_OVERRIDES.items():
        if param in req.params:
            headers = [(k, v) for k, v in headers if k.lower() != name.lower()]
            headers.append((name, req.params[param]))
    if head:
        return Response(200, headers + [("Content-Length", str(size))], b"", content_length=size)
    standard = (req.header("x-oss-range-behavior") or "").strip().lower() == "standard"
    span = resolve_range(req.header("range"), size, standard)
    if span is None:
        start, length, status = 0, size, 200
    else:
        start, length, status = span[0], span[1] - span[0] + 1, 206
        headers.append(("Content-Range", "bytes %d-%d/%d" % (span[0], span[1], size)))
    headers.append(("Content-Length", str(length)))
    req.ranged = span is not None
    body = app.store.open_range(key, start, length)
    return Response(status, headers, body, content_length=length)


def head_object(app, req):
    return get_object(app, req, head=True)


def get_object_meta(app, req):
    key = app.store.get_object(req.bucket, req.key)
    headers = [("Content-Length", str(key.size)), ("ETag", key.etag),
               ("Last-Modified", http_date(key.last_modified))]
    if app.store.object_info(key).get("crc_header", True):
        headers.append(("x-oss-hash-crc64ecma", str(app.store.object_crc(key))))
    return Response(200, headers, b"", content_length=key.size)


def _check_forbid_overwrite(app, req):
    if (req.header("x-oss-forbid-overwrite") or "").strip().lower() == "true":
        if app.store.find_object(req.bucket, req.key) is not None:
            raise errors.OssError(409, "FileAlreadyExists", "The object you specified already exists and can not be overwritten.",
                                  Key=req.key)


def put_object(app, req):
    app.store.get_bucket(req.bucket)
    _check_forbid_overwrite(app, req)
    metadata = metadata_from_headers(req.headers)
    storage_class = storage_class_from_headers(req.headers)
    object_acl = acl_from_header(req.headers, "x-oss-object-acl", OBJECT_ACLS)
    payload = receive_body(req)
    key = app.store.install_object(req.bucket, req.key, payload.buffer, payload.size, payload.md5,
                                   payload.crc64, metadata, storage_class=storage_class)
    app.store.object_info(key)["content_md5"] = payload.content_md5
    if object_acl:
        setattr(key, ATTR_ACL, object_acl)
    return Response(200, [("ETag", key.etag), ("Content-MD5", payload.content_md5),
                          ("x-oss-hash-crc64ecma", str(payload.crc64))], b"")


def parse_copy_source(value):
    """``/bucket/url-encoded-key[?versionId=..]`` -> (bucket, key)."""
    source = value.strip().split("?", 1)[0]
    source = unquote(source)
    if source.startswith("/"):
        source = source[1:]
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise errors.invalid_argument("Copy Source must mention the source bucket and key: /sourcebucket/sourcekey.",
                                      "x-oss-copy-source", value)
    return bucket, key


def copy_object(app, req):
    store = app.store
    store.get_bucket(req.bucket)
    src_bucket, src_key = parse_copy_source(req.header("x-oss-copy-source"))
    source = store.get_object(src_bucket, src_key)
    check_conditions(source, req.header, prefix="x-oss-copy-source-")
    _check_forbid_overwrite(app, req)
    directive = (req.header("x-oss-metadata-directive") or "COPY").strip().upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.invalid_argument("Unknown metadata directive.", "x-oss-metadata-directive", directive)
    if directive == "REPLACE":
        metadata = metadata_from_headers(req.headers)
    else:
        metadata = dict(source.metadata)
    source_info = store.object_info(source)
    storage_class = storage_class_from_headers(req.headers, source_info["storage_class"])
    crc = store.object_crc(source)
    buf = new_buffer()
    try:
        size = 0
        for chunk in store.iter_range(source, 0, source.size):
            buf.write(chunk)
            size += len(chunk)
    except BaseException:
        buf.close()
        raise
    etag = source.etag.strip('"')
    key = store.install_object(req.bucket, req.key, buf, size, etag, crc, metadata,
                               object_type=source_info["object_type"], storage_class=storage_class)
    if source_info.get("content_md5"):
        store.object_info(key)["content_md5"] = source_info["content_md5"]
    return xml_response("CopyObjectResult", [("ETag", key.etag), ("LastModified", iso8601(key.last_modified))],
                        headers=[("ETag", key.etag), ("x-oss-hash-crc64ecma", str(crc))])


def delete_object(app, req):
    app.store.delete_object(req.bucket, req.key)
    return Response(204)
