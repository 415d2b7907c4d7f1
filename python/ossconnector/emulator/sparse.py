"""Huge zero-filled ("sparse") test objects that cost no disk or memory.

Contract:
- :func:`create_sparse_object` registers ``bucket/key`` of ``size`` bytes
  backed by an unlinked temp file grown with ``truncate`` (a filesystem hole),
  so HEAD/LIST/GET/Range all work on multi-GiB objects instantly.
- Unless ``markers=False``, a 16-byte marker (:func:`marker_bytes`) is written
  at every offset in :func:`marker_offsets` (each GiB boundary plus the last
  16 bytes), so tests can check that a range read at a high offset returned
  the right bytes; :func:`expected_bytes` computes the content of any range.
- The object's ``x-oss-hash-crc64ecma`` is exact (computed with CRC
  combination, not by reading the data); its ETag is synthetic (not an MD5
  of the content).
"""

import hashlib
import os
import tempfile

from .crc64 import crc64, crc64_combine, crc64_zeros

MARKER_STRIDE = 1 << 30
MARKER_LEN = 16


def marker_bytes(offset):
    """The 16 marker bytes written at ``offset``."""
    return b"<OSSEMU" + int(offset).to_bytes(8, "big") + b">"


def marker_offsets(size):
    """Offsets of all markers in an object of ``size`` bytes (non-overlapping)."""
    offsets = list(range(0, size - MARKER_LEN + 1, MARKER_STRIDE)) if size >= MARKER_LEN else []
    tail = size - MARKER_LEN
    if size >= MARKER_LEN and (not offsets or tail >= offsets[-1] + MARKER_LEN):
        offsets.append(tail)
    return offsets


def expected_bytes(size, start, end, markers=True):
    """Content of ``[start, end)`` of a sparse object of ``size`` bytes."""
    end = min(end, size)
    if end <= start:
        return b""
    out = bytearray(end - start)
    if markers:
        for off in marker_offsets(size):
            lo, hi = max(off, start), min(off + MARKER_LEN, end)
            if lo < hi:
                out[lo - start:hi - start] = marker_bytes(off)[lo - off:hi - off]
    return bytes(out)


def sparse_crc(size, markers=True):
    """CRC-64/ECMA of a sparse object without reading it."""
    crc, pos = 0, 0
    for off in (marker_offsets(size) if markers else []):
        crc = crc64_combine(crc, crc64_zeros(off - pos), off - pos)
        crc = crc64_combine(crc, crc64(marker_bytes(off)), MARKER_LEN)
        pos = off + MARKER_LEN
    return crc64_combine(crc, crc64_zeros(size - pos), size - pos)


def make_sparse_file(size, markers=True, directory=None):
    """An open, unlinked ``r+b`` file of ``size`` bytes with markers written."""
    fd, path = tempfile.mkstemp(prefix="ossemu-sparse-", dir=directory)
    os.unlink(path)
    f = os.fdopen(fd, "r+b")
    f.truncate(size)
    if markers:
        for off in marker_offsets(size):
            f.seek(off)
            f.write(marker_bytes(off))
    f.flush()
    return f


def create_sparse_object(store, bucket, key, size, markers=True, content_type="application/octet-stream",
                         directory=None):
    """Install a sparse object in ``store``; returns its moto FakeKey."""
    size = int(size)
    if size < 0:
        raise ValueError("size must be >= 0")
    store.get_bucket(bucket)
    f = make_sparse_file(size, markers, directory)
    etag = hashlib.md5(("ossemu-sparse:%d:%s" % (size, markers)).encode()).hexdigest().upper()
    return store.install_object(bucket, key, f, size, etag, sparse_crc(size, markers),
                                {"Content-Type": content_type})
