"""DataObject: one OSS object opened by the model connector.

With prefetching (the default) the object's bytes are fetched into memory
in the background, in the order objects were opened; reads wait only for
the chunks they cover and are then served from memory.  Without
prefetching, reads go to OSS (large ``readinto`` calls straight into the
caller's buffer).

Prefetched objects are checked against their CRC-64 once their chunks
cover them (see ``_prefetch``): from then on a mismatch makes every read,
``readline`` and ``mmap()`` raise OssIntegrityError naming the object.
Without prefetching the ObjectReader checks what it reads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

from .._native import ffi, writable_pointer
from .._stream import ObjectStream
from ._prefetch import READY, ObjectBuffer, PrefetchPool

__all__ = ["DataObject", "DataObjectInfo", "TextDataObject"]


@dataclass(frozen=True)
class DataObjectInfo:
    """One listed object: ``key`` is the key inside the bucket."""

    key: str
    size: int


class DataObject(ObjectStream):
    """A seekable binary stream over ``oss://bucket/key``.

    ``read``, ``readinto`` (into any writable buffer, including a contiguous
    CPU torch tensor), ``readline``, ``seek``, ``tell``, ``size()``,
    ``mmap()`` (address of the whole object in memory), ``close()``, and
    use as a context manager.  Closing (or garbage collection) frees the
    object's memory; an address returned by ``mmap()`` is valid until then.
    """

    _kind = "object"

    def __init__(self, pool: PrefetchPool, bucket: str, key: str, size: int, *,
                 prefetch: bool = True, reader=None):
        uri = f"oss://{bucket}/{key}"
        super().__init__(size, uri)
        self.bucket = bucket
        self.key = key
        self.uri = uri
        self._pool = pool
        self._reader = reader  # ossconnector ObjectReader when not prefetching
        self._buf: Optional[ObjectBuffer] = pool.open(bucket, key, size) if prefetch else None

    # -- io.RawIOBase ------------------------------------------------------

    def size(self) -> int:
        """The object's size in bytes."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def readinto(self, b) -> int:
        """Copies up to len(b) bytes at the current position into b and
        returns how many (0 at the end)."""
        self._check_open()
        if self._buf is None:
            self._reader.seek(self._pos)
            n = self._reader.readinto(b)
            self._pos += n
            return n
        ptr, nbytes, keep = writable_pointer(b)
        try:
            want = min(nbytes, self._size - self._pos)
            if want <= 0:
                return 0
            self._wait(self._pos, want)
            ffi.memmove(ptr, self._buf.mem + self._pos, want)
            self._pos += want
            return want
        finally:
            # An error's traceback must not keep the caller's buffer exported.
            del ptr, keep

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        n = self._read_length(size)
        if n == 0:
            return b""
        if self._buf is None:
            self._reader.seek(self._pos)
            data = self._reader.read(n)
        else:
            self._wait(self._pos, n)
            data = ffi.buffer(self._buf.mem + self._pos, n)[:]
        self._pos += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        """The bytes up to and including the next b'\\n' (at most size)."""
        self._check_open()
        if self._buf is None:
            self._reader.seek(self._pos)
            line = self._reader.readline(size)
            self._pos += len(line)
            return line
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        start = self._pos
        window = 256
        while self._pos < end:
            n = min(window, end - self._pos)
            self._wait(self._pos, n)
            piece = ffi.buffer(self._buf.mem + self._pos, n)[:]
            nl = piece.find(b"\n")
            if nl >= 0:
                self._pos += nl + 1
                break
            self._pos += n
            window = min(window * 2, 1 << 20)
        return ffi.buffer(self._buf.mem + start, self._pos - start)[:]

    def mmap(self) -> int:
        """Address of the whole object in memory (waits until all of it has
        arrived).  Valid until the object is closed; wrap it e.g. with
        ``(ctypes.c_ubyte * obj.size()).from_address(obj.mmap())``."""
        self._check_open()
        if self._buf is None:
            self._buf = self._pool.open(self.bucket, self.key, self._size, queue=False)
        self._pool.promote(self._buf)
        self._wait(0, self._size)
        return self._buf.address()

    def close(self) -> None:
        """Frees the object's memory (also on garbage collection)."""
        if not self.closed:
            if self._buf is not None:
                self._pool.release(self._buf)
                self._buf = None
            if self._reader is not None:
                self._reader.close()
        super().close()

    def __repr__(self):
        return f"DataObject({self.uri!r}, size={self._size})"

    # -- helpers ----------------------------------------------------------

    def _wait(self, pos: int, n: int) -> None:
        """Returns once bytes [pos, pos + n) are in memory; raises
        OssIntegrityError once the object's chunks failed their CRC check."""
        buf = self._buf
        if n <= 0:
            return
        for c in range(pos // buf.chunk, (pos + n - 1) // buf.chunk + 1):
            if buf.state[c] != READY:
                self._pool.wait_chunk(buf, c)
        buf.check.raise_if_corrupt()


class TextDataObject(io.TextIOWrapper):
    """A DataObject opened in text mode (UTF-8): ``read``/``readline``
    return str.  ``key``, ``size()`` and ``mmap()`` are those of the
    underlying binary object."""

    def __init__(self, raw: DataObject, encoding: str = "utf-8"):
        super().__init__(io.BufferedReader(raw, buffer_size=1 << 16), encoding=encoding)
        self.key = raw.key
        self.bucket = raw.bucket
        self.uri = raw.uri
        self._raw = raw

    def size(self) -> int:
        return self._raw.size()

    def mmap(self) -> int:
        return self._raw.mmap()
