"""Response bodies that stream without holding whole objects in memory.

Contract:
- :class:`FileRange` owns a private (dup'ed) file descriptor and yields the
  byte range ``[offset, offset+length)`` in chunks using ``os.pread`` (no
  shared file position, no lock needed).  A server may instead send it with
  ``sendfile`` using ``fd``/``offset``/``length``.  ``close()`` releases the
  descriptor and is idempotent.  If the file is shorter than announced the
  iteration simply stops early (the server then sees a short body).
- :class:`ObservedBody` wraps a body (bytes, FileRange or iterable) and reports every
  chunk size handed to the network to ``on_bytes``.  It exposes
  ``file_range`` (or None) and ``note_sent(n)`` for sendfile-capable servers.
- :class:`ConnectionAbort`, raised from a body iterator, asks the server to
  drop the connection (RST or FIN) after what was already sent.
"""

import os

CHUNK_SIZE = 1 << 20


class FileRange:
    def __init__(self, fd, offset, length, chunk_size=CHUNK_SIZE):
        self.fd = fd
        self.offset = offset
        self.length = length
        self.chunk_size = chunk_size
        self._closed = False

    def __len__(self):
        return self.length

    def __iter__(self):
        pos = self.offset
        end = self.offset + self.length
        while pos < end:
            data = os.pread(self.fd, min(self.chunk_size, end - pos), pos)
            if not data:
                return
            pos += len(data)
            yield data

    def close(self):
        if not self._closed:
            self._closed = True
            os.close(self.fd)


def iter_bytes(data, chunk_size=CHUNK_SIZE):
    """Yield ``data`` in pieces of at most ``chunk_size`` bytes."""
    if len(data) <= chunk_size:
        if data:
            yield bytes(data)
        return
    view = memoryview(data)
    for pos in range(0, len(view), chunk_size):
        yield view[pos:pos + chunk_size].tobytes()


class ConnectionAbort(Exception):
    """Raised by a body iterator to make the server drop the connection.

    ``reset=True`` aborts with a TCP RST (SO_LINGER 0); otherwise the server
    closes normally (FIN) after the bytes already sent.
    """

    def __init__(self, reset):
        super().__init__("reset" if reset else "close")
        self.reset = reset


def iter_body(body):
    """Iterate any body form: bytes, FileRange or an iterable of bytes."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return iter_bytes(body)
    return iter(body)


class ObservedBody:
    def __init__(self, body, on_bytes=None, closer=None):
        self.body = body
        self.on_bytes = on_bytes
        self.closer = closer

    @property
    def file_range(self):
        return self.body if isinstance(self.body, FileRange) else None

    def note_sent(self, n):
        if self.on_bytes and n:
            self.on_bytes(n)

    def __iter__(self):
        for chunk in iter_body(self.body):
            self.note_sent(len(chunk))
            yield chunk

    def close(self):
        for obj in (self.body, self.closer):
            close = getattr(obj, "close", None)
            if close is not None:
                close()
