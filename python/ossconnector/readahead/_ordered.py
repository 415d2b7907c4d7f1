"""Ordered background prefetch of whole objects (the model connector's
:meth:`Connector.open`), and :class:`Prefetched`, the strategy that serves a
:class:`~ossconnector.readahead.RangeReader` from such a buffer.

Every object opened with ``prefetch=True`` gets an :class:`ObjectBuffer`
(memory for the whole object) and joins the pool's queue.  One scheduler
thread per connector keeps the engine's full concurrency busy with ranged
GETs of ``http.partSize`` chunks, written in place into the buffers, in the
order the objects were opened.  A reader that needs a chunk nobody fetches
yet fetches it itself and moves its object to the front of the queue.

Memory: a buffer's pages are only touched when its chunks arrive; it is
freed when its object is closed (or garbage-collected).  Prefetching pauses
while the buffers of open objects hold ``memory_limit`` bytes; reads are
still served (fetched on demand).

Integrity: every chunk is recorded with the CRC-64 the engine computed as
its bytes arrived (the :class:`~ossconnector.readahead.ObjectCheck` of the
reader the buffer serves; no extra request, no pass over the data).  When the chunks cover
the object their combined CRC is compared with its
``x-oss-hash-crc64ecma``; on a mismatch every read of the object from then
on raises OssIntegrityError (``mmap()`` waits for all chunks, so it never
returns the address of a corrupted object).
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from collections import OrderedDict
from typing import Optional

from .._native import ffi
from ..errors import OssError, OssIntegrityError
from ._crc import ObjectCheck
from ._get import ObjectName, RangeGet
from ._reader import RangeReader, Strategy

__all__ = ["ObjectBuffer", "Prefetched", "PrefetchPool"]

ABSENT, FETCHING, READY, FAILED = 0, 1, 2, 3

# Buffers are not cleared: every byte is written by a GET before it is read.
_alloc = ffi.new_allocator(should_clear_after_alloc=False)

_pools: "weakref.WeakSet[PrefetchPool]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        pool._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _finish(get: RangeGet) -> Optional[OssError]:
    """Waits for a chunk's GET (the GIL is released); None when all its
    bytes landed, else the error (the engine's, EIO for an object shorter
    than when it was opened, or the object's CRC-64 verdict)."""
    try:
        n = get.wait()
    except OssError as e:
        return e
    if n != get.length:
        return OssError(errno.EIO, f"{get.name.uri}: object is shorter than when it was opened "
                                   f"({n} of {get.length} bytes at offset {get.offset})")
    return None


class ObjectBuffer:
    """The bytes of one object, fetched chunk by chunk into memory."""

    def __init__(self, pool: "PrefetchPool", bucket: str, key: str, size: int,
                 check: Optional[ObjectCheck] = None):
        self.pool = pool
        self.check = check or ObjectCheck(f"oss://{bucket}/{key}", size)
        self.name = ObjectName(pool.client, bucket, key, version=self.check.version)
        self.uri = self.name.uri
        self.size = size
        self.chunk = pool.chunk_size
        self.nchunks = (size + self.chunk - 1) // self.chunk
        self.state = bytearray(self.nchunks)
        self.errors: dict = {}
        self.mem = _alloc("char[]", max(size, 1))
        self.cursor = 0   # chunks below it are not ABSENT (scheduler's scan)
        self.busy = 0     # fetches writing into mem right now
        self.held = 0     # bytes accounted against the pool's limit
        self.closed = False

    def span(self, c: int) -> tuple[int, int]:
        off = c * self.chunk
        return off, min(self.chunk, self.size - off)

    def address(self) -> int:
        return int(ffi.cast("uintptr_t", self.mem))

    def next_absent(self):
        while self.cursor < self.nchunks and self.state[self.cursor] != ABSENT:
            self.cursor += 1
        return self.cursor if self.cursor < self.nchunks else None


class PrefetchPool:
    """Schedules the chunks of open objects on one client's engine."""

    def __init__(self, client, memory_limit: int):
        self.client = client
        self.chunk_size = client.part_size
        self._slots = max(1, client.concurrency)
        self._limit = memory_limit
        self._cond = threading.Condition()
        self._queue: list[ObjectBuffer] = []
        self._running: "OrderedDict[tuple, object]" = OrderedDict()
        self._bytes = 0
        self._thread = None
        self._closed = False
        self._buffers: "weakref.WeakSet[ObjectBuffer]" = weakref.WeakSet()
        _pools.add(self)

    # -- buffers ----------------------------------------------------------

    def open(self, bucket: str, key: str, size: int, *, queue: bool = True,
             check: Optional[ObjectCheck] = None) -> ObjectBuffer:
        """A buffer for the object; queued for prefetching (after every
        object opened before it) unless queue is False.  Its chunks are
        recorded in ``check`` (by default its own)."""
        buf = ObjectBuffer(self, bucket, key, size, check)
        with self._cond:
            if self._closed:
                raise ValueError("the connector is closed")
            self._buffers.add(buf)
            if queue and buf.nchunks:
                self._queue.append(buf)
                self._start_thread()
                self._cond.notify_all()
        return buf

    def release(self, buf: ObjectBuffer) -> None:
        """Forgets buf; its memory is freed once no fetch writes into it."""
        with self._cond:
            buf.closed = True
            if buf in self._queue:
                self._queue.remove(buf)
            self._free_if_idle(buf)
            self._cond.notify_all()

    def promote(self, buf: ObjectBuffer) -> None:
        """Moves buf to the front of the queue (its chunks come next)."""
        with self._cond:
            self._promote(buf)

    def wait_chunk(self, buf: ObjectBuffer, c: int) -> None:
        """Returns once chunk c of buf is in memory; raises the OSS error
        when it cannot be fetched."""
        with self._cond:
            while True:
                if buf.closed:
                    raise ValueError(f"I/O operation on closed object {buf.uri}")
                st = buf.state[c]
                if st == READY:
                    return
                if st == FAILED:
                    # Another chance on the next read (transient errors were
                    # already retried by the engine).
                    buf.state[c] = ABSENT
                    buf.cursor = min(buf.cursor, c)
                    raise buf.errors.pop(c)
                if st == ABSENT:
                    off, ln = buf.span(c)
                    buf.state[c] = FETCHING
                    buf.busy += 1
                    self._account(buf, ln)
                    self._promote(buf)
                    break
                self._cond.wait()
        try:
            exc = _finish(RangeGet(buf.name, off, ln, buf.mem + off, buf.check))
        except OssError as e:  # could not start
            exc = e
        with self._cond:
            exc = self._settle(buf, c, exc)
            buf.busy -= 1
            self._free_if_idle(buf)
            self._cond.notify_all()
        if exc is not None:
            # A failed fetch is tried again on the next read; a CRC mismatch
            # is the object's verdict and stays (the chunk's bytes are there).
            if not isinstance(exc, OssIntegrityError):
                with self._cond:
                    buf.state[c] = ABSENT
                    buf.errors.pop(c, None)
                    buf.cursor = min(buf.cursor, c)
            raise exc

    def close(self) -> None:
        """Stops prefetching and frees every buffer (after the transfers in
        flight end)."""
        with self._cond:
            self._closed = True
            for buf in self._queue:
                buf.closed = True
            self._queue.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- scheduling (under self._cond) ------------------------------------

    def _promote(self, buf: ObjectBuffer) -> None:
        if buf.closed or buf.next_absent() is None:
            return
        if buf in self._queue:
            self._queue.remove(buf)
        self._queue.insert(0, buf)
        self._start_thread()
        self._cond.notify_all()

    def _account(self, buf: ObjectBuffer, n: int) -> None:
        buf.held += n
        self._bytes += n

    def _free_if_idle(self, buf: ObjectBuffer) -> None:
        if buf.closed and buf.busy == 0 and buf.mem is not None:
            buf.mem = None  # the only reference: freed here
            self._bytes -= buf.held
            buf.held = 0

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="ossc-prefetch", daemon=True)
            self._thread.start()

    def _fill(self) -> None:
        while len(self._running) < self._slots and self._queue and self._bytes < self._limit:
            buf = self._queue[0]
            c = buf.next_absent()
            if c is None:
                self._queue.pop(0)
                continue
            off, ln = buf.span(c)
            buf.state[c] = FETCHING
            buf.busy += 1
            self._account(buf, ln)
            try:
                self._running[(buf, c)] = RangeGet(buf.name, off, ln, buf.mem + off, buf.check)
            except OssError as e:  # could not start
                self._settle(buf, c, e)
                buf.busy -= 1

    def _settle(self, buf: ObjectBuffer, c: int, exc: Optional[BaseException]):
        """Publishes the result of fetching chunk c (``exc``: None, or why it
        failed); returns ``exc``.  A chunk that completes the object's
        coverage with a CRC mismatch is READY (its bytes are there) and the
        exception is the object's OssIntegrityError, which every read raises
        from then on."""
        if exc is None or isinstance(exc, OssIntegrityError):
            buf.state[c] = READY
        else:
            buf.state[c] = FAILED
            buf.errors[c] = exc
        return exc

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if not self._closed:
                        self._fill()
                    if self._running:
                        break
                    if self._closed:
                        return
                    self._cond.wait()
                (buf, c), get = next(iter(self._running.items()))
            exc = _finish(get)
            with self._cond:
                del self._running[(buf, c)]
                self._settle(buf, c, exc)
                buf.busy -= 1
                self._free_if_idle(buf)
                self._cond.notify_all()

    def _forget_after_fork(self) -> None:
        # The parent's transfers and thread do not exist here: chunks they
        # were fetching are fetched again when needed.
        self._cond = threading.Condition()
        self._thread = None
        self._running = OrderedDict()
        for buf in list(self._buffers):
            for c in range(buf.nchunks):
                if buf.state[c] == FETCHING:
                    buf.state[c] = ABSENT
            buf.busy = 0
            buf.cursor = 0


class Prefetched(Strategy):
    """Serves reads from ``buf`` of ``pool``: a read waits only for the
    chunks it covers (fetching one nobody fetches yet itself, and moving
    its object to the front of the queue), then copies from memory;
    ``close`` releases the buffer."""

    def __init__(self, pool: PrefetchPool, buf: ObjectBuffer):
        self.pool = pool
        self.buf = buf

    def readinto(self, reader: RangeReader, dst, want: int) -> int:
        self.wait(reader._pos, want)
        ffi.memmove(dst, self.buf.mem + reader._pos, want)
        reader._pos += want
        return want

    def read(self, reader: RangeReader, n: int) -> Optional[bytes]:
        self.wait(reader._pos, n)
        data = ffi.buffer(self.buf.mem + reader._pos, n)[:]
        reader._pos += n
        return data

    def wait(self, pos: int, n: int) -> None:
        """Returns once bytes [pos, pos + n) are in memory; raises
        OssIntegrityError once the object's chunks failed their CRC check."""
        buf = self.buf
        if n <= 0:
            return
        for c in range(pos // buf.chunk, (pos + n - 1) // buf.chunk + 1):
            if buf.state[c] != READY:
                self.pool.wait_chunk(buf, c)
        buf.check.raise_if_corrupt()

    def close(self) -> None:
        self.pool.release(self.buf)
