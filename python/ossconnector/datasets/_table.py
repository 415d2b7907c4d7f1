"""KeyTable: a compact, picklable list of objects (bucket, key, size, label).

A dataset of a million objects must not cost a million Python objects: keys
live in one UTF-8 blob with an offset array, sizes in an ``array('q')``
(-1 when unknown), buckets and labels are interned (small tables of distinct
values plus an index per entry).  That is about ``len(key) + 22`` bytes per
entry, and pickling it (spawn-started DataLoader workers) copies a handful
of flat buffers instead of walking a million objects.
"""

from __future__ import annotations

from array import array
from itertools import accumulate
from typing import Iterable, Iterator, Optional, Tuple

__all__ = ["KeyTable"]

_UNKNOWN = -1


class KeyTable:
    """Append-only while it is built, then read-only and shared by workers."""

    __slots__ = ("_blob", "_offsets", "_sizes", "_buckets", "_bucket_ids", "_labels",
                 "_label_ids", "_bucket_index", "_label_index")

    def __init__(self):
        self._blob = bytearray()
        self._offsets = array("Q", [0])
        self._sizes = array("q")
        self._buckets: list = []
        self._bucket_ids = array("H")
        self._labels: list = [""]
        self._label_ids = array("I")
        self._bucket_index: Optional[dict] = {}
        self._label_index: Optional[dict] = {"": 0}

    # -- building ---------------------------------------------------------

    def append(self, bucket: str, key, size: int = _UNKNOWN, label=""):
        """Adds one entry; ``key`` is str or its UTF-8 bytes; ``label`` any
        hashable value (usually a str; equal labels are stored once)."""
        if self._bucket_index is None:  # unpickled: rebuild the lookups on demand
            self._bucket_index = {b: i for i, b in enumerate(self._buckets)}
            self._label_index = {lb: i for i, lb in enumerate(self._labels)}
        bid = self._bucket_index.get(bucket)
        if bid is None:
            if len(self._buckets) >= 0xFFFF:
                raise ValueError("KeyTable: more than 65535 distinct buckets")
            bid = self._bucket_index[bucket] = len(self._buckets)
            self._buckets.append(bucket)
        if label is None:
            label = ""
        lid = self._label_index.get(label)
        if lid is None:
            lid = self._label_index[label] = len(self._labels)
            self._labels.append(label)
        self._blob += key if isinstance(key, (bytes, bytearray)) else key.encode(
            "utf-8", "surrogateescape")
        self._offsets.append(len(self._blob))
        self._sizes.append(size)
        self._bucket_ids.append(bid)
        self._label_ids.append(lid)

    def sorted(self) -> "KeyTable":
        """This table ordered by (bucket, key): listings that arrive out of
        order (fast list) are sorted once, about 1 s per million keys."""
        n = len(self)
        blob, off = bytes(self._blob), self._offsets
        keys = [blob[off[i]:off[i + 1]] for i in range(n)]
        if len(self._buckets) > 1:
            bids = self._bucket_ids
            order = sorted(range(n), key=lambda i: (bids[i], keys[i]))
        else:
            order = sorted(range(n), key=keys.__getitem__)
        if all(order[i] == i for i in range(n)):
            return self
        out = KeyTable()
        out._buckets, out._labels = list(self._buckets), list(self._labels)
        out._bucket_index = dict(self._bucket_index or {})
        out._label_index = dict(self._label_index or {})
        ordered = [keys[i] for i in order]
        out._blob = bytearray(b"".join(ordered))
        out._offsets = array("Q", [0])
        out._offsets.extend(accumulate(map(len, ordered)))
        out._sizes = array("q", [self._sizes[i] for i in order])
        out._bucket_ids = array("H", [self._bucket_ids[i] for i in order])
        out._label_ids = array("I", [self._label_ids[i] for i in order])
        return out

    # -- reading ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._sizes)

    def bucket(self, i: int) -> str:
        return self._buckets[self._bucket_ids[i]]

    def key_bytes(self, i: int) -> bytes:
        return bytes(self._blob[self._offsets[i]:self._offsets[i + 1]])

    def key(self, i: int) -> str:
        return self._blob[self._offsets[i]:self._offsets[i + 1]].decode("utf-8", "surrogateescape")

    def uri(self, i: int) -> str:
        return f"oss://{self.bucket(i)}/{self.key(i)}"

    def size(self, i: int) -> int:
        """Bytes, or -1 when not known before reading (manifests, URI lists)."""
        return self._sizes[i]

    def label(self, i: int) -> str:
        return self._labels[self._label_ids[i]]

    def entry(self, i: int) -> Tuple[str, str, int, str]:
        """(bucket, key, size, label) of entry ``i``."""
        return self.bucket(i), self.key(i), self._sizes[i], self.label(i)

    def uris(self) -> Iterator[str]:
        return (self.uri(i) for i in range(len(self)))

    def nbytes(self) -> int:
        """Memory held by the flat buffers (the interned tables aside)."""
        return (len(self._blob) + self._offsets.itemsize * len(self._offsets)
                + self._sizes.itemsize * len(self._sizes)
                + self._bucket_ids.itemsize * len(self._bucket_ids)
                + self._label_ids.itemsize * len(self._label_ids))

    # -- pickling: flat buffers only, the lookup dicts are rebuilt lazily --

    def __getstate__(self):
        return (bytes(self._blob), self._offsets, self._sizes, self._buckets, self._bucket_ids,
                self._labels, self._label_ids)

    def __setstate__(self, state):
        (blob, self._offsets, self._sizes, self._buckets, self._bucket_ids, self._labels,
         self._label_ids) = state
        self._blob = bytearray(blob)
        self._bucket_index = self._label_index = None

    @classmethod
    def from_entries(cls, entries: Iterable[Tuple[str, str, int, str]]) -> "KeyTable":
        table = cls()
        for bucket, key, size, label in entries:
            table.append(bucket, key, size, label)
        return table
