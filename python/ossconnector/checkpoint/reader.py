"""CheckpointReader: a seekable binary stream tuned for ``torch.load``.

``torch.load`` reads a checkpoint (a zip archive) as: a few bytes at the
start, the central directory at the end, then for every tensor a 30-byte
local header followed by one large ``readinto`` of the tensor's bytes, in
file order.  The reader serves that pattern with two paths:

* small reads come from a cache of aligned blocks (1 MiB, or the part size
  if smaller) fetched with ranged GETs; reading sequentially keeps the next
  blocks in flight;
* a large ``readinto`` copies whatever leading bytes are already cached,
  then fetches the rest straight into the destination (a tensor's storage)
  with concurrent ranged GETs, while the blocks from the end of the read on
  (the next tensor's header and first bytes) are fetched alongside, so the
  connections stay busy across tensor boundaries.  No byte is fetched twice
  along that path.

Memory is bounded by ``max_blocks`` blocks plus the caller's buffers.

Every block and slice fetched is recorded with its CRC-64 (an
:class:`~ossconnector._range_check.ObjectCheck`); once they cover the
object a mismatch with its ``x-oss-hash-crc64ecma`` raises
OssIntegrityError from that read and every later one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Optional

from .._native import ffi, writable_pointer
from .._range_check import ObjectCheck
from .._stream import ObjectStream
from . import _ranges

__all__ = ["CheckpointReader"]

_BLOCK = 1 << 20


class _Block:
    """Bytes ``[start, start + length)`` of the object, fetched or in flight."""

    __slots__ = ("start", "length", "buf", "fetch", "filled")

    def __init__(self, reader: "CheckpointReader", start: int, length: int):
        self.start = start
        self.length = length
        self.buf = bytearray(length)
        self.filled = -1
        self.fetch = reader._start(start, length, ffi.from_buffer(self.buf), length)

    def wait(self) -> None:
        if self.filled < 0:
            fetch, self.fetch = self.fetch, None
            self.filled = fetch.wait()

    def release(self) -> None:
        if self.fetch is not None:
            self.fetch.cancel()
            self.fetch = None


class CheckpointReader(ObjectStream):
    """Read-only, seekable stream over ``oss://bucket/key`` of ``size``
    bytes; returned by :meth:`OssCheckpoint.reader`.

    ``read``, ``readinto`` (into any writable buffer, including a
    contiguous CPU tensor), ``seek``, ``tell``, ``readline`` and the rest of
    :class:`io.RawIOBase`; attributes ``bucket``, ``key``, ``uri`` and
    ``size`` (an int, as on the product's stream objects).  The bytes read
    are checked against the object's CRC-64 once they cover it (see the
    module docstring); ``object_check`` shares that check with other
    readers of the same object (a DCP load's batches).
    """

    _kind = "reader"

    def __init__(self, client, bucket: str, key: str, size: int, *,
                 block_size: Optional[int] = None, max_blocks: int = 32, readahead: int = 4,
                 readahead_after_large: int = 8, object_check: Optional[ObjectCheck] = None):
        uri = f"oss://{bucket}/{key}"
        super().__init__(size, uri)
        self._object_check = object_check or ObjectCheck(uri, size)
        self._client = client
        self.bucket = bucket
        self.key = key
        self.uri = uri
        self._bucket_b = bucket.encode()
        self._key_b = key.encode("utf-8")
        self._block = block_size or min(_BLOCK, client.part_size)
        self._max_blocks = max(2, max_blocks)
        self._readahead = max(0, readahead)
        self._after_large = max(1, min(readahead_after_large, self._max_blocks // 2))
        self._blocks: "OrderedDict[int, _Block]" = OrderedDict()
        self._last_block = -2
        # Client.close() and fork call _release_native / _forget_native.
        client._streams.add(self)

    # -- io.RawIOBase -----------------------------------------------------

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return self._size

    def readinto(self, b) -> int:
        self._check_open()
        ptr, nbytes, keep = writable_pointer(b)
        try:
            return self._readinto(ffi.cast("char *", ptr), nbytes)
        finally:
            # Not kept alive by a traceback: a buffer exported to cffi must
            # never end up in a garbage cycle.
            del ptr, keep

    def _readinto(self, dst, nbytes: int) -> int:
        self._object_check.raise_if_corrupt()
        want = min(nbytes, self.size - self._pos)
        if want <= 0:
            return 0
        end = self._pos + want
        if self._pos == 0 and end == self.size and not self._blocks:
            # Whole object in one call: one request group, CRC-64 checked.
            self._start(0, want, dst, want).wait()
            self._pos = end
            return want
        done = self._copy_cached(dst, 0, end)
        bs = self._block
        direct_end = (end // bs) * bs
        direct = direct_end - self._pos >= 2 * bs
        if direct:
            fetch = self._start(self._pos, direct_end - self._pos, dst + done)
            try:
                # The tail of this read, the next header and what follows.
                first, last = direct_end // bs, (self.size - 1) // bs
                for index in range(first, min(last, first + self._after_large - 1) + 1):
                    self._get_block(index)
            except BaseException:
                fetch.cancel()
                raise
            done += fetch.wait()
            self._pos = direct_end
        while self._pos < end:
            done += self._copy_block(dst, done, end, self._get_block(self._pos // bs))
        if not direct:
            self._read_ahead((end - 1) // bs)
        return done

    def close(self) -> None:
        if not self.closed:
            for block in self._blocks.values():
                block.release()
            self._blocks.clear()
        super().close()

    def _release_native(self) -> None:
        """Called by Client.close(): stop every fetch before the engine goes."""
        self.close()

    def _forget_native(self) -> None:
        """After fork, in the child: fetches in flight belong to the parent."""
        for block in self._blocks.values():
            if block.fetch is not None:
                block.fetch.forget()
        self._blocks.clear()

    def __repr__(self):
        return f"CheckpointReader({self.uri!r}, size={self.size})"

    # -- blocks -----------------------------------------------------------

    def _start(self, offset: int, length: int, ptr, slice_bytes: int = 0):
        return _ranges.start(self._client, self._bucket_b, self._key_b, self.uri, offset,
                             length, ptr, slice_bytes=slice_bytes,
                             object_check=self._object_check)

    def _copy_block(self, dst, done: int, end: int, block: _Block) -> int:
        try:
            block.wait()
        except BaseException:
            # Fetched again if read again.
            if self._blocks.get(block.start // self._block) is block:
                del self._blocks[block.start // self._block]
            raise
        start = self._pos - block.start
        n = min(end - self._pos, block.filled - start)
        if n <= 0:
            raise EOFError(f"{self.uri}: object ended at {block.start + block.filled}, "
                           f"expected {self.size} bytes")
        ffi.memmove(dst + done, ffi.from_buffer(block.buf)[start:start + n], n)
        self._pos += n
        return n

    def _copy_cached(self, dst, done: int, end: int) -> int:
        """Copies from blocks already cached or in flight at the current
        position; returns bytes copied."""
        start = done
        while self._pos < end:
            block = self._blocks.get(self._pos // self._block)
            if block is None:
                break
            done += self._copy_block(dst, done, end, block)
        return done - start

    def _get_block(self, index: int) -> _Block:
        """The block ``index``, started if not cached (least recently used
        blocks beyond ``max_blocks`` are dropped)."""
        block = self._blocks.get(index)
        if block is None:
            start = index * self._block
            block = _Block(self, start, min(self._block, self.size - start))
            self._blocks[index] = block
        self._blocks.move_to_end(index)
        while len(self._blocks) > self._max_blocks:
            _, old = self._blocks.popitem(last=False)
            old.release()
        return block

    def _read_ahead(self, index: int) -> None:
        """After a small read ending in block ``index``: keep ``readahead``
        blocks in flight after it while reading is sequential, one after a
        jump (the next tensor header usually lies close behind)."""
        sequential = index in (self._last_block, self._last_block + 1)
        self._last_block = index
        last = (self.size - 1) // self._block
        for nxt in range(index + 1, min(last, index + (self._readahead if sequential else 1)) + 1):
            if nxt not in self._blocks:
                self._get_block(nxt)
