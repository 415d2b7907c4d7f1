"""ObjectReader: a seekable binary stream over one OSS object
(``Client.open``), a :class:`~ossconnector.readahead.RangeReader` with the
:class:`~ossconnector.readahead.Sequential` strategy.

Large reads (``readinto`` of a buffer at least ``direct_threshold`` bytes,
or ``read()`` of the rest) go straight into the destination with concurrent
ranged GETs.  Small reads are served from a read-ahead buffer: when reading
is sequential the next chunk is already being fetched in the background.

Every range fetched is checked: the engine computes the CRC-64 of its
bytes as they arrive, and once the ranges fetched cover the object their
combined CRC is compared with the object's (``verify="coverage"``); with
``verify="full"`` the whole object is fetched and checked before the
first byte is returned (the :class:`~ossconnector.readahead.WholeObject`
strategy).  See docs/engine.md, "What is verified, when".
"""

from __future__ import annotations

from typing import Optional

from .readahead import RangeReader, Sequential, WholeObject
from .readahead._sequential import DEFAULT_CHUNK

__all__ = ["ObjectReader", "VERIFY_MODES"]

#: ``coverage``: check when the ranges read cover the object (no extra
#: request or memory); ``full``: fetch and check the whole object before
#: returning any byte of it (one GET of the object, held in memory).
VERIFY_MODES = ("coverage", "full")


class ObjectReader(RangeReader):
    """Binary reader of ``oss://bucket/key`` (``size`` bytes).

    Methods: ``read``, ``readinto`` (zero-copy into any writable buffer,
    including a contiguous CPU torch tensor), ``readline`` and friends from
    :class:`io.RawIOBase`, ``seek``, ``tell``, ``close``; attributes
    ``key``, ``bucket``, ``uri``; ``size()`` returns the object size.
    """

    def __init__(self, client, bucket: str, key: str, size: int, *,
                 chunk_size: int = DEFAULT_CHUNK, direct_threshold: Optional[int] = None,
                 verify: str = "coverage"):
        if verify not in VERIFY_MODES:
            raise ValueError(f"open oss://{bucket}/{key}: verify must be one of {VERIFY_MODES}, "
                             f"not {verify!r}")
        strategy = WholeObject() if verify == "full" else Sequential(chunk_size, direct_threshold)
        super().__init__(client, bucket, key, size, strategy=strategy)

    def size(self) -> int:
        return self._size
