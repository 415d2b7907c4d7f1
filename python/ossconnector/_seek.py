"""The one seek rule shared by every stream over an object of known size."""

from __future__ import annotations

import errno
import io

__all__ = ["NegativeSeekError", "seek_position"]


class NegativeSeekError(OSError, ValueError):
    """A seek before byte 0.  An OSError(EINVAL) as for real files (zipfile
    relies on that), and a ValueError as io's in-memory streams raise."""


def seek_position(pos: int, size: int, offset: int, whence: int, what: str) -> int:
    """The position ``seek(offset, whence)`` moves to from ``pos`` in an
    object of ``size`` bytes named ``what``; positions past the end are
    allowed (reads there return nothing)."""
    if whence == io.SEEK_SET:
        target = offset
    elif whence == io.SEEK_CUR:
        target = pos + offset
    elif whence == io.SEEK_END:
        target = size + offset
    else:
        raise ValueError(f"seek: invalid whence {whence!r} on {what}")
    if target < 0:
        raise NegativeSeekError(errno.EINVAL, f"seek: negative position {target} in {what}")
    return target
