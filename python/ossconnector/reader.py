"""ObjectReader: a seekable binary stream over one OSS object.

Large reads (``readinto`` of a buffer at least ``direct_threshold`` bytes,
or ``read()`` of the rest) go straight into the destination with concurrent
ranged GETs.  Small reads are served from a read-ahead buffer: when reading
is sequential the next chunk is already being fetched in the background.
"""

from __future__ import annotations

from typing import Optional

from ._native import check, check_ptr, ffi, lib, new_error, writable_pointer
from ._stream import ObjectStream

__all__ = ["ObjectReader"]

_DEFAULT_CHUNK = 4 << 20


class _Chunk:
    """A region [offset, offset + length) fetched asynchronously."""

    __slots__ = ("offset", "length", "buf", "future", "filled")

    def __init__(self, reader: "ObjectReader", offset: int, length: int):
        self.offset = offset
        self.length = length
        self.buf = bytearray(length)
        self.filled = -1
        err = new_error()
        self.future = check_ptr(
            lib.ossc_get_async(reader._client._get_native(), reader._bucket_b, reader._key_b,
                               offset, length, ffi.from_buffer(self.buf), err), err,
            reader.uri)

    def wait(self, uri: str) -> int:
        if self.filled < 0:
            err = new_error()
            n = lib.ossc_future_wait(self.future, err)
            lib.ossc_future_free(self.future)
            self.future = None
            check(n, err, uri)
            self.filled = n
        return self.filled

    def release(self) -> None:
        if self.future is not None:
            lib.ossc_future_free(self.future)  # cancels and waits
            self.future = None

    def covers(self, pos: int) -> bool:
        return self.offset <= pos < self.offset + self.length


class ObjectReader(ObjectStream):
    """Binary reader of ``oss://bucket/key`` (``size`` bytes).

    Methods: ``read``, ``readinto`` (zero-copy into any writable buffer,
    including a contiguous CPU torch tensor), ``readline`` and friends from
    :class:`io.RawIOBase`, ``seek``, ``tell``, ``close``; attributes
    ``key``, ``bucket``, ``uri``; ``size()`` returns the object size.
    """

    _kind = "reader"

    def __init__(self, client, bucket: str, key: str, size: int, *,
                 chunk_size: int = _DEFAULT_CHUNK, direct_threshold: Optional[int] = None):
        uri = f"oss://{bucket}/{key}"
        super().__init__(size, uri)
        self._client = client
        self.bucket = bucket
        self.key = key
        self.uri = uri
        self._bucket_b = bucket.encode()
        self._key_b = key.encode("utf-8")
        self._chunk_size = max(64 << 10, chunk_size)
        self._direct = direct_threshold if direct_threshold is not None else self._chunk_size // 4
        self._current: Optional[_Chunk] = None
        self._ahead: Optional[_Chunk] = None
        client._streams.add(self)

    # -- io.RawIOBase -----------------------------------------------------

    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def readinto(self, b) -> int:
        self._check_open()
        ptr, nbytes, keep = writable_pointer(b)
        want = min(nbytes, self._size - self._pos)
        if want <= 0:
            return 0
        if want >= self._direct and not self._buffered(self._pos):
            err = new_error()
            n = lib.ossc_get_range(self._client._get_native(), self._bucket_b, self._key_b,
                                   self._pos, want, ptr, err)
            # Drop the buffer references before raising: a traceback must not
            # keep a cffi view of the caller's buffer alive in a GC cycle.
            del ptr, keep
            check(n, err, self.uri)
            self._pos += n
            return n
        try:
            return self._copy_from_chunks(ptr, want)
        finally:
            del ptr, keep

    def _copy_from_chunks(self, ptr, want: int) -> int:
        done = 0
        while done < want:
            chunk = self._chunk_for(self._pos)
            filled = chunk.wait(self.uri)
            start = self._pos - chunk.offset
            n = min(want - done, filled - start)
            if n <= 0:
                break
            ffi.memmove(ptr + done, ffi.from_buffer(chunk.buf)[start:start + n], n)
            done += n
            self._pos += n
        return done

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        n = self._read_length(size)
        if n == 0 or n < self._direct:
            return super().read(n)
        # Large reads land straight in a fresh bytes object: bytes(n) is
        # calloc'ed (pages untouched), and nobody else can see it before it
        # is filled and returned, so writing into it once is safe and saves
        # a copy of the whole object.
        out = bytes(n)
        ptr = ffi.cast("char *", ffi.from_buffer(out))
        err = new_error()
        got = lib.ossc_get_range(self._client._get_native(), self._bucket_b, self._key_b,
                                 self._pos, n, ptr, err)
        check(got, err, self.uri)
        self._pos += got
        return out if got == n else out[:got]

    def _release_native(self) -> None:
        """Called by Client.close(): stop read-ahead before the engine goes."""
        self.close()

    def _forget_native(self) -> None:
        """After fork, in the child: in-flight read-ahead belongs to the parent."""
        for chunk in (self._current, self._ahead):
            if chunk is not None and chunk.future is not None:
                chunk.future = None
                chunk.filled = -1
        self._current = self._ahead = None

    def close(self) -> None:
        if not self.closed:
            for chunk in (self._current, self._ahead):
                if chunk is not None:
                    chunk.release()
            self._current = self._ahead = None
        super().close()

    def __repr__(self):
        return f"ObjectReader({self.uri!r}, size={self._size})"

    # -- read-ahead -------------------------------------------------------

    def _buffered(self, pos: int) -> bool:
        return any(c is not None and c.covers(pos) for c in (self._current, self._ahead))

    def _chunk_for(self, pos: int) -> _Chunk:
        if self._current is not None and self._current.covers(pos):
            chunk = self._current
        elif self._ahead is not None and self._ahead.covers(pos):
            if self._current is not None:
                self._current.release()
            chunk = self._current = self._ahead
            self._ahead = None
        else:
            for c in (self._current, self._ahead):
                if c is not None:
                    c.release()
            self._ahead = None
            length = min(self._chunk_size, self._size - pos)
            chunk = self._current = _Chunk(self, pos, length)
        nxt = chunk.offset + chunk.length
        if self._ahead is None and nxt < self._size:
            self._ahead = _Chunk(self, nxt, min(self._chunk_size, self._size - nxt))
        return chunk
