"""DataObject: one OSS object opened by the model connector, a
:class:`~ossconnector.readahead.RangeReader` whose strategy is
:class:`~ossconnector.readahead.Prefetched` (the default) or
:class:`~ossconnector.readahead.Sequential` (``prefetch=False``).

With prefetching the object's bytes are fetched into memory in the
background, in the order objects were opened; reads wait only for the
chunks they cover and are then served from memory.  Without prefetching,
reads go to OSS (read-ahead; large ``readinto`` calls straight into the
caller's buffer); ``mmap()`` switches such an object to a prefetch buffer.

Either way the object is checked against its CRC-64 once the ranges read
cover it: from then on a mismatch makes every read, ``readline`` and
``mmap()`` raise OssIntegrityError naming the object.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Optional

from .._native import ffi
from ..readahead import ObjectBuffer, ObjectCheck, Prefetched, PrefetchPool, RangeReader, Sequential

__all__ = ["DataObject", "DataObjectInfo", "TextDataObject"]


@dataclass(frozen=True)
class DataObjectInfo:
    """One listed object: ``key`` is the key inside the bucket."""

    key: str
    size: int


class DataObject(RangeReader):
    """A seekable binary stream over ``oss://bucket/key``.

    ``read``, ``readinto`` (into any writable buffer, including a contiguous
    CPU torch tensor), ``readline``, ``seek``, ``tell``, ``size()``,
    ``mmap()`` (address of the whole object in memory), ``close()``, and
    use as a context manager.  Closing (or garbage collection) frees the
    object's memory; an address returned by ``mmap()`` is valid until then.

    ``reader``: accepted for callers that still pass an ObjectReader for
    ``prefetch=False``; it is closed at once (this object reads itself).
    """

    _kind = "object"

    def __init__(self, pool: PrefetchPool, bucket: str, key: str, size: int, *,
                 prefetch: bool = True, reader=None):
        if reader is not None:
            reader.close()
        check = ObjectCheck(f"oss://{bucket}/{key}", size)
        self._pool = pool
        self._buf: Optional[ObjectBuffer] = None
        strategy = Sequential()
        if prefetch:
            self._buf = pool.open(bucket, key, size, check=check)
            strategy = Prefetched(pool, self._buf)
        super().__init__(pool.client, bucket, key, size, strategy=strategy, object_check=check)

    def size(self) -> int:
        """The object's size in bytes."""
        return self._size

    def readline(self, size: int = -1) -> bytes:
        """The bytes up to and including the next b'\\n' (at most size)."""
        self._check_open()
        if self._buf is None:
            return super().readline(size)
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        start = self._pos
        window = 256
        while self._pos < end:
            n = min(window, end - self._pos)
            self._strategy.wait(self._pos, n)
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
            self._strategy.close()
            self._buf = self._pool.open(self.bucket, self.key, self._size, queue=False,
                                        check=self._object_check)
            self._strategy = Prefetched(self._pool, self._buf)
        self._pool.promote(self._buf)
        self._strategy.wait(0, self._size)
        return self._buf.address()

    def close(self) -> None:
        """Frees the object's memory (also on garbage collection)."""
        super().close()
        self._buf = None


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
