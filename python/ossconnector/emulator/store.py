"""Adapter over moto's in-memory S3 backend used as the object store.

Contract:
- One :class:`Store` addresses ``moto.s3.models.s3_backends[account]["aws"]``;
  every emulator in a process with the same account shares that state.
- Objects written by the emulator are ``FakeKey`` instances whose value
  buffer is *adopted* (never copied) from a file-like object we filled while
  streaming the request body; they carry extra attributes: ``ossemu_crc64``
  (int, the CRC-64/ECMA of the content) and ``ossemu_info`` (dict with
  ``object_type`` and ``storage_class``).  Objects created by moto itself get
  their CRC computed lazily on first need and cached on the key.
- :meth:`Store.open_range` returns the bytes of a range without copying the
  whole object: in-memory values copy only the range; disk-backed values
  return a :class:`~.bodies.FileRange` on a duplicated descriptor, so a
  concurrent overwrite/delete cannot corrupt a response in flight.
- Errors are raised as :class:`~.errors.OssError` (NoSuchBucket, NoSuchKey, ...).
"""

import io
import os
import re
import tempfile
import threading
import uuid

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import FakeKey, s3_backends

from . import errors
from .bodies import FileRange
from .crc64 import crc64

ATTR_CRC = "ossemu_crc64"
ATTR_INFO = "ossemu_info"
MEMORY_THRESHOLD = 4 << 20  # values above this spill to an (unlinked) temp file
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_MISSING = object()


def new_buffer():
    """A fresh value buffer (memory first, temp file beyond MEMORY_THRESHOLD)."""
    return tempfile.SpooledTemporaryFile(max_size=MEMORY_THRESHOLD)


def _underlying(buf):
    return getattr(buf, "_file", buf)


class Store:
    def __init__(self, account_id=DEFAULT_ACCOUNT_ID):
        self.account_id = account_id
        self.lock = threading.RLock()

    @property
    def backend(self):
        return s3_backends[self.account_id]["aws"]

    # ------------------------------------------------------------ buckets
    def list_buckets(self):
        return sorted(self.backend.buckets.values(), key=lambda b: b.name)

    def get_bucket(self, name):
        bucket = self.backend.buckets.get(name)
        if bucket is None:
            raise errors.no_such_bucket(name)
        return bucket

    def create_bucket(self, name, region):
        if not _BUCKET_RE.match(name or ""):
            raise errors.OssError(400, "InvalidBucketName", "The specified bucket is not valid.", BucketName=name)
        with self.lock:
            if name in self.backend.buckets or name in s3_backends.bucket_accounts:
                raise errors.OssError(409, "BucketAlreadyExists",
                                      "The requested bucket name is not available.", BucketName=name)
            return self.backend.create_bucket(name, region)

    def delete_bucket(self, name):
        with self.lock:
            bucket = self.get_bucket(name)
            if any(isinstance(k, FakeKey) for k in bucket.keys.values()):
                raise errors.OssError(409, "BucketNotEmpty",
                                      "The bucket you tried to delete is not empty.", BucketName=name)
            for upload in list(bucket.multiparts.values()):
                upload.dispose()
            bucket.multiparts.clear()
            self.backend.delete_bucket(name)

    # ------------------------------------------------------------ objects
    def find_object(self, bucket_name, key_name):
        """The current FakeKey or None (raises NoSuchBucket)."""
        bucket = self.get_bucket(bucket_name)
        key = bucket.keys.get(key_name)
        return key if isinstance(key, FakeKey) and not key.disposed else None

    def get_object(self, bucket_name, key_name):
        key = self.find_object(bucket_name, key_name)
        if key is None:
            raise errors.no_such_key(key_name)
        return key

    def install_object(self, bucket_name, key_name, buffer, size, etag, crc, metadata,
                       object_type="Normal", storage_class="Standard", crc_header=True):
        """Register ``buffer`` (file-like, positioned anywhere) as the object's value.

        ``etag`` is given without quotes; ``metadata`` maps moto-style names
        (``Content-Type``, ``x-amz-meta-foo``) to values.  ``crc_header``
        False: replies about the object carry no ``x-oss-hash-crc64ecma``
        (as objects from before OSS had CRC-64, or another S3-compatible
        store), so a client cannot check its bytes against one.
        """
        bucket = self.get_bucket(bucket_name)
        backend = self.backend
        key = FakeKey(name=key_name, value=b"", account_id=backend.account_id,
                      region_name=backend.region_name, bucket_name=bucket_name, etag=etag,
                      is_versioned=bucket.is_versioned,
                      version_id=str(uuid.uuid4()) if bucket.is_versioned else "null")
        placeholder = key._value_buffer
        key._value_buffer = buffer
        placeholder.close()
        key.contentsize = size
        key.set_metadata(dict(metadata))
        setattr(key, ATTR_CRC, crc)
        setattr(key, ATTR_INFO, {"object_type": object_type, "storage_class": storage_class,
                                 "crc_header": bool(crc_header)})
        with self.lock:
            if bucket.is_versioned:
                bucket.keys[key_name] = key
            else:
                bucket.keys.setlist(key_name, [key])
        return key

    def delete_object(self, bucket_name, key_name):
        bucket = self.get_bucket(bucket_name)
        with self.lock:
            if key_name in bucket.keys:
                self.backend.delete_object(bucket_name, key_name)

    # ------------------------------------------------------------ reading
    def iter_range(self, key, start, length, chunk_size=1 << 20):
        """Yield the content range in chunks, reading under the key's lock."""
        pos, end = start, start + length
        while pos < end:
            with key.lock:
                buf = key._value_buffer
                if buf.closed:
                    raise errors.no_such_key(key.name)
                buf.seek(pos)
                data = buf.read(min(chunk_size, end - pos))
            if not data:
                return
            pos += len(data)
            yield data

    def open_range(self, key, start, length):
        """bytes (small/in-memory values) or a FileRange for ``[start, start+length)``."""
        if length <= 0:
            return b""
        with key.lock:
            buf = key._value_buffer
            if buf.closed:
                raise errors.no_such_key(key.name)
            raw = _underlying(buf)
            if isinstance(raw, io.BytesIO):
                with raw.getbuffer() as view:
                    return bytes(view[start:start + length])
            buf.flush()
            fd = os.dup(raw.fileno())
        return FileRange(fd, start, length)

    def object_crc(self, key):
        crc = getattr(key, ATTR_CRC, _MISSING)
        if crc is _MISSING or crc is None:
            value = 0
            for chunk in self.iter_range(key, 0, key.size):
                value = crc64(chunk, value)
            crc = value
            setattr(key, ATTR_CRC, crc)
        return crc

    @staticmethod
    def object_info(key):
        info = getattr(key, ATTR_INFO, None)
        if info is None:
            object_type = "Multipart" if "-" in (key._etag or "") else "Normal"
            info = {"object_type": object_type, "storage_class": "Standard"}
        return info
