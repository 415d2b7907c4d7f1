"""ObjectReader: a seekable binary stream over one OSS object.

Large reads (``readinto`` of a buffer at least ``direct_threshold`` bytes,
or ``read()`` of the rest) go straight into the destination with concurrent
ranged GETs.  Small reads are served from a read-ahead buffer: when reading
is sequential the next chunk is already being fetched in the background.

Every range fetched is checked: the engine computes the CRC-64 of its
bytes as they arrive, and once the ranges fetched cover the object their
combined CRC is compared with the object's (``verify="coverage"``); with
``verify="full"`` the whole object is fetched and checked before the
first byte is returned.  See docs/engine.md, "What is verified, when".
"""

from __future__ import annotations

import errno
from typing import Optional

from ._coverage import CrcCoverage
from ._native import check, check_ptr, ffi, lib, new_error, writable_pointer
from ._stream import ObjectStream
from .errors import OssIntegrityError

__all__ = ["ObjectReader", "VERIFY_MODES"]

_DEFAULT_CHUNK = 4 << 20

#: ``coverage``: check when the ranges read cover the object (no extra
#: request or memory); ``full``: fetch and check the whole object before
#: returning any byte of it (one GET of the object, held in memory).
VERIFY_MODES = ("coverage", "full")


class _Fetched:
    """What one finished GET of ``offset``.. returned: ``n`` bytes, their
    CRC, and what its replies said of the object (CRC, size), or None."""

    __slots__ = ("offset", "n", "crc", "object_crc", "object_size")

    def __init__(self, future, offset: int, n: int):
        self.offset = offset
        self.n = n
        crc = ffi.new("uint64_t *")
        ocrc = ffi.new("uint64_t *")
        size = ffi.new("uint64_t *")
        has_crc = lib.ossc_future_crc64(future, crc, ocrc)
        self.crc = crc[0] if has_crc >= 0 else None
        self.object_crc = ocrc[0] if has_crc == 1 else None
        self.object_size = size[0] if lib.ossc_future_object_size(future, size) == 1 else None


def _fetch_into(reader: "ObjectReader", offset: int, n: int, ptr) -> _Fetched:
    """One concurrent ranged GET of n bytes at offset into ptr, waited for."""
    err = new_error()
    future = check_ptr(lib.ossc_get_async(reader._client._get_native(), reader._bucket_b,
                                          reader._key_b, offset, n, ptr, err), err, reader.uri)
    try:
        got = check(lib.ossc_future_wait(future, err), err, reader.uri)
        return _Fetched(future, offset, got)
    finally:
        lib.ossc_future_free(future)


class _Chunk:
    """A region [offset, offset + length) fetched asynchronously."""

    __slots__ = ("offset", "length", "buf", "future", "filled", "reader")

    def __init__(self, reader: "ObjectReader", offset: int, length: int):
        self.offset = offset
        self.length = length
        self.buf = bytearray(length)
        self.filled = -1
        self.reader = reader
        err = new_error()
        self.future = check_ptr(
            lib.ossc_get_async(reader._client._get_native(), reader._bucket_b, reader._key_b,
                               offset, length, ffi.from_buffer(self.buf), err), err,
            reader.uri)

    def wait(self, uri: str) -> int:
        if self.filled < 0:
            err = new_error()
            n = lib.ossc_future_wait(self.future, err)
            fetched = _Fetched(self.future, self.offset, n) if n >= 0 else None
            lib.ossc_future_free(self.future)
            self.future = None
            check(n, err, uri)
            self.filled = n
            self.reader._checked(fetched, ffi.from_buffer(self.buf))
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
                 chunk_size: int = _DEFAULT_CHUNK, direct_threshold: Optional[int] = None,
                 verify: str = "coverage"):
        uri = f"oss://{bucket}/{key}"
        if verify not in VERIFY_MODES:
            raise ValueError(f"open {uri}: verify must be one of {VERIFY_MODES}, not {verify!r}")
        super().__init__(size, uri)
        self._verify = verify
        self._coverage = CrcCoverage(size)
        self._object_crc: Optional[int] = None    # x-oss-hash-crc64ecma, once a reply named it
        self._verified_crc: Optional[int] = None  # the object's CRC, once checked
        self._corrupt: Optional[OssIntegrityError] = None
        self._whole: Optional[bytearray] = None  # verify="full": the checked object
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
        if self._corrupt is not None:
            raise self._corrupt
        ptr, nbytes, keep = writable_pointer(b)
        want = min(nbytes, self._size - self._pos)
        if want <= 0:
            return 0
        try:
            if self._verify == "full":
                return self._copy_from_whole(ptr, want)
            if want >= self._direct and not self._buffered(self._pos):
                fetched = _fetch_into(self, self._pos, want, ptr)
                self._checked(fetched, ffi.cast("char *", ptr))
                self._pos += fetched.n
                return fetched.n
            return self._copy_from_chunks(ptr, want)
        finally:
            # Drop the buffer references before raising: a traceback must not
            # keep a cffi view of the caller's buffer alive in a GC cycle.
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
        if self._corrupt is not None:
            raise self._corrupt
        n = self._read_length(size)
        if n == 0 or n < self._direct or self._verify == "full":
            return super().read(n)
        # Large reads land straight in a fresh bytes object: bytes(n) is
        # calloc'ed (pages untouched), and nobody else can see it before it
        # is filled and returned, so writing into it once is safe and saves
        # a copy of the whole object.
        out = bytes(n)
        ptr = ffi.cast("char *", ffi.from_buffer(out))
        fetched = _fetch_into(self, self._pos, n, ptr)
        self._checked(fetched, ptr)
        got = fetched.n
        self._pos += got
        return out if got == n else out[:got]

    # -- verification -----------------------------------------------------

    def _checked(self, fetched: Optional[_Fetched], data) -> None:
        """Records a finished fetch (its bytes at ``data``, a ``char *``)
        and, once the fetches cover the object, compares their CRC with the
        object's.  Raises OssIntegrityError (EIO, naming the object) on a
        mismatch, and for every read after one, so that the bytes of that
        read are never returned as good."""
        if self._corrupt is not None:
            raise self._corrupt
        if fetched is None or fetched.crc is None:
            return
        if fetched.object_size is not None and fetched.object_size != self._size:
            return  # the size we were given is not the object's: no whole to check
        if fetched.object_crc is not None:
            self._object_crc = fetched.object_crc
        if self._coverage.complete():
            return
        self._coverage.add(fetched.offset, fetched.n, fetched.crc, data)
        got = self._coverage.crc()
        want = self._object_crc
        if got is None or want is None:
            return
        if got != want:
            self._corrupt = OssIntegrityError(
                errno.EIO, f"{self.uri}: CRC-64 of the bytes read ({got}) does not match the "
                f"object's x-oss-hash-crc64ecma ({want}): data corrupted in transit")
            raise self._corrupt
        self._verified_crc = got

    def _copy_from_whole(self, ptr, want: int) -> int:
        """verify="full": serves from the whole object, fetched and checked
        once (the engine checks a whole read from byte 0 against the
        server's CRC; checked here again, and refused without one)."""
        if self._corrupt is not None:
            raise self._corrupt
        if self._whole is None:
            whole = bytearray(self._size)
            fetched = _fetch_into(self, 0, self._size, ffi.from_buffer(whole))
            if fetched.object_crc is None:
                raise OssIntegrityError(
                    errno.EIO, f"{self.uri}: verify='full' needs the object's CRC-64, and the "
                    "server sent no x-oss-hash-crc64ecma")
            if fetched.n != self._size or fetched.object_size not in (None, self._size):
                raise OssIntegrityError(
                    errno.EIO, f"{self.uri}: the object has {fetched.object_size} bytes, "
                    f"not {self._size} as opened")
            self._checked(fetched, ffi.from_buffer(whole))
            if self._verified_crc is None:
                raise OssIntegrityError(errno.EIO, f"{self.uri}: could not verify the object")
            self._whole = whole
        n = min(want, self._size - self._pos)
        ffi.memmove(ptr, ffi.from_buffer(self._whole)[self._pos:self._pos + n], n)
        self._pos += n
        return n

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
