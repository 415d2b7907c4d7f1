"""ObjectWriter: a write-only binary stream that becomes one OSS object.

Bytes are handed to the engine, which uploads parts concurrently while the
caller keeps writing (bounded memory).  The object appears only when the
writer is closed without error; leaving a ``with`` block by an exception,
or calling :meth:`abort`, discards the upload and leaves any previous
object with that key untouched.
"""

from __future__ import annotations

import io

from ._native import check, check_ptr, ffi, lib, new_error, readable_pointer

__all__ = ["ObjectWriter"]


class ObjectWriter(io.RawIOBase):
    """Writer of ``oss://bucket/key``; see the module docstring."""

    def __init__(self, client, bucket: str, key: str, *, progress=None):
        super().__init__()
        self._progress = progress  # a ProgressSink (Client.create) or None
        self._client = client
        self.bucket = bucket
        self.key = key
        self.uri = f"oss://{bucket}/{key}"
        self._written = 0
        err = new_error()
        self._native = check_ptr(
            lib.ossc_writer_open(client._get_native(), bucket.encode(), key.encode("utf-8"), err),
            err, self.uri)
        client._streams.add(self)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._written

    def write(self, data) -> int:
        if self._native is None:
            raise ValueError(f"write to closed writer {self.uri}")
        ptr, n, keep = readable_pointer(data)
        if n == 0:
            return 0
        err = new_error()
        rc = lib.ossc_writer_write(self._native, ptr, n, err)
        del ptr, keep  # no cffi view of the caller's buffer in a traceback
        if rc < 0:
            self.abort()
            check(rc, err, self.uri)
        self._written += n
        if self._progress is not None:
            self._progress.advance(n)
        return n

    def flush(self) -> None:
        # Parts leave as soon as they are full; nothing to force here.
        pass

    def close(self) -> None:
        """Commits the object (raises if the upload failed)."""
        if self._native is not None:
            native, self._native = self._native, None
            err = new_error()
            rc = lib.ossc_writer_close(native, err)
            super().close()
            check(rc, err, self.uri)
        super().close()

    def abort(self) -> None:
        """Discards everything written; the object is not created."""
        if self._native is not None:
            native, self._native = self._native, None
            lib.ossc_writer_abort(native)
        super().close()

    def _release_native(self) -> None:
        """Called by Client.close(): the engine is going away, abort."""
        self.abort()

    def _forget_native(self) -> None:
        """After fork, in the child: the handle belongs to the parent's engine."""
        self._native = None

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self):
        # Never commit a half-written object from a garbage collector.
        try:
            self.abort()
        except Exception:
            pass

    def __repr__(self):
        return f"ObjectWriter({self.uri!r}, written={self._written})"
