"""Fetching dataset items into memory with many requests in flight.

:class:`Fetch` is one asynchronous ranged GET into an uninitialised buffer
(the engine writes into it directly; the GIL is released while waiting).
:func:`prefetch` walks a sequence of work units, keeps up to ``window``
fetches (and at most ``budget`` bytes) in flight, and yields results in
order, so the caller's transform runs while the next objects arrive.

Sizes may be unknown (URI lists, manifests): such an object is read into a
``guess``-byte buffer; a short read gives its size at once, a full one is
followed by a HEAD and a GET of the rest.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import Callable, Iterable, Iterator, Optional

from .._native import check, ffi, lib, new_error

__all__ = ["Fetch", "prefetch", "DEFAULT_GUESS", "DEFAULT_BUDGET"]

log = logging.getLogger(__name__)

DEFAULT_GUESS = 1 << 20        # first read of an object of unknown size
DEFAULT_BUDGET = 64 << 20      # bytes in flight per worker; larger objects stream

# Buffers the engine fills completely: no need to zero them first.
_alloc = ffi.new_allocator(should_clear_after_alloc=False)


def is_missing(exc: BaseException) -> bool:
    """True for 'no such object' (the product hands ``None`` to transform)."""
    return isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT


class Fetch:
    """GET of ``[offset, offset + length)`` of ``oss://bucket/key`` started
    at construction.  ``length`` None means "the whole object, size
    unknown".  :meth:`result` waits and returns a memoryview of the bytes;
    it raises the engine's exception (naming the object) on failure.
    :meth:`cancel` abandons it."""

    __slots__ = ("client", "bucket", "key", "offset", "length", "known", "nbytes", "_buf",
                 "_future", "_bucket_b", "_key_b", "_view")

    def __init__(self, client, bucket: str, key: str, offset: int = 0,
                 length: Optional[int] = None, guess: int = DEFAULT_GUESS):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.offset = offset
        self.known = length is not None and length >= 0
        self.length = length if self.known else guess
        self.nbytes = self.length
        self._bucket_b = bucket.encode()
        self._key_b = key.encode("utf-8", "surrogateescape")
        self._view = None
        self._future = None
        self._buf = _alloc("char[]", max(1, self.length))
        if self.length == 0:
            self._view = memoryview(b"")
            return
        err = new_error()
        fut = lib.ossc_get_async(client._get_native(), self._bucket_b, self._key_b, offset,
                                 self.length, self._buf, err)
        if fut == ffi.NULL:
            check(-1, err, self.uri)
        self._future = fut

    @property
    def uri(self) -> str:
        return f"oss://{self.bucket}/{self.key}"

    def done(self) -> bool:
        return self._future is None or bool(lib.ossc_future_done(self._future))

    def result(self) -> memoryview:
        if self._view is not None:
            return self._view
        err = new_error()
        n = lib.ossc_future_wait(self._future, err)
        lib.ossc_future_free(self._future)
        self._future = None
        if n < 0:
            self._buf = None
            check(n, err, self.uri)
        view = memoryview(ffi.buffer(self._buf, self.length))
        if not self.known and n == self.length:
            view = self._read_rest(view)
        elif not self.known:
            # Keep only what arrived: a copy of n bytes frees the guess buffer.
            view = memoryview(view[:n].tobytes())
            self._buf = None
        else:
            view = view[:n]
        self._view = view
        self.nbytes = view.nbytes
        return view

    def _read_rest(self, head: memoryview) -> memoryview:
        """The guess buffer came back full: learn the size, fetch the rest."""
        size = self.client.stat(self.uri).size
        if size <= self.length:
            return head[:size]
        buf = _alloc("char[]", size - self.offset)
        whole = memoryview(ffi.buffer(buf, size - self.offset))
        whole[:self.length] = head
        err = new_error()
        n = lib.ossc_get_range(self.client._get_native(), self._bucket_b, self._key_b,
                               self.offset + self.length, size - self.offset - self.length,
                               ffi.from_buffer(whole[self.length:]), err)
        check(n, err, self.uri)
        self._buf = buf
        return whole[:self.length + n]

    def cancel(self) -> None:
        """Abandons a fetch whose result was not taken (no-op after result)."""
        if self._future is not None:
            lib.ossc_future_free(self._future)  # cancels and waits for the parts
            self._future = None
        if self._view is None:
            self._buf = None

    def __del__(self):
        try:
            self.cancel()
        except Exception:
            pass


def prefetch(units: Iterable, start: Callable, finish: Callable, *, window: int,
             budget: int = DEFAULT_BUDGET, cost: Callable = None) -> Iterator:
    """Yields ``finish(unit, started)`` for every unit, in order, while up
    to ``window`` units (and ``budget`` bytes as estimated by ``cost``) are
    started ahead by ``start(unit)``.  Closing the generator early cancels
    what is still in flight."""
    pending: deque = deque()
    in_flight = 0
    it = iter(units)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < window and (not pending or in_flight < budget):
                try:
                    unit = next(it)
                except StopIteration:
                    exhausted = True
                    break
                nbytes = cost(unit) if cost is not None else 0
                pending.append((unit, start(unit), nbytes))
                in_flight += nbytes
            if not pending:
                return
            unit, started, nbytes = pending.popleft()
            in_flight -= nbytes
            yield finish(unit, started)
    finally:
        for _, started, _ in pending:
            cancel = getattr(started, "cancel", None)
            if cancel is not None:
                cancel()
