"""Service- and bucket-level operations in OSS form.

Contract (handlers take ``(app, req)``):
- ``list_buckets`` (``GET /``): ``ListAllMyBucketsResult`` with Owner and
  Buckets/Bucket (Name, Location, CreationDate, Extranet/IntranetEndpoint,
  Region, StorageClass); ``prefix`` filters.
- ``put_bucket``: 200; 409 BucketAlreadyExists; 400 InvalidBucketName.
- ``delete_bucket``: 204; 409 BucketNotEmpty; 404 NoSuchBucket.
- ``head_bucket``: 200 or 404.  ``bucket_info`` (``?bucketInfo``) and
  ``bucket_location`` (``?location``) in OSS XML.
- ``delete_multiple`` (``POST ?delete``): body ``<Delete><Quiet>..</Quiet>
  <Object><Key>..</Key></Object>...</Delete>``; answers ``DeleteResult``
  listing deleted keys unless quiet (URL-encoded with ``encoding-type=url``);
  a wrong ``Content-MD5`` gives 400 InvalidDigest.
"""

import base64
import hashlib
import xml.etree.ElementTree as ElementTree
from urllib.parse import quote

from . import errors
from .acl import ATTR_ACL, BUCKET_ACLS, acl_from_header
from .listing import OWNER_ID, OWNER_NAME
from .response import Response, iso8601, xml_response


def _location(app):
    return "oss-" + app.config.region


def _endpoints(app, req):
    host = req.header("host") or "%s:%s" % (app.config.host, app.config.port)
    return host, host


def list_buckets(app, req):
    prefix = req.params.get("prefix", "")
    extranet, intranet = _endpoints(app, req)
    buckets = []
    for bucket in app.store.list_buckets():
        if not bucket.name.startswith(prefix):
            continue
        buckets.append(("Bucket", [("CreationDate", iso8601(bucket.creation_date)),
                                   ("ExtranetEndpoint", extranet), ("IntranetEndpoint", intranet),
                                   ("Location", _location(app)), ("Name", bucket.name),
                                   ("Region", app.config.region), ("StorageClass", "Standard")]))
    children = [("Owner", [("ID", OWNER_ID), ("DisplayName", OWNER_NAME)]), ("Buckets", buckets)]
    if prefix:
        children.insert(0, ("Prefix", prefix))
    return xml_response("ListAllMyBucketsResult", children)


def put_bucket(app, req):
    bucket_acl = acl_from_header(req.headers, "x-oss-acl", BUCKET_ACLS)
    bucket = app.store.create_bucket(req.bucket, app.config.region)
    if bucket_acl:
        setattr(bucket, ATTR_ACL, bucket_acl)
    return Response(200, [("Location", "/" + req.bucket)], b"")


def delete_bucket(app, req):
    app.store.delete_bucket(req.bucket)
    return Response(204)


def head_bucket(app, req):
    app.store.get_bucket(req.bucket)
    return Response(200)


def bucket_location(app, req):
    app.store.get_bucket(req.bucket)
    return Response(200, [("Content-Type", "application/xml")],
                    ('<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint>%s</LocationConstraint>'
                     % _location(app)).encode("utf-8"))


def bucket_info(app, req):
    bucket = app.store.get_bucket(req.bucket)
    extranet, intranet = _endpoints(app, req)
    info = [("CreationDate", iso8601(bucket.creation_date)), ("ExtranetEndpoint", extranet),
            ("IntranetEndpoint", intranet), ("Location", _location(app)), ("StorageClass", "Standard"),
            ("Name", bucket.name), ("Owner", [("DisplayName", OWNER_NAME), ("ID", OWNER_ID)]),
            ("AccessControlList", [("Grant", getattr(bucket, ATTR_ACL, "private"))]),
            ("DataRedundancyType", "LRS"),
            ("Versioning", "Enabled" if bucket.is_versioned else None)]
    return xml_response("BucketInfo", [("Bucket", info)])


def delete_multiple(app, req):
    bucket = app.store.get_bucket(req.bucket)
    body = req.body_stream.read(8 << 20)
    provided = req.header("content-md5")
    if provided and provided.strip() != base64.b64encode(hashlib.md5(body).digest()).decode("ascii"):
        raise errors.OssError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise errors.malformed_xml()
    quiet = False
    keys = []
    for node in root:
        tag = node.tag.rsplit("}", 1)[-1]
        if tag == "Quiet":
            quiet = (node.text or "").strip().lower() == "true"
        elif tag == "Object":
            for child in node:
                if child.tag.rsplit("}", 1)[-1] == "Key":
                    keys.append(child.text or "")
    if not keys or len(keys) > 1000:
        raise errors.malformed_xml()
    encoding = (req.params.get("encoding-type") or "").lower() == "url"
    children = []
    if encoding:
        children.append(("EncodingType", "url"))
    for key in keys:
        app.store.delete_object(bucket.name, key)
        if not quiet:
            children.append(("Deleted", [("Key", quote(key, safe="") if encoding else key)]))
    return xml_response("DeleteResult", children)
