"""Concurrent ranged GETs of one object straight into caller memory.

:func:`start` splits a range into slices and hands every slice to the
engine at once (the engine runs at most ``Client.concurrency`` of them);
:meth:`Fetch.wait` blocks, with the GIL released, until all have landed.
Slices are ``http.partSize`` long, or shorter so that even a range of a
few MiB is fetched over several connections (see :func:`slice_size`).

With an :class:`~ossconnector._range_check.ObjectCheck`, every slice that
lands is recorded with its CRC-64 (computed by the engine as the bytes
arrive), so the object is checked once the slices read cover it.
"""

from __future__ import annotations

import errno
from typing import List, Optional

from .._native import check, check_ptr, ffi, lib, new_error
from .._range_check import ObjectCheck
from ..errors import OssError

__all__ = ["Fetch", "slice_size", "start"]

MIN_SLICE = 1 << 20
SLICES_PER_READ = 8


def slice_size(client, length: int) -> int:
    """Bytes per ranged GET for a read of ``length`` bytes: the part size
    (``http.partSize``), or smaller so that a read is split into at least
    ``SLICES_PER_READ`` concurrent requests, but never below 1 MiB.  Fewer,
    larger requests measured faster than many 1 MiB ones; several per read
    keep a single tensor's read from depending on one connection."""
    part = client.part_size
    per = -(-length // SLICES_PER_READ)
    return max(min(MIN_SLICE, part), min(part, per))


class Fetch:
    """Slices of ``[offset, offset + length)`` in flight into ``ptr``.

    ``ptr`` (and whatever keeps it alive) must stay valid until
    :meth:`wait` or :meth:`cancel` returns.  ``object_check``, when given,
    records every slice that lands (see the module docstring).
    """

    __slots__ = ("uri", "offset", "length", "object_check", "_futures", "_lengths", "_dsts")

    def __init__(self, uri: str, offset: int, length: int,
                 object_check: Optional[ObjectCheck] = None):
        self.uri = uri
        self.offset = offset
        self.length = length
        self.object_check = object_check
        self._futures: List = []
        self._lengths: List[int] = []
        self._dsts: List = []  # (offset in the object, char * where its bytes land)

    def wait(self) -> int:
        """Bytes read; raises the first failure (the other slices are
        cancelled) or EIO when the object ended early, i.e. it changed size
        since it was opened; OssIntegrityError when a slice completes the
        coverage of the object and the CRC-64 does not match."""
        total = 0
        try:
            while self._futures:
                future = self._futures[0]
                err = new_error()
                n = lib.ossc_future_wait(future, err)
                try:
                    if n >= 0 and self.object_check is not None:
                        at, dst = self._dsts[0]
                        self.object_check.record_future(future, at, n, dst)
                finally:
                    lib.ossc_future_free(future)
                    self._futures.pop(0)
                    self._dsts.pop(0)
                want = self._lengths.pop(0)
                check(n, err, self.uri)
                total += n
                if n < want:
                    break
        finally:
            self.cancel()
        if total != self.length:
            raise OssError(errno.EIO, f"{self.uri}: got {total} bytes at offset {self.offset}, "
                                      f"expected {self.length}: the object changed while being read")
        return total

    def done(self) -> bool:
        return all(lib.ossc_future_done(f) for f in self._futures)

    def forget(self) -> None:
        """After fork, in the child: the requests belong to the parent's
        engine; drop them without touching it."""
        self._futures = []
        self._lengths = []
        self._dsts = []

    def cancel(self) -> None:
        """Stops what is still running and waits until the engine has let
        go of the destination memory."""
        futures, self._futures = self._futures, []
        self._lengths = []
        self._dsts = []
        for future in futures:
            lib.ossc_future_free(future)


def start(client, bucket_b: bytes, key_b: bytes, uri: str, offset: int, length: int, ptr,
          *, slice_bytes: int = 0, object_check: Optional[ObjectCheck] = None) -> Fetch:
    """Starts reading ``length`` bytes at ``offset`` into ``ptr`` (a cdata
    ``char *``).  ``slice_bytes`` 0 picks :func:`slice_size`; a slice equal
    to ``length`` makes one engine request group (a whole-object read from
    offset 0 is then checked by the engine as well).  ``object_check``
    records the slices as they land."""
    fetch = Fetch(uri, offset, length, object_check)
    if length <= 0:
        return fetch
    step = slice_bytes or slice_size(client, length)
    native = client._get_native()
    dst = ffi.cast("char *", ptr)
    pos = 0
    try:
        while pos < length:
            n = min(step, length - pos)
            err = new_error()
            future = check_ptr(lib.ossc_get_async(native, bucket_b, key_b, offset + pos, n,
                                                  dst + pos, err), err, uri)
            fetch._futures.append(future)
            fetch._lengths.append(n)
            fetch._dsts.append((offset + pos, dst + pos))
            pos += n
    except BaseException:
        fetch.cancel()
        raise
    return fetch
