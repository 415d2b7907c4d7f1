"""Multipart upload operations in OSS form, stored in moto's FakeMultipart.

Contract (handlers take ``(app, req)``):
- ``initiate`` (``POST ?uploads``): remembers metadata from the request
  headers; answers ``InitiateMultipartUploadResult`` (Key URL-encoded with
  ``encoding-type=url``).
- ``upload_part`` (``PUT ?partNumber=N&uploadId=ID``, N in 1..10000): answers
  ETag and ``x-oss-hash-crc64ecma`` of the part; re-uploading a number
  replaces the part.
- ``complete`` (``POST ?uploadId=ID``): body ``<CompleteMultipartUpload>``
  with ``<Part><PartNumber>``/``<ETag>`` in strictly ascending order, or the
  header ``x-oss-complete-all: yes`` with an empty body.  Errors: 400
  InvalidPartOrder / InvalidPart / EntityTooSmall (every part but the last
  must be >= ``app.config.min_part_size``, 100 KiB like OSS) / MalformedXML,
  404 NoSuchUpload.  The object's CRC is combined from part CRCs and returned
  as ``x-oss-hash-crc64ecma``; its ETag is ``MD5(part MD5s)-N`` in upper case.
- ``abort`` (``DELETE ?uploadId``): 204, or 404 NoSuchUpload.
- ``list_parts`` (``GET ?uploadId``) and ``list_uploads`` (``GET bucket?uploads``)
  with the marker/max parameters of OSS.
"""

import hashlib
import time
import xml.etree.ElementTree as ElementTree
from bisect import insort
from urllib.parse import quote

from moto.s3.models import FakeKey

from . import errors
from .crc64 import crc64_combine
from .metadata import metadata_from_headers, storage_class_from_headers
from .payload import receive_body
from .response import Response, iso8601, xml_response
from .store import ATTR_CRC, ATTR_INFO, new_buffer

MAX_PART_NUMBER = 10000


def _enc(req):
    if (req.params.get("encoding-type") or "").lower() == "url":
        return "url", (lambda s: quote(s, safe="") if s else s)
    return None, (lambda s: s)


def _upload(app, req, upload_id=None):
    bucket = app.store.get_bucket(req.bucket)
    upload_id = upload_id if upload_id is not None else req.params.get("uploadId", "")
    upload = bucket.multiparts.get(upload_id)
    if upload is None or (req.key and upload.key_name != req.key):
        raise errors.no_such_upload(upload_id)
    return bucket, upload


def initiate(app, req):
    app.store.get_bucket(req.bucket)
    metadata = metadata_from_headers(req.headers)
    storage_class = storage_class_from_headers(req.headers)
    upload = app.store.backend.create_multipart_upload(
        req.bucket, req.key, metadata, None, {}, None, None, None)
    upload.ossemu_metadata = metadata
    upload.ossemu_storage_class = storage_class
    upload.ossemu_initiated = time.time()
    encoding, enc = _enc(req)
    children = [("Bucket", req.bucket), ("Key", enc(req.key)), ("UploadId", upload.id)]
    if encoding:
        children.insert(0, ("EncodingType", encoding))
    return xml_response("InitiateMultipartUploadResult", children)


def _part_number(req):
    raw = req.params.get("partNumber", "")
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise errors.invalid_argument("Part number must be an integer between 1 and 10000, inclusive.",
                                      "partNumber", raw)
    return number


def upload_part(app, req):
    number = _part_number(req)
    _, upload = _upload(app, req)
    payload = receive_body(req)
    backend = app.store.backend
    part = FakeKey(name=number, value=b"", account_id=backend.account_id, region_name=backend.region_name,
                   etag=payload.md5)
    placeholder = part._value_buffer
    part._value_buffer = payload.buffer
    placeholder.close()
    part.contentsize = payload.size
    setattr(part, ATTR_CRC, payload.crc64)
    setattr(part, ATTR_INFO, {"object_type": "Normal", "storage_class": "Standard"})
    with app.store.lock:
        old = upload.parts.get(number)
        upload.parts[number] = part
        if number not in upload.partlist:
            insort(upload.partlist, number)
    if old is not None:
        old.dispose()
    return Response(200, [("ETag", part.etag), ("Content-MD5", payload.content_md5),
                          ("x-oss-hash-crc64ecma", str(payload.crc64))], b"")


def _strip_ns(tag):
    return tag.rsplit("}", 1)[-1]


def _requested_parts(req, upload):
    if (req.header("x-oss-complete-all") or "").strip().lower() == "yes":
        return [(n, upload.parts[n].etag.strip('"')) for n in sorted(upload.parts)]
    body = req.body_stream.read(8 << 20)
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml()
    if _strip_ns(root.tag) != "CompleteMultipartUpload":
        raise errors.malformed_xml()
    parts = []
    for node in root:
        if _strip_ns(node.tag) != "Part":
            continue
        fields = {_strip_ns(child.tag): (child.text or "").strip() for child in node}
        try:
            parts.append((int(fields["PartNumber"]), fields.get("ETag", "").strip('"')))
        except (KeyError, ValueError):
            raise errors.malformed_xml()
    if not parts:
        raise errors.malformed_xml()
    return parts


def complete(app, req):
    bucket, upload = _upload(app, req)
    requested = _requested_parts(req, upload)
    chosen = []
    previous = 0
    for number, etag in requested:
        if number <= previous:
            raise errors.OssError(400, "InvalidPartOrder",
                                  "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
        previous = number
        part = upload.parts.get(number)
        if part is None or part.etag.strip('"').upper() != etag.upper():
            raise errors.OssError(400, "InvalidPart",
                                  "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                                  PartNumber=number, ETag=etag)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < app.config.min_part_size:
            raise errors.OssError(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.",
                                  PartNumber=part.name, MinSizeAllowed=app.config.min_part_size)
    store = app.store
    buf = new_buffer()
    crc, size, md5s = 0, 0, hashlib.md5()
    try:
        for part in chosen:
            for chunk in store.iter_range(part, 0, part.size):
                buf.write(chunk)
            crc = crc64_combine(crc, store.object_crc(part), part.size)
            size += part.size
            md5s.update(bytes.fromhex(part.etag.strip('"').split("-")[0]))
    except BaseException:
        buf.close()
        raise
    etag = "%s-%d" % (md5s.hexdigest().upper(), len(chosen))
    with store.lock:
        if bucket.multiparts.get(upload.id) is not upload:
            buf.close()
            raise errors.no_such_upload(upload.id)
        metadata = getattr(upload, "ossemu_metadata", None) or dict(upload.metadata or {})
        storage_class = getattr(upload, "ossemu_storage_class", "Standard")
        key = store.install_object(req.bucket, req.key, buf, size, etag, crc, metadata,
                                   object_type="Multipart", storage_class=storage_class)
        del bucket.multiparts[upload.id]
    encoding, enc = _enc(req)
    host = req.header("host") or "localhost"
    children = [("Location", "http://%s.%s/%s" % (req.bucket, host, quote(req.key))),
                ("Bucket", req.bucket), ("Key", enc(req.key)), ("ETag", key.etag)]
    if encoding:
        children.insert(0, ("EncodingType", encoding))
    return xml_response("CompleteMultipartUploadResult", children,
                        headers=[("ETag", key.etag), ("x-oss-hash-crc64ecma", str(crc))])


def abort(app, req):
    bucket, upload = _upload(app, req)
    with app.store.lock:
        if bucket.multiparts.get(upload.id) is upload:
            del bucket.multiparts[upload.id]
    return Response(204)


def _int_param(req, name, default, low, high):
    raw = req.params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not low <= value <= high:
        raise errors.invalid_argument("Invalid %s." % name, name, raw)
    return value


def list_parts(app, req):
    _, upload = _upload(app, req)
    max_parts = _int_param(req, "max-parts", 1000, 0, 1000)
    marker = _int_param(req, "part-number-marker", 0, 0, MAX_PART_NUMBER)
    encoding, enc = _enc(req)
    numbers = [n for n in sorted(upload.parts) if n > marker]
    page, truncated = numbers[:max_parts], len(numbers) > max_parts
    children = [("Bucket", req.bucket), ("Key", enc(req.key)), ("UploadId", upload.id),
                ("PartNumberMarker", marker), ("NextPartNumberMarker", page[-1] if page else marker),
                ("MaxParts", max_parts), ("IsTruncated", truncated)]
    if encoding:
        children.insert(0, ("EncodingType", encoding))
    for n in page:
        part = upload.parts[n]
        children.append(("Part", [("PartNumber", n), ("LastModified", iso8601(part.last_modified)),
                                  ("ETag", part.etag), ("HashCrc64ecma", app.store.object_crc(part)),
                                  ("Size", part.size)]))
    return xml_response("ListPartsResult", children)


def list_uploads(app, req):
    bucket = app.store.get_bucket(req.bucket)
    prefix = req.params.get("prefix", "")
    delimiter = req.params.get("delimiter", "")
    key_marker = req.params.get("key-marker", "")
    id_marker = req.params.get("upload-id-marker", "")
    max_uploads = _int_param(req, "max-uploads", 1000, 0, 1000)
    encoding, enc = _enc(req)
    uploads = sorted(bucket.multiparts.values(),
                     key=lambda u: (u.key_name, getattr(u, "ossemu_initiated", 0), u.id))
    entries, prefixes, truncated = [], [], False
    next_key, next_id = "", ""
    for upload in uploads:
        name = upload.key_name
        if not name.startswith(prefix):
            continue
        if key_marker:
            if name < key_marker or (name == key_marker and (not id_marker or upload.id <= id_marker)):
                continue
        common = None
        if delimiter:
            idx = name.find(delimiter, len(prefix))
            if idx >= 0:
                common = name[:idx + len(delimiter)]
        if common is not None and common in prefixes:
            continue
        if len(entries) + len(prefixes) >= max_uploads:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            next_key, next_id = common, ""
        else:
            entries.append(upload)
            next_key, next_id = name, upload.id
    children = [("Bucket", req.bucket), ("KeyMarker", enc(key_marker)), ("UploadIdMarker", id_marker),
                ("NextKeyMarker", enc(next_key)), ("NextUploadIdMarker", next_id),
                ("Delimiter", enc(delimiter)), ("Prefix", enc(prefix)), ("MaxUploads", max_uploads),
                ("IsTruncated", truncated)]
    if encoding:
        children.insert(0, ("EncodingType", encoding))
    for upload in entries:
        initiated = getattr(upload, "ossemu_initiated", time.time())
        children.append(("Upload", [("Key", enc(upload.key_name)), ("UploadId", upload.id),
                                    ("Initiated", time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(initiated)))]))
    children.extend(("CommonPrefixes", [("Prefix", enc(p))]) for p in prefixes)
    return xml_response("ListMultipartUploadsResult", children)
