"""Fetching dataset items into memory with many requests in flight.

:class:`Fetch` is one asynchronous ranged GET into an uninitialised buffer
(the engine writes into it directly; the GIL is released while waiting).
:func:`prefetch` walks a sequence of work units, keeps up to ``window``
fetches (and at most ``budget`` bytes) in flight, and yields results in
order, so the caller's transform runs while the next objects arrive.

Sizes may be unknown (URI lists, manifests): such an object is read into a
``guess``-byte buffer (the power of two above the largest object seen so
far); a short read gives its size at once, a full one is followed by a GET
of the rest, its size from the first GET's reply and of that reply's
version (If-Match: a replacement in between fails the item with ESTALE).
Only a server that names no size in the reply costs a HEAD.

Integrity: a read of a whole object from offset 0 in one GET (known size,
or a short guess read) is checked by the engine against the object's
CRC-64.  An object read in two GETs (a full guess buffer, then the rest)
is checked here: both GETs' CRCs (computed by the engine as the bytes
arrive) are joined and compared with the object's, and a mismatch raises
OssIntegrityError naming the object instead of returning its bytes.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import Callable, Iterable, Iterator, Optional

from .._native import ffi
from ..readahead import ObjectCheck, ObjectName, RangeGet

__all__ = ["Fetch", "prefetch", "next_guess", "DEFAULT_GUESS", "DEFAULT_BUDGET"]

log = logging.getLogger(__name__)

DEFAULT_GUESS = 1 << 20        # first read of an object of unknown size
MIN_GUESS, MAX_GUESS = 64 << 10, 8 << 20
DEFAULT_BUDGET = 64 << 20      # bytes in flight per worker; larger objects stream


def next_guess(largest_seen: int) -> int:
    """Buffer for the next object of unknown size: the power of two above
    the largest size seen so far (so a short read proves the size), within
    [64 KiB, 8 MiB]."""
    guess = MIN_GUESS
    while guess <= largest_seen and guess < MAX_GUESS:
        guess <<= 1
    return guess


def is_missing(exc: BaseException) -> bool:
    """True for 'no such object' (the product hands ``None`` to transform)."""
    return isinstance(exc, FileNotFoundError) or getattr(exc, "errno", None) == errno.ENOENT


def _fresh_bytes(n: int):
    """(bytes object of n bytes, pointer to its storage).  ``bytes(n)`` is
    calloc'ed and nobody else can see it until it is filled and handed out,
    so the engine writes into it once and the bytes need no further copy."""
    out = bytes(n)
    return out, ffi.cast("char *", ffi.from_buffer(out))


class Fetch:
    """GET of ``[offset, offset + length)`` of ``oss://bucket/key`` started
    at construction.  ``length`` None means "the whole object, size
    unknown" (read into a ``guess``-byte buffer first).  :meth:`result`
    waits and returns the bytes; it raises the engine's exception (naming
    the object) on failure.  :meth:`cancel` abandons it."""

    __slots__ = ("client", "bucket", "key", "offset", "length", "known", "nbytes", "_out",
                 "_name", "_get", "_data", "_check")

    def __init__(self, client, bucket: str, key: str, offset: int = 0,
                 length: Optional[int] = None, guess: int = DEFAULT_GUESS):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.offset = offset
        self.known = length is not None and length >= 0
        self.length = length if self.known else guess
        self.nbytes = self.length
        self._name = ObjectName(client, bucket, key, "surrogateescape")
        self._data = None
        self._get = None
        # Unknown size: a full guess buffer is followed by a GET of the rest,
        # and the two are checked together (the object's size comes with
        # the first reply).  A short one is a whole read, checked by the engine.
        self._check = None if self.known else ObjectCheck(self.uri)
        if self.length == 0:
            self._data, self._out = b"", None
            return
        self._out, ptr = _fresh_bytes(self.length)
        self._get = RangeGet(self._name, offset, self.length, ptr, self._check)

    @property
    def uri(self) -> str:
        return f"oss://{self.bucket}/{self.key}"

    def done(self) -> bool:
        return self._get is None or self._get.done()

    def result(self) -> bytes:
        if self._data is not None:
            return self._data
        get, self._get = self._get, None
        out, self._out = self._out, None
        n = get.wait()
        if not self.known and n == self.length:
            data = self._read_rest(out, get.fetched.object_size)
        else:
            data = out if n == self.length else out[:n]
        self._data = data
        self.nbytes = len(data)
        return data

    def _read_rest(self, head: bytes, object_size: Optional[int]) -> bytes:
        """The guess buffer came back full: the size is the one the head's
        own reply named (the version the head is of: a HEAD now could see a
        replacement and cut the head to its size), else a HEAD's; then the
        rest, pinned to the head's version."""
        if object_size is None:
            object_size = self.client.stat(self.uri).size
        size = object_size - self.offset
        if size <= self.length:
            return head[:size]
        out, ptr = _fresh_bytes(size)
        ffi.memmove(ptr, head, self.length)
        # Head and rest together: checked when they cover the object.
        n = RangeGet(self._name, self.offset + self.length, size - self.length,
                     ptr + self.length, self._check).wait()
        return out if self.length + n == size else out[:self.length + n]

    def cancel(self) -> None:
        """Abandons a fetch whose result was not taken (no-op after result)."""
        get, self._get = self._get, None
        if get is not None:
            get.cancel()  # cancels and waits for the parts
        self._out = None

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
