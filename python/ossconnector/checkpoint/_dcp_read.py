"""Serving a DCP load plan with concurrent, coalesced ranged GETs.

torch's ``FileSystemReader`` reads the items of a load plan one after
another.  Here the items of each data object are sorted by offset and:

* small items lying close together are merged into batches (at most
  ``BATCH_BYTES`` each, gaps up to ``MAX_GAP`` fetched and dropped); many
  batches are in flight at once, up to ``WINDOW_BYTES``, each fetched with
  concurrent ranged GETs, and items are deserialised as batches land;
* large items (``LARGE_BYTES`` and up) are streamed: ``torch.load`` reads
  the tensor's bytes straight into its storage with concurrent ranged GETs
  (no intermediate buffer), while the following batches keep downloading.

Memory: ``WINDOW_BYTES`` of batches plus the tensor being loaded.

Batches and large items of one object share one
:class:`~ossconnector.readahead.ObjectCheck`: when the ranges read
cover the object (a full load of a checkpoint written by torch does), the
read that completes the coverage raises OssIntegrityError on a CRC-64
mismatch before its items are loaded.
"""

from __future__ import annotations

import io
from collections import deque
from contextlib import ExitStack
from typing import Deque, Dict, List

import torch
from torch.distributed._shard._utils import narrow_tensor_by_index
from torch.distributed.checkpoint.planner import LoadItemType, LoadPlan, LoadPlanner, ReadItem

from .._native import ffi
from .._stream import ObjectStream
from ..client import parse_uri
from ..readahead import ObjectCheck, ObjectName, SlicedGet
from .reader import CheckpointReader

__all__ = ["read_plan"]

LARGE_BYTES = 16 << 20
BATCH_BYTES = 16 << 20
MAX_GAP = 256 << 10
WINDOW_BYTES = 256 << 20


class _Batch:
    """Contiguous bytes ``[start, end)`` of one object covering ``items``."""

    __slots__ = ("uri", "start", "end", "items", "buf", "fetch")

    def __init__(self, uri: str, start: int, end: int, items: list):
        self.uri = uri
        self.start = start
        self.end = end
        self.items = items
        self.buf = None
        self.fetch = None

    def begin(self, client, object_check: ObjectCheck) -> None:
        bucket, key = parse_uri(self.uri)
        self.buf = bytearray(self.end - self.start)
        name = ObjectName(client, bucket, key, version=object_check.version)
        self.fetch = SlicedGet(name, self.start, len(self.buf),
                               ffi.from_buffer(self.buf), check=object_check)

    def cancel(self) -> None:
        if self.fetch is not None:
            self.fetch.cancel()
        self.buf = None


class _Large:
    """One item read through a stream over its object."""

    __slots__ = ("uri", "item")

    def __init__(self, uri: str, item):
        self.uri = uri
        self.item = item


class _View(ObjectStream):
    """Read-only, seekable stream over a memoryview of bytes (no copy) that
    came from the object ``uri`` (named in errors)."""

    def __init__(self, mv: memoryview, uri: str):
        super().__init__(len(mv), uri)
        self._mv = mv

    def readinto(self, b) -> int:
        chunk = self._mv[self._pos:self._pos + len(memoryview(b).cast("B"))]
        memoryview(b).cast("B")[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


def _units(reader, plan: LoadPlan) -> list:
    """Batches and large items in the order they are read: objects in the
    order the plan first names them, items by offset within each."""
    per_file: Dict[str, List[ReadItem]] = {}
    for item in plan.items:
        per_file.setdefault(reader.storage_data[item.storage_index].relative_path, []).append(item)
    units: list = []
    for relative_path, items in per_file.items():
        uri = reader.fs.concat_path(reader.path, relative_path)
        items.sort(key=lambda it: reader.storage_data[it.storage_index].offset)
        batch: List[ReadItem] = []
        start = end = 0
        for item in items:
            info = reader.storage_data[item.storage_index]
            if info.length >= LARGE_BYTES:
                units.append(_Large(uri, item))
                continue
            lo, hi = info.offset, info.offset + info.length
            if batch and (lo - end > MAX_GAP or max(hi, end) - start > BATCH_BYTES):
                units.append(_Batch(uri, start, end, batch))
                batch = []
            if not batch:
                start, end = lo, hi
            batch.append(item)
            end = max(end, hi)
        if batch:
            units.append(_Batch(uri, start, end, batch))
    return units


def _load_item(reader, planner: LoadPlanner, req: ReadItem, stream) -> None:
    """Deserialises one item from ``stream`` (positioned on its bytes) into
    the planner, as torch's FileSystemReader does."""
    info = reader.storage_data[req.storage_index]
    stream = reader.transforms.transform_load_stream(req, info.transform_descriptors or (), stream)
    if req.type == LoadItemType.BYTE_IO:
        planner.load_bytes(req, io.BytesIO(stream.read(-1)))
        return
    if not stream.seekable():
        stream = io.BytesIO(stream.read(-1))
    tensor = torch.load(stream, map_location="cpu", weights_only=True)
    tensor = narrow_tensor_by_index(tensor, req.storage_offsets, req.lengths)
    target = planner.resolve_tensor(req).detach()
    if target.size() != tensor.size():
        raise ValueError(f"{reader.path}: item {req.storage_index} has size {tuple(tensor.size())}"
                         f" in the checkpoint, {tuple(target.size())} in the state dict")
    target.copy_(tensor)
    planner.commit_tensor(req, target)


def read_plan(reader, plan: LoadPlan, planner: LoadPlanner) -> None:
    """Loads every item of ``plan`` (see the module docstring)."""
    client = reader.fs.client
    units = _units(reader, plan)
    batches = [u for u in units if isinstance(u, _Batch)]
    pending: Deque[_Batch] = deque()
    in_flight = 0
    next_batch = 0
    streams = ExitStack()
    opened: Dict[str, io.RawIOBase] = {}
    checks: Dict[str, ObjectCheck] = {}

    def object_check(uri: str) -> ObjectCheck:
        """The one check of ``uri`` (its size comes with the first reply)."""
        if uri not in checks:
            checks[uri] = ObjectCheck(uri)
        return checks[uri]

    try:
        for unit in units:
            # Keep the window full of batches, in reading order.
            while next_batch < len(batches) and (not pending or in_flight < WINDOW_BYTES):
                batch = batches[next_batch]
                batch.begin(client, object_check(batch.uri))
                pending.append(batch)
                in_flight += batch.end - batch.start
                next_batch += 1
            if isinstance(unit, _Large):
                if unit.uri not in opened:
                    # What follows a large item is usually fetched by a batch:
                    # read ahead only the block holding its end.
                    bucket, key = parse_uri(unit.uri)
                    size = client.stat(unit.uri).size
                    opened[unit.uri] = streams.enter_context(
                        CheckpointReader(client, bucket, key, size, readahead_after_large=1,
                                         object_check=object_check(unit.uri)))
                info = reader.storage_data[unit.item.storage_index]
                _load_item(reader, planner, unit.item,
                           reader._slice_file(opened[unit.uri], info))
                continue
            batch = pending.popleft()
            batch.fetch.wait()
            in_flight -= batch.end - batch.start
            mv = memoryview(batch.buf)
            for req in batch.items:
                info = reader.storage_data[req.storage_index]
                lo = info.offset - batch.start
                _load_item(reader, planner, req, _View(mv[lo:lo + info.length], batch.uri))
            mv.release()
            batch.buf = None
    finally:
        for batch in pending:
            batch.cancel()
        streams.close()
