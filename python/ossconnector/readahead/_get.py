"""Ranged GETs of one object straight into caller memory: the only place
the read paths start, wait for and cancel engine requests.

:class:`RangeGet` is one asynchronous GET of ``[offset, offset + length)``
into a ``char *`` (the engine writes the bytes there; the GIL is released
while waiting).  :class:`SlicedGet` splits a range into slices handed to
the engine at once (it runs at most ``Client.concurrency`` of them), so a
read of a few MiB is fetched over several connections (:func:`slice_size`).

Every GET of one :class:`ObjectName` is of one version of the object
(:class:`~ossconnector.readahead._version.ObjectVersion`: the first to
finish pins its ETag, later ones send If-Match; a replaced object fails
the read with ESTALE).

With an :class:`~ossconnector.readahead._crc.ObjectCheck`, every GET that
lands is recorded with the CRC-64 the engine computed as its bytes arrived
(no extra request, no pass over the data), so the object is checked once
the ranges read cover it.
"""

from __future__ import annotations

import errno
from typing import List, Optional

from .._native import check, check_ptr, ffi, lib, new_error
from ..errors import OssError
from ._crc import Fetched, ObjectCheck
from ._version import ObjectVersion

__all__ = ["ObjectName", "RangeGet", "SlicedGet", "slice_size"]

MIN_SLICE = 1 << 20
SLICES_PER_READ = 8


class ObjectName:
    """Where GETs go: ``oss://bucket/key`` on ``client``, with the encoded
    names the engine takes (``key_errors``: how the key is encoded), and
    the :class:`ObjectVersion` its GETs are pinned to (a new one unless
    given)."""

    __slots__ = ("client", "bucket", "key", "uri", "bucket_b", "key_b", "version")

    def __init__(self, client, bucket: str, key: str, key_errors: str = "strict",
                 version: Optional[ObjectVersion] = None):
        self.client = client
        self.bucket = bucket
        self.key = key
        self.uri = f"oss://{bucket}/{key}"
        self.bucket_b = bucket.encode()
        self.key_b = key.encode("utf-8", key_errors)
        self.version = version if version is not None else ObjectVersion(self.uri)


class RangeGet:
    """One GET of ``length`` bytes at ``offset`` of ``name`` into ``dst`` (a
    cdata ``char *``), started at construction; raises the engine's error
    (naming the object) when it cannot start.  ``dst`` (and whatever keeps
    it alive) must stay valid until :meth:`wait`, :meth:`cancel` or
    :meth:`forget` returns.  ``fetched`` is what the finished GET said of
    its bytes (CRC, object CRC and size), once waited for."""

    __slots__ = ("name", "offset", "length", "dst", "check", "fetched", "_future")

    def __init__(self, name: ObjectName, offset: int, length: int, dst,
                 check: Optional[ObjectCheck] = None):
        self.name = name
        self.offset = offset
        self.length = length
        self.dst = dst = ffi.cast("char *", dst)
        self.check = check
        self.fetched: Optional[Fetched] = None
        err = new_error()
        etag = name.version.etag
        pin = etag.encode("latin-1") if etag else ffi.NULL  # the bytes the server sent
        self._future = check_ptr(lib.ossc_get_async_version(name.client._get_native(),
                                                            name.bucket_b, name.key_b, pin,
                                                            offset, length, dst, err),
                                 err, name.uri)

    def done(self) -> bool:
        return self._future is None or bool(lib.ossc_future_done(self._future))

    def wait(self) -> int:
        """Bytes read (fewer than asked at the object's end); raises the
        engine's error, OssError(ESTALE) when the bytes are of another
        version than the name's other GETs, or OssIntegrityError when these
        bytes complete the coverage of the object and its CRC-64 does not
        match."""
        future, self._future = self._future, None
        err = new_error()
        n = lib.ossc_future_wait(future, err)  # the GIL is released here
        version = ""
        try:
            if n >= 0:
                self.fetched = Fetched(future, self.offset, n)
                version = ffi.string(lib.ossc_future_etag(future)).decode("latin-1")
        finally:
            lib.ossc_future_free(future)
        check(n, err, self.name.uri)
        self.name.version.settle(version)
        if self.check is not None:
            self.check.record(self.fetched, self.dst)
        return n

    def cancel(self) -> None:
        """Stops the GET and waits until the engine has let go of ``dst``."""
        future, self._future = self._future, None
        if future is not None:
            lib.ossc_future_free(future)

    def forget(self) -> None:
        """After fork, in the child: the request belongs to the parent's
        engine; drop it without touching it."""
        self._future = None


def slice_size(client, length: int) -> int:
    """Bytes per ranged GET for a read of ``length`` bytes: the part size
    (``http.partSize``), or smaller so that a read is split into at least
    ``SLICES_PER_READ`` concurrent requests, but never below 1 MiB.  Fewer,
    larger requests measured faster than many 1 MiB ones; several per read
    keep a single tensor's read from depending on one connection."""
    part = client.part_size
    per = -(-length // SLICES_PER_READ)
    return max(min(MIN_SLICE, part), min(part, per))


class SlicedGet:
    """``[offset, offset + length)`` of ``name`` into ``dst``, in slices of
    ``slice_bytes`` (0: :func:`slice_size`) all started at construction; a
    slice equal to ``length`` makes one engine request group (a
    whole-object read from offset 0 is then checked by the engine as well).
    Same lifetime rule for ``dst`` as :class:`RangeGet`."""

    __slots__ = ("name", "offset", "length", "_gets")

    def __init__(self, name: ObjectName, offset: int, length: int, dst, *,
                 slice_bytes: int = 0, check: Optional[ObjectCheck] = None):
        self.name = name
        self.offset = offset
        self.length = length
        self._gets: List[RangeGet] = []
        dst = ffi.cast("char *", dst)
        step = slice_bytes or slice_size(name.client, max(length, 1))
        pos = 0
        try:
            while pos < length:
                n = min(step, length - pos)
                self._gets.append(RangeGet(name, offset + pos, n, dst + pos, check))
                pos += n
        except BaseException:
            self.cancel()
            raise

    def wait(self) -> int:
        """Bytes read; raises the first failure (the other slices are
        cancelled) or EIO when the object ended early, i.e. it changed size
        since it was opened; OssIntegrityError when a slice completes the
        coverage of the object and the CRC-64 does not match."""
        total = 0
        try:
            while self._gets:
                get = self._gets.pop(0)
                n = get.wait()
                total += n
                if n < get.length:
                    break
        finally:
            self.cancel()
        if total != self.length:
            raise OssError(errno.EIO, f"{self.name.uri}: got {total} bytes at offset "
                                      f"{self.offset}, expected {self.length}: the object "
                                      "changed while being read")
        return total

    def done(self) -> bool:
        return all(get.done() for get in self._gets)

    def forget(self) -> None:
        """After fork, in the child (see :meth:`RangeGet.forget`)."""
        self._gets = []

    def cancel(self) -> None:
        """Stops what is still running and waits until the engine has let
        go of the destination memory."""
        gets, self._gets = self._gets, []
        for get in gets:
            get.cancel()
