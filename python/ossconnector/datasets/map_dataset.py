"""OssMapDataset: a torch map-style Dataset of OSS objects or tar members,
with random access and whole batches fetched concurrently."""

from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

import torch.utils.data

from ._base import DatasetBase
from ._item import MemoryObject, StreamObject
from ._listing import check_oss_uri, list_prefix, table_from_uris
from ._prefetch import Fetch, prefetch
from .manifest import read_manifest

__all__ = ["OssMapDataset"]

log = logging.getLogger(__name__)

_BATCH_GAP = 64 << 10      # tar members this close are fetched in one request
_BATCH_BYTES = 64 << 20    # ... up to this many bytes per request


class OssMapDataset(DatasetBase, torch.utils.data.Dataset):
    """A map-style dataset of OSS objects: ``dataset[i]`` is
    ``transform(item)`` for object ``i`` (``transform(None)`` if it no
    longer exists).

    Build one with :meth:`from_prefix`, :meth:`from_objects`,
    :meth:`from_manifest_file` or :meth:`from_tar`.  The object list is made
    once, when the dataset is built; ``len()`` and every worker reuse it
    (workers receive it by fork or by pickling, never by listing again).

    ``dataset[i]`` fetches object ``i`` with one GET (an object larger than
    64 MiB is returned as a stream that reads on demand).  DataLoader
    batches go through :meth:`__getitems__`, which fetches the whole batch
    concurrently; for a tar archive, neighbouring members of a batch are
    fetched in one ranged GET.  Iterating the dataset directly prefetches
    ``datasetConfig.prefetchConcurrency`` objects ahead.

    Items and keyword arguments are those of
    :class:`~ossconnector.datasets.OssIterableDataset` (``endpoint``,
    ``cred_path``, ``cred_provider``, ``config_path``, ``region``,
    ``transform``).  Shuffle and shard with the DataLoader's sampler
    (``shuffle=True``, ``DistributedSampler``).
    """

    def __init__(self, source: "_MapSource", endpoint: str, *, cred_path: Optional[str] = None,
                 cred_provider: Any = None, config_path: Optional[str] = None,
                 region: Optional[str] = None, transform: Optional[Callable] = None):
        if not isinstance(source, _MapSource):
            raise TypeError("OssMapDataset: build it with from_prefix, from_objects, "
                            "from_manifest_file or from_tar")
        self._setup(endpoint, cred_path, cred_provider, config_path, region, transform)
        self._source = source
        source.load(self)

    @classmethod
    def from_prefix(cls, oss_uri: str, endpoint: str, *, cred_path: Optional[str] = None,
                    cred_provider: Any = None, config_path: Optional[str] = None,
                    region: Optional[str] = None, transform: Optional[Callable] = None
                    ) -> "OssMapDataset":
        """Every object under ``oss://bucket/prefix``, listed once (fast list
        when ``datasetConfig.enableFastList`` is true), sorted by key."""
        return cls(_MapObjects(lambda ds: list_prefix(ds._client, oss_uri, ds._fast_list)),
                   endpoint, cred_path=cred_path, cred_provider=cred_provider,
                   config_path=config_path, region=region, transform=transform)

    @classmethod
    def from_objects(cls, object_uris: Union[str, Iterable[str]], endpoint: str, *,
                     cred_path: Optional[str] = None, cred_provider: Any = None,
                     config_path: Optional[str] = None, region: Optional[str] = None,
                     transform: Optional[Callable] = None) -> "OssMapDataset":
        """The objects named by ``object_uris``, in that order."""
        table = table_from_uris(object_uris)
        return cls(_MapObjects(lambda ds: table), endpoint, cred_path=cred_path,
                   cred_provider=cred_provider, config_path=config_path, region=region,
                   transform=transform)

    @classmethod
    def from_manifest_file(cls, manifest_file_path: str,
                           manifest_parser: Callable[[io.IOBase], Iterable[Tuple[str, str]]],
                           oss_base_uri: str, endpoint: str, *, cred_path: Optional[str] = None,
                           cred_provider: Any = None, config_path: Optional[str] = None,
                           region: Optional[str] = None, transform: Optional[Callable] = None
                           ) -> "OssMapDataset":
        """The objects a manifest lists (see
        :meth:`OssIterableDataset.from_manifest_file`)."""
        return cls(_MapObjects(lambda ds: read_manifest(ds._client, manifest_file_path,
                                                        manifest_parser, oss_base_uri)),
                   endpoint, cred_path=cred_path, cred_provider=cred_provider,
                   config_path=config_path, region=region, transform=transform)

    @classmethod
    def from_tar(cls, tar_uri: str, tar_index_uri: str, endpoint: str, *,
                 cred_path: Optional[str] = None, cred_provider: Any = None,
                 config_path: Optional[str] = None, region: Optional[str] = None,
                 transform: Optional[Callable] = None) -> "OssMapDataset":
        """The members of an indexed tar archive: ``dataset[i]`` is member
        ``i`` (one ranged GET); item keys are member names."""
        return cls(_MapTar(tar_uri, tar_index_uri), endpoint, cred_path=cred_path,
                   cred_provider=cred_provider, config_path=config_path, region=region,
                   transform=transform)

    # -- access -----------------------------------------------------------

    def __len__(self) -> int:
        return self._source.count(self)

    def _index(self, i) -> int:
        if not isinstance(i, int):
            try:
                i = i.__index__()
            except AttributeError:
                raise TypeError(f"OssMapDataset indices must be integers, not "
                                f"{type(i).__name__}") from None
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"OssMapDataset index {i} out of range (dataset has {n} items)")
        return i

    def __getitem__(self, i: int) -> Any:
        i = self._index(i)
        return self._source.get_many(self, [i])[0]

    def __getitems__(self, indices: List[int]) -> List[Any]:
        """The batch ``indices``, fetched concurrently (a list, in order)."""
        return self._source.get_many(self, [self._index(i) for i in indices])

    def __iter__(self) -> Iterator[Any]:
        return self._source.iterate(self)

    def __repr__(self):
        return f"OssMapDataset({self._source!r}, {len(self)} items, endpoint={self.endpoint!r})"


class _MapSource:
    def load(self, ds) -> None:
        raise NotImplementedError

    def count(self, ds) -> int:
        raise NotImplementedError

    def get_many(self, ds, indices: List[int]) -> List[Any]:
        raise NotImplementedError

    def iterate(self, ds) -> Iterator[Any]:
        raise NotImplementedError


class _MapObjects(_MapSource):
    def __init__(self, build: Callable):
        self._build = build

    def load(self, ds):
        ds._table = self._build(ds)
        self._build = None

    def count(self, ds):
        return len(ds._table)

    def get_many(self, ds, indices):
        started = []
        try:
            for i in indices:
                started.append(ds._start_object(i))
        except BaseException:
            for s in started:
                if isinstance(s, Fetch):
                    s.cancel()
            raise
        out = []
        try:
            for n, (i, s) in enumerate(zip(indices, started)):
                out.append(ds._finish_object(i, s))
        except BaseException:
            for s in started[n + 1:]:
                if isinstance(s, Fetch):
                    s.cancel()
            raise
        return out

    def iterate(self, ds):
        table = ds._table
        return prefetch(range(len(table)), ds._start_object, ds._finish_object,
                        window=ds._window, budget=ds._budget,
                        cost=lambda i: max(0, table.size(i)))

    def __repr__(self):
        return "objects"


class _MapTar(_MapSource):
    def __init__(self, tar_uri: str, index_uri: str):
        self.tar_uri = tar_uri
        self.index_uri = index_uri

    def load(self, ds):
        from .tar import load_index

        self.bucket, self.key = check_oss_uri(self.tar_uri, "from_tar: tar_uri")
        if not self.index_uri:
            raise ValueError("from_tar: tar_index_uri must be an oss:// URI or a local path")
        self.index = load_index(ds._client, self.index_uri)
        size = ds._client.stat(self.tar_uri).size
        if size != self.index.archive_size:
            raise ValueError(f"from_tar: index {self.index_uri} was built for a "
                             f"{self.index.archive_size}-byte archive but {self.tar_uri} has "
                             f"{size} bytes: rebuild the index")

    def count(self, ds):
        return len(self.index)

    def get_many(self, ds, indices):
        from .tar import coalesce

        index, items = self.index, {}
        groups = coalesce(index, indices, _BATCH_GAP, _BATCH_BYTES)
        fetches = []
        for start, end, members in groups:
            if end - start > ds._budget:  # a single huge member: stream it
                fetches.append(None)
            else:
                fetches.append(Fetch(ds._client, self.bucket, self.key, start, end - start))
        try:
            for (start, end, members), fetch in zip(groups, fetches):
                if fetch is None:
                    m = members[0]
                    items[m] = lambda m=m: StreamObject(
                        ds._client, self.bucket, self.key, index.size(m), key=index.name(m),
                        offset=index.offset(m), archive=self.tar_uri)
                    continue
                view = memoryview(fetch.result())
                for m in members:
                    off = index.offset(m) - start
                    items[m] = (lambda v=view[off:off + index.size(m)], m=m: MemoryObject(
                        index.name(m), v, archive=self.tar_uri))
        finally:
            for fetch in fetches:
                if fetch is not None:
                    fetch.cancel()
        # A fresh item per position: a batch may name the same member twice.
        return [ds._transform(items[i]()) for i in indices]

    def iterate(self, ds):
        # Batches of prefetchConcurrency neighbours: one coalesced request each.
        n, step = len(self.index), ds._window
        for a in range(0, n, step):
            yield from self.get_many(ds, list(range(a, min(n, a + step))))

    def __repr__(self):
        return f"tar {self.tar_uri}"
