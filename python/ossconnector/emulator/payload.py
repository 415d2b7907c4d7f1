"""Receive a request body into a value buffer while computing digests.

Contract: :func:`receive_body` streams ``wsgi.input`` in 1 MiB chunks into a
fresh :func:`~.store.new_buffer` (memory, spilling to an unlinked temp file)
and returns a :class:`Payload` with ``size``, ``md5`` (hex, uppercase) and
``crc64``.  It validates ``Content-MD5`` (400 ``InvalidDigest``) and a hex
``x-oss-content-sha256`` (400 ``InvalidDigest``), and fails with 400
``IncompleteBody`` if the client sent fewer bytes than announced.  The
buffer is closed on any error.
"""

import base64
import binascii
import hashlib

from .crc64 import crc64
from .errors import OssError
from .store import new_buffer

CHUNK = 1 << 20


class Payload:
    def __init__(self, buffer, size, md5, crc):
        self.buffer = buffer
        self.size = size
        self.md5 = md5
        self.crc64 = crc

    @property
    def content_md5(self):
        return base64.b64encode(binascii.unhexlify(self.md5)).decode("ascii")


def receive_body(req):
    stream = req.body_stream
    expected = req.content_length
    sha_header = (req.header("x-oss-content-sha256") or "").strip().lower()
    sha = hashlib.sha256() if len(sha_header) == 64 else None
    md5 = hashlib.md5()
    crc = 0
    size = 0
    buf = new_buffer()
    try:
        while True:
            want = CHUNK if expected is None else min(CHUNK, expected - size)
            if want <= 0:
                break
            data = stream.read(want)
            if not data:
                break
            buf.write(data)
            md5.update(data)
            crc = crc64(data, crc)
            if sha is not None:
                sha.update(data)
            size += len(data)
        if (expected is not None and size < expected) or getattr(stream, "truncated", False):
            raise OssError(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
        provided_md5 = req.header("content-md5")
        if provided_md5:
            try:
                ok = base64.b64decode(provided_md5.strip(), validate=True) == md5.digest()
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise OssError(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
        if sha is not None and sha.hexdigest() != sha_header:
            raise OssError(400, "InvalidDigest", "The x-oss-content-sha256 you specified does not match the body.")
    except BaseException:
        buf.close()
        raise
    return Payload(buf, size, md5.hexdigest().upper(), crc)
