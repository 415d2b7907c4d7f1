"""WholeObject: the whole object fetched and checked before any byte of it
is returned (``Client.open(..., verify="full")``).

The first read fetches the object into memory with one GET from offset 0
(the engine checks a whole read against the server's CRC; checked here
again, and refused without one); every read is then served from memory.
Cost: one GET of the whole object and its size in memory.
"""

from __future__ import annotations

import errno
from typing import Optional

from .._native import ffi
from ..errors import OssIntegrityError
from ._reader import RangeReader, Strategy

__all__ = ["WholeObject"]


class WholeObject(Strategy):
    """Serves every read from the checked whole object."""

    def __init__(self):
        self._whole: Optional[bytearray] = None

    def readinto(self, reader: RangeReader, dst, want: int) -> int:
        whole = self._load(reader)
        n = min(want, reader._size - reader._pos)
        ffi.memmove(dst, ffi.from_buffer(whole)[reader._pos:reader._pos + n], n)
        reader._pos += n
        return n

    def _load(self, reader: RangeReader) -> bytearray:
        if self._whole is not None:
            return self._whole
        uri, size = reader.uri, reader._size
        whole = bytearray(size)
        get = reader.get(0, size, ffi.from_buffer(whole))
        got = get.wait()
        fetched = get.fetched
        if fetched.object_crc is None:
            raise OssIntegrityError(
                errno.EIO, f"{uri}: verify='full' needs the object's CRC-64, and the "
                "server sent no x-oss-hash-crc64ecma")
        if got != size or fetched.object_size not in (None, size):
            raise OssIntegrityError(errno.EIO, f"{uri}: the object has {fetched.object_size} "
                                               f"bytes, not {size} as opened")
        if reader._object_check.verified_crc is None:
            raise OssIntegrityError(errno.EIO, f"{uri}: could not verify the object")
        self._whole = whole
        return whole

    def close(self) -> None:
        self._whole = None
