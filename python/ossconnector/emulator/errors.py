"""OSS error model: :class:`OssError` and its XML rendering.

Contract: raise ``OssError(status, code, message, **fields)`` anywhere in a
handler; the application turns it into an OSS error response whose body is::

    <?xml version="1.0" encoding="UTF-8"?>
    <Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId>
    <HostId>..</HostId>[extra fields such as <Key>, <BucketName>]</Error>

Extra ``fields`` keep their insertion order and values are rendered as text.
Helpers below build the common errors with OSS's codes and statuses.
"""

from . import xmlgen


class OssError(Exception):
    """An error answer in OSS form (status, code, message, extra fields)."""

    def __init__(self, status, code, message, headers=None, **fields):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status = int(status)
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = dict(headers or {})

    def to_xml(self, request_id, host_id):
        children = [("Code", self.code), ("Message", self.message),
                    ("RequestId", request_id), ("HostId", host_id)]
        children.extend((k, v) for k, v in self.fields.items() if v is not None)
        return xmlgen.document("Error", children)


def no_such_bucket(bucket):
    return OssError(404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=bucket)


def no_such_key(key):
    return OssError(404, "NoSuchKey", "The specified key does not exist.", Key=key)


def no_such_upload(upload_id):
    return OssError(404, "NoSuchUpload",
                    "The specified upload does not exist. The upload ID may be invalid, "
                    "or the upload may have been aborted or completed.", UploadId=upload_id)


def invalid_argument(message, name=None, value=None):
    return OssError(400, "InvalidArgument", message, ArgumentName=name, ArgumentValue=value)


def malformed_xml(message="The XML you provided was not well-formed or did not validate against our published schema."):
    return OssError(400, "MalformedXML", message)


def access_denied(message):
    return OssError(403, "AccessDenied", message)


def not_implemented(what):
    return OssError(501, "NotImplemented", "%s is not implemented by the OSS emulator." % what)
