"""RangeReader: the one seekable stream over an object read in ranges.

Every reader of this package is a :class:`RangeReader`; how its reads are
fetched is the *strategy* given to its constructor (as s3torchconnector's
``S3ReaderConstructor`` picks a sequential or a range-based reader):

* :class:`~ossconnector.readahead.Sequential`: a read-ahead chunk in
  flight behind the one being read; large reads go straight into the
  caller's buffer (``Client.open``, streamed dataset items);
* :class:`~ossconnector.readahead.WholeObject`: the whole object fetched and
  checked before the first byte is returned (``verify="full"``);
* :class:`~ossconnector.readahead.BlockCache`: aligned blocks and direct
  slices for ``torch.load``'s pattern (``CheckpointReader``);
* :class:`~ossconnector.readahead.Prefetched`: served from a buffer that
  an ordered background prefetch fills (the model connector).

The reader owns what every strategy shares: the object's name, position,
size, the CRC-64 check of the ranges fetched (one
:class:`~ossconnector.readahead._crc.ObjectCheck`), the close and fork
hooks the client calls, and the rule that a buffer exported to cffi is not
kept alive by a traceback.
"""

from __future__ import annotations

from typing import Optional

from .._native import ffi, writable_pointer
from .._stream import ObjectStream
from ._crc import ObjectCheck
from ._get import ObjectName, RangeGet, SlicedGet

__all__ = ["RangeReader", "Strategy"]


class Strategy:
    """How a :class:`RangeReader` fetches what it reads.  ``readinto``
    copies ``want`` (> 0, within the object) bytes at ``reader._pos`` to
    ``dst`` (a ``char *``), advances ``reader._pos`` and returns the count;
    ``read`` may return the bytes of a large read without a copy (None:
    the reader reads into a fresh buffer); ``close`` stops what is in
    flight; ``forget`` drops it after fork without touching the engine."""

    def readinto(self, reader: "RangeReader", dst, want: int) -> int:
        raise NotImplementedError

    def read(self, reader: "RangeReader", n: int) -> Optional[bytes]:
        return None

    def close(self) -> None:
        pass

    def forget(self) -> None:
        pass


class RangeReader(ObjectStream):
    """Read-only, seekable stream over ``oss://bucket/key`` (``size``
    bytes) of ``client``, read with ``strategy``.  ``object_check`` shares
    one CRC-64 check between readers of the same object (a DCP load's
    batches); by default the reader has its own."""

    _kind = "reader"

    def __init__(self, client, bucket: str, key: str, size: int, *, strategy: Strategy,
                 object_check: Optional[ObjectCheck] = None):
        uri = f"oss://{bucket}/{key}"
        self._object_check = object_check or ObjectCheck(uri, size)
        name = ObjectName(client, bucket, key, version=self._object_check.version)
        super().__init__(size, name.uri)
        self._client = client
        self._target = name
        self.bucket = bucket
        self.key = key
        self.uri = name.uri
        self._strategy = strategy
        # Client.close() and fork call _release_native / _forget_native.
        client._streams.add(self)

    # -- GETs recorded in this reader's check ------------------------------

    def get(self, offset: int, length: int, dst) -> RangeGet:
        """One GET into ``dst``, started (see :class:`RangeGet`)."""
        return RangeGet(self._target, offset, length, dst, self._object_check)

    def sliced(self, offset: int, length: int, dst, slice_bytes: int = 0) -> SlicedGet:
        """Concurrent slices into ``dst``, started (see :class:`SlicedGet`)."""
        return SlicedGet(self._target, offset, length, dst, slice_bytes=slice_bytes,
                         check=self._object_check)

    # -- io.RawIOBase ------------------------------------------------------

    def __len__(self) -> int:
        return self._size

    def readinto(self, b) -> int:
        self._check_open()
        self._object_check.raise_if_corrupt()
        ptr, nbytes, keep = writable_pointer(b)
        try:
            want = min(nbytes, self._size - self._pos)
            if want <= 0:
                return 0
            return self._strategy.readinto(self, ffi.cast("char *", ptr), want)
        finally:
            # Drop the buffer references before raising: a traceback must not
            # keep a cffi view of the caller's buffer alive in a GC cycle.
            del ptr, keep

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        self._object_check.raise_if_corrupt()
        n = self._read_length(size)
        data = self._strategy.read(self, n) if n else None
        return super().read(n) if data is None else data

    def close(self) -> None:
        if not self.closed:
            self._strategy.close()
        super().close()

    def _release_native(self) -> None:
        """Called by Client.close(): stop every fetch before the engine goes."""
        self.close()

    def _forget_native(self) -> None:
        """After fork, in the child: fetches in flight belong to the parent."""
        self._strategy.forget()

    def __repr__(self):
        return f"{type(self).__name__}({self.uri!r}, size={self._size})"
