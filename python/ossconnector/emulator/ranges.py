"""HTTP ``Range`` handling with OSS semantics.

Contract: :func:`resolve_range` returns ``(start, end)`` (inclusive) for a
single satisfiable byte range, or ``None`` meaning "send the whole object
with 200".  Default OSS behaviour ignores invalid or out-of-range ranges
(``bytes=500-2000`` or ``bytes=1000-`` on a 1000-byte object -> whole object,
200).  With ``x-oss-range-behavior: standard`` an end beyond the object is
clamped and a start beyond it raises 416 ``InvalidRange``.
Supported forms: ``bytes=a-b``, ``bytes=a-``, ``bytes=-n``.
"""

import re

from .errors import OssError

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def _unsatisfiable(size):
    return OssError(416, "InvalidRange", "The requested range cannot be satisfied.",
                    headers={"Content-Range": "bytes */%d" % size}, ActualObjectSize=size)


def resolve_range(header, size, standard=False):
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if not match or (not match.group(1) and not match.group(2)):
        if standard and "," in header:
            raise _unsatisfiable(size)
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
        if start >= size:
            if standard:
                raise _unsatisfiable(size)
            return None
        if end >= size:
            if not standard:
                return None
            end = size - 1
        return start, end
    suffix = int(last)
    if suffix == 0 or size == 0:
        if standard:
            raise _unsatisfiable(size)
        return None
    if suffix > size:
        if not standard:
            return None
        suffix = size
    return size - suffix, size - 1
