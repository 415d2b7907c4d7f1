"""One read-ahead abstraction for every path that reads objects in ranges.

:class:`RangeReader` is the stream; its constructor takes the strategy that
fetches what it reads (see :mod:`._reader` for the list and when each is
used).  :class:`ObjectCheck` is the one CRC-64 check of an object read in
ranges; :class:`RangeGet` and :class:`SlicedGet` are the ranged GETs every
strategy (and the DCP batches, the model connector's prefetch pool and the
datasets' fetches) starts, waits for and cancels.

Module map: ``_crc`` (coverage and verdict), ``_get`` (GETs),
``_reader`` (the stream and the strategy interface), ``_region`` (a
buffered range, what strategies cache), ``_sequential``,
``_whole``, ``_blocks``, ``_ordered`` (the strategies; ``_ordered`` also
holds the model connector's ordered background prefetch pool).
"""

from ._blocks import BlockCache
from ._crc import CrcCoverage, Fetched, ObjectCheck
from ._get import ObjectName, RangeGet, SlicedGet, slice_size
from ._ordered import ObjectBuffer, Prefetched, PrefetchPool
from ._reader import RangeReader, Strategy
from ._sequential import Sequential
from ._whole import WholeObject

__all__ = ["BlockCache", "CrcCoverage", "Fetched", "ObjectBuffer", "ObjectCheck", "ObjectName",
           "Prefetched", "PrefetchPool", "RangeGet", "RangeReader", "Sequential", "SlicedGet",
           "Strategy", "WholeObject", "slice_size"]
