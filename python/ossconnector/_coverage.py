"""CrcCoverage: which bytes of one object have been fetched, with the
CRC-64 of each run, so that ranges read in any order are checked against
the object's CRC (x-oss-hash-crc64ecma) as soon as they cover it."""

from __future__ import annotations

import bisect
from typing import List, Optional

from ._native import lib

__all__ = ["CrcCoverage"]


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

