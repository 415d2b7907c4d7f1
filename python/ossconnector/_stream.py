"""ObjectStream: what every read-only stream over an object of known size
shares (every :class:`~ossconnector.readahead.RangeReader` — ObjectReader,
CheckpointReader, the model connector's DataObject — and the datasets'
items), so that position, seek, close checks and
``read`` behave the same on all of them."""

from __future__ import annotations

import io

from ._seek import seek_position

__all__ = ["ObjectStream"]


class ObjectStream(io.RawIOBase):
    """A read-only, seekable binary stream over ``size`` bytes named
    ``name`` (an ``oss://`` URI or an archive member's name), positioned
    at 0.

    Subclasses implement ``readinto`` and keep the position in ``_pos``
    (it may lie past the end: reads there return nothing).  ``read`` here
    is one ``readinto`` into a fresh buffer; a subclass overrides it where
    it can avoid that copy.  ``_kind`` names the stream in the error of a
    use after close ("I/O operation on closed reader oss://...").
    """

    _kind = "stream"

    def __init__(self, size: int, name: str):
        super().__init__()
        self._size = size
        self._name = name
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        self._pos = seek_position(self._pos, self._size, offset, whence, self._name)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        n = self._read_length(size)
        if n == 0:
            return b""
        buf = bytearray(n)
        got = self.readinto(buf)
        del buf[got:]
        return bytes(buf)

    def readall(self) -> bytes:
        return self.read(-1)

    def _read_length(self, size) -> int:
        """How many bytes ``read(size)`` returns from the current position:
        what remains (0 past the end), at most ``size`` unless it is None
        or negative."""
        remaining = max(0, self._size - self._pos)
        return remaining if size is None or size < 0 else min(size, remaining)

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed {self._kind} {self._name}")
