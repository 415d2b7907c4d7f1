"""The one CRC-64 check of an object read in ranges.

Every read path assembles an object from ranged GETs (the object reader's
chunks and direct reads, the checkpoint reader's blocks and slices, a DCP
load's batches, the model connector's chunks, a dataset item read in two
parts) and records each with an :class:`ObjectCheck`.

Each finished GET is recorded with the CRC the engine computed over its
bytes as they arrived (``ossc_future_crc64``: no pass over the data, no
extra request); once the ranges recorded cover the object, their combined
CRC (:class:`CrcCoverage`: which bytes are covered, with the CRC of each
run) is compared with the
object's ``x-oss-hash-crc64ecma``.  A mismatch raises
:class:`~ossconnector.errors.OssIntegrityError` (EIO, naming the object)
from the ``record`` that completed the coverage and from every
``raise_if_corrupt`` after it, so the read path never returns that read's
bytes, nor any later ones, as good.

Nothing can be checked when the server sends no CRC, or when the object's
size (as a reply names it) is not the size the path was given.
"""

from __future__ import annotations

import bisect
import errno
import threading
from typing import List, Optional

from .._native import ffi, lib
from ..errors import OssIntegrityError
from ._version import ObjectVersion

__all__ = ["CrcCoverage", "Fetched", "ObjectCheck"]


class CrcCoverage:
    """Runs ``[start, end)`` of an object of ``size`` bytes, disjoint and
    merged when they touch, each with the CRC of its bytes.

    ``add`` costs O(runs) list work plus one CRC join per merge (no pass
    over the data) for a range that adds only new bytes; a range that
    overlaps bytes already covered has its new parts' CRCs computed from
    the data (a pass over those bytes only).  Bytes fetched again where
    runs already cover them are not compared with the first fetch: the
    first fetch of every byte is what the object's CRC checks.
    """

    def __init__(self, size: int):
        self.size = size
        self._starts: List[int] = []
        self._runs: List[list] = []  # [start, end, crc], sorted by start

    def complete(self) -> bool:
        return len(self._runs) == 1 and self._runs[0][0] == 0 and self._runs[0][1] >= self.size

    def crc(self) -> Optional[int]:
        """The CRC of the whole object once covered, else None."""
        return self._runs[0][2] if self.complete() else None

    def add(self, start: int, length: int, crc: int, data) -> None:
        """Records ``length`` bytes fetched at ``start`` whose CRC is
        ``crc``; ``data`` is a cffi ``char *`` to those bytes (read only
        when the range overlaps runs already recorded)."""
        end = min(start + length, self.size)
        if end <= start:
            return
        if end < start + length:  # past the object's end: nothing to cover
            crc = None
        gaps = self._gaps(start, end)
        if gaps == [(start, end)] and crc is not None:
            self._insert(start, end, crc)
            return
        for lo, hi in gaps:
            self._insert(lo, hi, lib.ossc_crc64(0, data + (lo - start), hi - lo))

    def _gaps(self, start: int, end: int) -> List[tuple]:
        gaps = []
        pos = start
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        for run_start, run_end, _ in self._runs[i:]:
            if run_start >= end:
                break
            if run_end <= pos:
                continue
            if run_start > pos:
                gaps.append((pos, run_start))
            pos = max(pos, run_end)
        if pos < end:
            gaps.append((pos, end))
        return gaps

    def _insert(self, start: int, end: int, crc: int) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._runs.insert(i, [start, end, crc])
        self._starts.insert(i, start)
        # Merge with the next run, then with the previous one, when they touch.
        if i + 1 < len(self._runs) and self._runs[i + 1][0] == end:
            nxt = self._runs.pop(i + 1)
            self._starts.pop(i + 1)
            self._runs[i] = [start, nxt[1], lib.ossc_crc64_join(crc, nxt[2], nxt[1] - nxt[0])]
        if i > 0 and self._runs[i - 1][1] == start:
            cur = self._runs.pop(i)
            self._starts.pop(i)
            prev = self._runs[i - 1]
            prev[2] = lib.ossc_crc64_join(prev[2], cur[2], cur[1] - cur[0])
            prev[1] = cur[1]


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
        #: The version every GET checked here is pinned to (readers that
        #: share this check share it).
        self.version = ObjectVersion(uri)

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
