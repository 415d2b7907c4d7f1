"""Object and bucket ACLs and bucket statistics, in OSS form.

Contract: ACLs are recorded (``x-oss-object-acl`` on PutObject / ``PUT
?acl``; ``x-oss-acl`` on PutBucket / ``PUT bucket?acl``) and reported by
``GET ?acl`` as ``AccessControlPolicy`` XML, but never enforced: every
request must be signed whatever the ACL says.  Object ACLs are ``default``,
``private``, ``public-read`` or ``public-read-write`` (default ``default``);
bucket ACLs the last three (default ``private``).  ``bucket_stat``
(``GET ?stat``) sums sizes and counts of the bucket's current objects.
"""

import time

from moto.s3.models import FakeKey

from . import errors
from .listing import OWNER_ID, OWNER_NAME
from .response import Response, epoch_of, xml_response

OBJECT_ACLS = ("default", "private", "public-read", "public-read-write")
BUCKET_ACLS = ("private", "public-read", "public-read-write")
ATTR_ACL = "ossemu_acl"


def acl_from_header(headers, name, allowed):
    """The ACL named by header ``name`` (None if absent); 400 if not allowed."""
    value = headers.get(name)
    if value is None:
        return None
    value = value.strip().lower()
    if value not in allowed:
        raise errors.invalid_argument("no such acl: %s" % value, name, value)
    return value


def _policy(grant):
    return xml_response("AccessControlPolicy", [("Owner", [("ID", OWNER_ID), ("DisplayName", OWNER_NAME)]),
                                                ("AccessControlList", [("Grant", grant)])])


def _put_acl(target, headers, name, allowed):
    """``PUT ?acl``: records the ACL of header ``name`` on target (an object
    or a bucket); 400 if the header is absent or the ACL not allowed."""
    acl = acl_from_header(headers, name, allowed)
    if acl is None:
        raise errors.invalid_argument(f"{name} is required.", name, "")
    setattr(target, ATTR_ACL, acl)
    return Response(200)


def put_object_acl(app, req):
    key = app.store.get_object(req.bucket, req.key)
    return _put_acl(key, req.headers, "x-oss-object-acl", OBJECT_ACLS)


def get_object_acl(app, req):
    key = app.store.get_object(req.bucket, req.key)
    return _policy(getattr(key, ATTR_ACL, "default"))


def put_bucket_acl(app, req):
    bucket = app.store.get_bucket(req.bucket)
    return _put_acl(bucket, req.headers, "x-oss-acl", BUCKET_ACLS)


def get_bucket_acl(app, req):
    bucket = app.store.get_bucket(req.bucket)
    return _policy(getattr(bucket, ATTR_ACL, "private"))


def bucket_stat(app, req):
    bucket = app.store.get_bucket(req.bucket)
    keys = [k for k in bucket.keys.values() if isinstance(k, FakeKey)]
    storage = sum(k.size for k in keys)
    last = max((int(epoch_of(k.last_modified)) for k in keys), default=int(time.time()))
    return xml_response("BucketStat", [("Storage", storage), ("ObjectCount", len(keys)),
                                       ("MultipartUploadCount", len(bucket.multiparts)),
                                       ("LiveChannelCount", 0), ("LastModifiedTime", last),
                                       ("StandardStorage", storage), ("StandardObjectCount", len(keys))])
