"""DatasetItem: what a dataset yields (and what ``transform`` receives),
documented (and exported by ``ossconnector.datasets`` and
``osstorchconnector``) under the product's name ``DataObject``; the class
is named apart from the model connector's :class:`DataObject`.

Every item has ``key``, ``size`` and ``label`` and is a seekable binary
stream (``read``, ``readinto``, ``seek``, ``tell``, ``readline``, ``close``,
context manager), like the product's items.  Two kinds exist:

- :class:`MemoryObject`: the bytes were prefetched; every read is served
  from memory.  It pickles with its bytes, so it can travel from a
  DataLoader worker to the main process.
- :class:`StreamObject`: an object too large to prefetch whole; it reads
  through an :class:`~ossconnector.reader.ObjectReader` opened on first use
  (read-ahead, concurrent ranged GETs).  It pickles as a reference and
  re-opens on the other side.
"""

from __future__ import annotations

from typing import Optional

from .._stream import ObjectStream

__all__ = ["DataObject", "DatasetItem", "MemoryObject", "StreamObject"]


class DatasetItem(ObjectStream):
    """One item of a dataset.

    Attributes:
        key: ``oss://bucket/key`` for objects (prefix, URI list, manifest),
            the member name for members of a tar or zip archive.
        size: size in bytes.
        label: the manifest label ('' when there is none).
        archive: ``oss://`` URI of the archive a member came from, else None.
    """

    _kind = "item"

    def __init__(self, key: str, size: int, label: str = "", archive: Optional[str] = None):
        super().__init__(size, key)
        self.key = key
        self.label = label
        self.archive = archive

    @property
    def size(self) -> int:
        return self._size

    def copy(self) -> "DatasetItem":
        """An independent item over the same bytes, positioned at 0."""
        raise NotImplementedError

    def __repr__(self):
        label = f", label={self.label!r}" if self.label else ""
        return f"{type(self).__name__}({self.key!r}, size={self.size}{label})"


#: The product's documented name for a dataset item.
DataObject = DatasetItem


class MemoryObject(DatasetItem):
    """An item whose bytes are in memory (any buffer: bytes, bytearray, a
    cffi buffer, a slice of a larger coalesced read)."""

    def __init__(self, key: str, data, label: str = "", archive: Optional[str] = None):
        view = memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        super().__init__(key, view.nbytes, label, archive)
        self._view = view
        self._bytes = data if type(data) is bytes else None  # read() of all: no copy

    def read(self, size: int = -1) -> bytes:
        self._check_open()
        start = min(self._pos, self.size)
        end = self.size if size is None or size < 0 else min(self.size, start + size)
        self._pos = end
        if start == 0 and end == self.size and self._bytes is not None:
            return self._bytes
        return self._view[start:end].tobytes()

    def readinto(self, b) -> int:
        self._check_open()
        dst = memoryview(b).cast("B")
        start = min(self._pos, self.size)
        n = min(dst.nbytes, self.size - start)
        dst[:n] = self._view[start:start + n]
        self._pos = start + n
        return n

    def getbuffer(self) -> memoryview:
        """The item's bytes without a copy (read-only view)."""
        self._check_open()
        return self._view.toreadonly()

    def close(self) -> None:
        if not self.closed:
            self._view = memoryview(b"")
            self._bytes = None
        super().close()

    def copy(self) -> "MemoryObject":
        self._check_open()
        return MemoryObject(self.key, self._view, self.label, self.archive)

    def __reduce__(self):
        data = b"" if self.closed else (self._bytes or self._view.tobytes())
        return _rebuild_memory, (self.key, data, self.label, self.archive, self.closed)


def _rebuild_memory(key, data, label, archive, closed):
    item = MemoryObject(key, data, label, archive)
    if closed:
        item.close()
    return item


class StreamObject(DatasetItem):
    """An item read lazily from OSS through ``client`` (``size`` known)."""

    def __init__(self, client, bucket: str, key_in_bucket: str, size: int, label: str = "",
                 *, key: Optional[str] = None, offset: int = 0,
                 archive: Optional[str] = None):
        super().__init__(key or f"oss://{bucket}/{key_in_bucket}", size, label, archive)
        self._client = client
        self._bucket = bucket
        self._object_key = key_in_bucket
        self._offset = offset  # where the item starts inside the object (archives)
        self._reader = None

    def _open(self):
        if self._reader is None:
            from ..reader import ObjectReader

            self._reader = ObjectReader(self._client, self._bucket, self._object_key,
                                        self._offset + self.size)
        return self._reader

    def readinto(self, b) -> int:
        self._check_open()
        view = memoryview(b).cast("B")
        n = max(0, min(view.nbytes, self.size - self._pos))
        if n == 0:
            return 0
        reader = self._open()
        reader.seek(self._offset + self._pos)
        got = reader.readinto(view[:n])
        self._pos += got
        return got

    def close(self) -> None:
        if not self.closed and self._reader is not None:
            self._reader.close()
            self._reader = None
        super().close()

    def copy(self) -> "StreamObject":
        return StreamObject(self._client, self._bucket, self._object_key, self.size, self.label,
                            key=self.key, offset=self._offset, archive=self.archive)

    def __reduce__(self):
        return _rebuild_stream, (self._client, self._bucket, self._object_key, self.size,
                                 self.label, self.key, self._offset, self.archive, self._pos)


def _rebuild_stream(client, bucket, object_key, size, label, key, offset, archive, pos):
    item = StreamObject(client, bucket, object_key, size, label, key=key, offset=offset,
                        archive=archive)
    item._pos = pos
    return item
