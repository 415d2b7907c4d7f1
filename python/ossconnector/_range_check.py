"""ObjectCheck: the CRC-64 check of one object that a read path assembles
from ranged GETs of its own (the checkpoint reader's blocks and slices, a
DCP load's batches, the model connector's chunks, a dataset item read in
two parts).

Each finished GET is recorded with the CRC the engine computed over its
bytes as they arrived (``ossc_future_crc64``: no pass over the data, no
extra request); once the ranges recorded cover the object, their combined
CRC (:class:`~ossconnector._coverage.CrcCoverage`) is compared with the
object's ``x-oss-hash-crc64ecma``.  A mismatch raises
:class:`~ossconnector.errors.OssIntegrityError` (EIO, naming the object)
from the ``record`` that completed the coverage and from every
``raise_if_corrupt`` after it, so the read path never returns that read's
bytes, nor any later ones, as good.

Nothing can be checked when the server sends no CRC, or when the object's
size (as a reply names it) is not the size the path was given.
"""

from __future__ import annotations

import errno
import threading
from typing import Optional

from ._coverage import CrcCoverage
from ._native import ffi, lib
from .errors import OssIntegrityError

__all__ = ["Fetched", "ObjectCheck"]


class Fetched:
    """What one finished GET of ``n`` bytes at ``offset`` said about its
    bytes: their CRC, the object's CRC and size (None where unknown).
    Read from the future after ``ossc_future_wait`` succeeded and before
    ``ossc_future_free``."""

    __slots__ = ("offset", "n", "crc", "object_crc", "object_size")

    def __init__(self, future, offset: int, n: int):
        self.offset = offset
        self.n = n
        crc = ffi.new("uint64_t[2]")
        size = ffi.new("uint64_t *")
        has_crc = lib.ossc_future_crc64(future, crc, crc + 1)
        self.crc = crc[0] if has_crc >= 0 else None
        self.object_crc = crc[1] if has_crc == 1 else None
        self.object_size = size[0] if lib.ossc_future_object_size(future, size) == 1 else None


class ObjectCheck:
    """Coverage and verdict for ``uri`` of ``size`` bytes (None: the size
    the first reply names, so a path that has no size need not ask for
    it); thread-safe (one lock, held for O(runs) list work per record)."""

    def __init__(self, uri: str, size: Optional[int] = None):
        self.uri = uri
        self.size = size
        self._coverage = CrcCoverage(size) if size is not None else None
        self._object_crc: Optional[int] = None
        self._corrupt: Optional[OssIntegrityError] = None
        self._lock = threading.Lock()
        #: The object's CRC once the bytes read were checked against it.
        self.verified_crc: Optional[int] = None

    def raise_if_corrupt(self) -> None:
        if self._corrupt is not None:
            raise self._corrupt

    def record_future(self, future, offset: int, n: int, data) -> None:
        """``record`` of a future that returned ``n`` (>= 0) bytes at
        ``offset`` into ``data`` (a cffi ``char *``)."""
        self.record(Fetched(future, offset, n), data)

    def record(self, fetched: Fetched, data) -> None:
        """Records a finished GET whose bytes are at ``data`` (read only
        where it overlaps bytes recorded before); raises OssIntegrityError
        when the coverage it completes does not match the object's CRC."""
        with self._lock:
            self.raise_if_corrupt()
            if fetched.crc is None or fetched.n <= 0:
                return
            if self.size is None and fetched.object_size is not None:
                self.size = fetched.object_size
                self._coverage = CrcCoverage(self.size)
            if self._coverage is None:
                return
            if fetched.object_size is not None and fetched.object_size != self.size:
                return  # not the object we were told of: no whole to check
            if fetched.object_crc is not None:
                self._object_crc = fetched.object_crc
            if self._coverage.complete():
                return
            self._coverage.add(fetched.offset, fetched.n, fetched.crc, data)
            got, want = self._coverage.crc(), self._object_crc
            if got is None or want is None:
                return
            if got != want:
                self._corrupt = OssIntegrityError(
                    errno.EIO, f"{self.uri}: CRC-64 of the bytes read ({got}) does not match "
                    f"the object's x-oss-hash-crc64ecma ({want}): data corrupted in transit")
                raise self._corrupt
            self.verified_crc = got
