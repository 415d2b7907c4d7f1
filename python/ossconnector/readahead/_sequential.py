"""Sequential: read-ahead for a stream read front to back, direct reads
for large or random ones (``Client.open``, streamed dataset items).

Small reads are served from a read-ahead window while the next chunk is
already being fetched.  The window starts at ``START_CHUNK`` (4 MiB) and
doubles each time the reader moves on into the chunk fetched ahead, up to
``chunk_size`` (``DEFAULT_CHUNK``, 32 MiB): a long sequential stream keeps
enough bytes in flight to fill a link with latency (a 32 MiB chunk is four
concurrent ``http.partSize`` GETs), while a reader that only reads a header
or seeks about fetches no more than before.  A jump outside the window
starts again at 4 MiB.  A read of at least ``direct_threshold`` bytes (a
quarter of the starting window, 1 MiB, by default) that the buffers do not
cover goes straight into the destination with one GET (the engine splits it
into concurrent parts).  Memory: two chunks, at most 2 x ``chunk_size``.
"""

from __future__ import annotations

from typing import Optional

from .._native import ffi
from ._reader import RangeReader, Strategy
from ._region import Region

__all__ = ["Sequential", "DEFAULT_CHUNK", "START_CHUNK"]

DEFAULT_CHUNK = 32 << 20   # the window's largest size
START_CHUNK = 4 << 20      # ... and its first
MIN_CHUNK = 64 << 10


class Sequential(Strategy):
    """Read-ahead growing from 4 MiB to ``chunk_size`` bytes (at least
    64 KiB) while the stream is read in order; reads of ``direct_threshold``
    bytes and more go straight to the destination."""

    def __init__(self, chunk_size: int = DEFAULT_CHUNK, direct_threshold: Optional[int] = None):
        self.chunk_size = max(MIN_CHUNK, chunk_size)
        self.start = min(START_CHUNK, self.chunk_size)
        self.window = self.start
        self.direct = direct_threshold if direct_threshold is not None else self.start // 4
        self._current: Optional[Region] = None
        self._ahead: Optional[Region] = None

    def readinto(self, reader: RangeReader, dst, want: int) -> int:
        if want >= self.direct and not self._buffered(reader._pos):
            n = reader.get(reader._pos, want, dst).wait()
            reader._pos += n
            return n
        done = 0
        while done < want:
            chunk = self._chunk_for(reader, reader._pos)
            filled = chunk.wait()
            start = reader._pos - chunk.start
            n = min(want - done, filled - start)
            if n <= 0:
                break
            ffi.memmove(dst + done, ffi.from_buffer(chunk.buf)[start:start + n], n)
            done += n
            reader._pos += n
        return done

    def read(self, reader: RangeReader, n: int) -> Optional[bytes]:
        if n < self.direct:
            return None
        # Large reads land straight in a fresh bytes object: bytes(n) is
        # calloc'ed (pages untouched), and nobody else can see it before it
        # is filled and returned, so writing into it once is safe and saves
        # a copy of the whole object.
        out = bytes(n)
        got = reader.get(reader._pos, n, ffi.cast("char *", ffi.from_buffer(out))).wait()
        reader._pos += got
        return out if got == n else out[:got]

    def close(self) -> None:
        for chunk in (self._current, self._ahead):
            if chunk is not None:
                chunk.release()
        self._current = self._ahead = None

    def forget(self) -> None:
        for chunk in (self._current, self._ahead):
            if chunk is not None:
                chunk.forget()
        self._current = self._ahead = None

    def _buffered(self, pos: int) -> bool:
        return any(c is not None and c.covers(pos) for c in (self._current, self._ahead))

    def _chunk_for(self, reader: RangeReader, pos: int) -> Region:
        size = reader._size
        if self._current is not None and self._current.covers(pos):
            chunk = self._current
        elif self._ahead is not None and self._ahead.covers(pos):
            if self._current is not None:
                self._current.release()
            chunk = self._current = self._ahead
            self._ahead = None
            self.window = min(self.chunk_size, self.window * 2)   # in order: grow
        else:
            self.close()
            self.window = self.start
            chunk = self._current = Region(reader, pos, min(self.window, size - pos), exact=False)
        nxt = chunk.start + chunk.length
        if self._ahead is None and nxt < size:
            self._ahead = Region(reader, nxt, min(self.window, size - nxt), exact=False)
        return chunk
