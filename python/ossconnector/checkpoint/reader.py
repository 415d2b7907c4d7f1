"""CheckpointReader: a seekable binary stream tuned for ``torch.load``, a
:class:`~ossconnector.readahead.RangeReader` with the
:class:`~ossconnector.readahead.BlockCache` strategy (its docstring
describes the access pattern and how it is served).

Blocks are 1 MiB, or the part size if smaller.  Every block and slice
fetched is recorded with its CRC-64 in the reader's
:class:`~ossconnector.readahead.ObjectCheck`; once they cover the object a
mismatch with its ``x-oss-hash-crc64ecma`` raises OssIntegrityError from
that read and every later one.
"""

from __future__ import annotations

from typing import Optional

from ..readahead import BlockCache, ObjectCheck, RangeReader

__all__ = ["CheckpointReader"]

_BLOCK = 1 << 20


class CheckpointReader(RangeReader):
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

    def __init__(self, client, bucket: str, key: str, size: int, *,
                 block_size: Optional[int] = None, max_blocks: int = 32, readahead: int = 4,
                 readahead_after_large: int = 8, object_check: Optional[ObjectCheck] = None):
        strategy = BlockCache(block_size or min(_BLOCK, client.part_size), max_blocks=max_blocks,
                              readahead=readahead, readahead_after_large=readahead_after_large)
        super().__init__(client, bucket, key, size, strategy=strategy, object_check=object_check)

    @property
    def size(self) -> int:
        return self._size
