"""Classify an OSS request into an operation name.

Contract: :func:`classify` looks only at the method, whether a bucket/key is
addressed, the query parameters and ``x-oss-copy-source``.  It returns an
OSS operation name (``GetObject``, ``UploadPart``, ``ListObjectsV2``...)
served by the emulator, ``Moto:<detail>`` for requests forwarded to moto
(subresources in :data:`FORWARDED_SUBRESOURCES`), ``Unsupported:<detail>``
(answered 501) or ``Unsupported`` (405).  Parameters in
:data:`NEUTRAL_PARAMS` (``response-*`` overrides, tokens...) never change
the operation.
"""

from .auth import V1_SUBRESOURCES

# Query parameters that do not turn a request into a different operation.
NEUTRAL_PARAMS = frozenset(["response-content-type", "response-content-language", "response-cache-control",
                            "response-content-encoding", "response-expires", "response-content-disposition",
                            "security-token", "x-oss-process", "x-oss-traffic-limit", "versionId",
                            "continuation-token"])

# Subresources whose S3 behaviour in moto is close enough to OSS to forward;
# any other subresource is answered with 501 NotImplemented.
FORWARDED_SUBRESOURCES = frozenset(["tagging", "versioning", "versions", "cors", "policy", "encryption",
                                    "website", "logging", "lifecycle", "uploadId", "partNumber"])


def classify(req):
    """OSS operation name for a request; ``Moto:<detail>`` means forwarded."""
    m, p = req.method, req.params
    subs = [k for k in p if k in V1_SUBRESOURCES and k not in NEUTRAL_PARAMS]
    if not req.bucket:
        return "ListBuckets" if m == "GET" else "Unsupported"
    if not req.key:
        if m == "GET":
            if "uploads" in p:
                return "ListMultipartUploads"
            if "location" in p:
                return "GetBucketLocation"
            if "bucketInfo" in p:
                return "GetBucketInfo"
            if "stat" in p:
                return "GetBucketStat"
            if subs == ["acl"]:
                return "GetBucketAcl"
            if not subs:
                return "ListObjectsV2" if p.get("list-type") == "2" else "ListObjects"
        elif m == "PUT" and not subs:
            return "PutBucket"
        elif m == "PUT" and subs == ["acl"]:
            return "PutBucketAcl"
        elif m == "DELETE" and not subs:
            return "DeleteBucket"
        elif m == "HEAD" and not subs:
            return "HeadBucket"
        elif m == "POST" and "delete" in p:
            return "DeleteMultipleObjects"
        return _forward_or_unsupported("bucket", m, subs)
    copy = req.header("x-oss-copy-source") is not None
    if m == "GET":
        if "uploadId" in p:
            return "ListParts"
        if not subs:
            return "GetObject"
        if subs == ["acl"]:
            return "GetObjectAcl"
    elif m == "HEAD":
        if "objectMeta" in p:
            return "GetObjectMeta"
        if not subs:
            return "HeadObject"
    elif m == "PUT":
        if "uploadId" in p and "partNumber" in p:
            return "Moto:UploadPartCopy" if copy else "UploadPart"
        if not subs:
            return "CopyObject" if copy else "PutObject"
        if subs == ["acl"]:
            return "PutObjectAcl"
    elif m == "POST":
        if "uploads" in p:
            return "InitiateMultipartUpload"
        if "uploadId" in p:
            return "CompleteMultipartUpload"
        if "append" in p:
            return "AppendObject"
    elif m == "DELETE":
        if "uploadId" in p:
            return "AbortMultipartUpload"
        if not subs:
            return "DeleteObject"
    return _forward_or_unsupported("object", m, subs)


def _forward_or_unsupported(level, method, subs):
    if subs and all(s in FORWARDED_SUBRESOURCES for s in subs):
        return "Moto:%s:%s:%s" % (level, method, ",".join(subs))
    return "Unsupported:%s:%s:%s" % (level, method, ",".join(subs))
