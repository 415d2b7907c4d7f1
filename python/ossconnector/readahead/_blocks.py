"""BlockCache: the strategy tuned for ``torch.load`` (``CheckpointReader``).

``torch.load`` reads a checkpoint (a zip archive) as: a few bytes at the
start, the central directory at the end, then for every tensor a 30-byte
local header followed by one large ``readinto`` of the tensor's bytes, in
file order.  Two paths serve that pattern:

* small reads come from a cache of aligned blocks fetched with ranged GETs;
  reading sequentially keeps the next ``readahead`` blocks in flight;
* a large ``readinto`` copies whatever leading bytes are already cached,
  then fetches the rest straight into the destination (a tensor's storage)
  with concurrent ranged GETs, while the blocks from the end of the read on
  (the next tensor's header and first bytes) are fetched alongside, so the
  connections stay busy across tensor boundaries.  No byte is fetched twice
  along that path.

A read of the whole object from offset 0 before anything is cached is one
request group (checked by the engine as well).  Memory: ``max_blocks``
blocks plus the caller's buffers.  Blocks dropped unread are not recorded in
the object's check (they served no byte).
"""

from __future__ import annotations

from collections import OrderedDict

from .._native import ffi
from ._reader import RangeReader, Strategy
from ._region import Region

__all__ = ["BlockCache"]


class BlockCache(Strategy):
    """Blocks of ``block_size`` bytes, at most ``max_blocks`` (at least 2)
    cached; ``readahead`` blocks in flight after a small sequential read,
    ``readahead_after_large`` after a large one (at most half the cache)."""

    def __init__(self, block_size: int, *, max_blocks: int = 32, readahead: int = 4,
                 readahead_after_large: int = 8):
        self._block = block_size
        self._max_blocks = max(2, max_blocks)
        self._readahead = max(0, readahead)
        self._after_large = max(1, min(readahead_after_large, self._max_blocks // 2))
        self._blocks: "OrderedDict[int, Region]" = OrderedDict()
        self._last_block = -2

    def readinto(self, reader: RangeReader, dst, want: int) -> int:
        size = reader._size
        end = reader._pos + want
        if reader._pos == 0 and end == size and not self._blocks:
            reader.sliced(0, want, dst, want).wait()
            reader._pos = end
            return want
        done = self._copy_cached(reader, dst, 0, end)
        bs = self._block
        direct_end = (end // bs) * bs
        direct = direct_end - reader._pos >= 2 * bs
        if direct:
            fetch = reader.sliced(reader._pos, direct_end - reader._pos, dst + done)
            try:
                # The tail of this read, the next header and what follows.
                first, last = direct_end // bs, (size - 1) // bs
                for index in range(first, min(last, first + self._after_large - 1) + 1):
                    self._get_block(reader, index)
            except BaseException:
                fetch.cancel()
                raise
            done += fetch.wait()
            reader._pos = direct_end
        while reader._pos < end:
            done += self._copy_block(reader, dst, done, end,
                                     self._get_block(reader, reader._pos // bs))
        if not direct:
            self._read_ahead(reader, (end - 1) // bs)
        return done

    def close(self) -> None:
        for block in self._blocks.values():
            block.release()
        self._blocks.clear()

    def forget(self) -> None:
        for block in self._blocks.values():
            block.forget()
        self._blocks.clear()

    def _copy_block(self, reader: RangeReader, dst, done: int, end: int, block: Region) -> int:
        try:
            block.wait()
        except BaseException:
            # Fetched again if read again.
            if self._blocks.get(block.start // self._block) is block:
                del self._blocks[block.start // self._block]
            raise
        start = reader._pos - block.start
        n = min(end - reader._pos, block.filled - start)
        if n <= 0:
            raise EOFError(f"{reader.uri}: object ended at {block.start + block.filled}, "
                           f"expected {reader._size} bytes")
        ffi.memmove(dst + done, ffi.from_buffer(block.buf)[start:start + n], n)
        reader._pos += n
        return n

    def _copy_cached(self, reader: RangeReader, dst, done: int, end: int) -> int:
        """Copies from blocks already cached or in flight at the current
        position; returns bytes copied."""
        start = done
        while reader._pos < end:
            block = self._blocks.get(reader._pos // self._block)
            if block is None:
                break
            done += self._copy_block(reader, dst, done, end, block)
        return done - start

    def _get_block(self, reader: RangeReader, index: int) -> Region:
        """The block ``index``, started if not cached (least recently used
        blocks beyond ``max_blocks`` are dropped)."""
        block = self._blocks.get(index)
        if block is None:
            start = index * self._block
            block = Region(reader, start, min(self._block, reader._size - start), exact=True)
            self._blocks[index] = block
        self._blocks.move_to_end(index)
        while len(self._blocks) > self._max_blocks:
            _, old = self._blocks.popitem(last=False)
            old.release()
        return block

    def _read_ahead(self, reader: RangeReader, index: int) -> None:
        """After a small read ending in block ``index``: keep ``readahead``
        blocks in flight after it while reading is sequential, one after a
        jump (the next tensor header usually lies close behind)."""
        sequential = index in (self._last_block, self._last_block + 1)
        self._last_block = index
        last = (reader._size - 1) // self._block
        for nxt in range(index + 1, min(last, index + (self._readahead if sequential else 1)) + 1):
            if nxt not in self._blocks:
                self._get_block(reader, nxt)
