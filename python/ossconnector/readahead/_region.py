"""Region: bytes of an object fetched into a buffer of their own — the
unit the read-ahead strategies cache (the sequential reader's chunks, the
checkpoint reader's blocks)."""

from __future__ import annotations

from .._native import ffi

__all__ = ["Region"]


class Region:
    """Bytes ``[start, start + length)`` of ``reader``'s object, fetched or
    in flight into ``buf``.  ``exact``: a short read (the object shrank) is
    an error (EIO) rather than a short region."""

    __slots__ = ("start", "length", "buf", "get", "filled")

    def __init__(self, reader, start: int, length: int, *, exact: bool):
        self.start = start
        self.length = length
        self.buf = bytearray(length)
        self.filled = -1
        dst = ffi.from_buffer(self.buf)
        self.get = (reader.sliced(start, length, dst, length) if exact
                    else reader.get(start, length, dst))

    def wait(self) -> int:
        """Bytes in the region once fetched; raises what the GET raised."""
        if self.filled < 0:
            get, self.get = self.get, None
            self.filled = get.wait()
        return self.filled

    def covers(self, pos: int) -> bool:
        return self.start <= pos < self.start + self.length

    def release(self) -> None:
        """Stops a fetch in flight (waits until the engine let go of buf)."""
        if self.get is not None:
            self.get.cancel()
            self.get = None

    def forget(self) -> None:
        """After fork, in the child: drops the parent's fetch untouched."""
        if self.get is not None:
            self.get.forget()
            self.get = None
