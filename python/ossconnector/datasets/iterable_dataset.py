"""OssIterableDataset: a torch IterableDataset streaming OSS objects, tar
members or archive shards, prefetching ahead in every DataLoader worker."""

from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable, Iterator, List, Optional, Tuple, Union

import torch.utils.data

from ._base import DatasetBase
from ._item import MemoryObject, StreamObject
from ._listing import check_oss_uri, list_prefix, table_from_uris
from ._prefetch import Fetch, is_missing, prefetch
from ._sharding import (current_shard, distributed_snapshot, epoch_generator, new_seed,
                        permutation)
from .manifest import read_manifest

__all__ = ["OssIterableDataset"]

log = logging.getLogger(__name__)

_TAR_GROUP_BYTES = 4 << 20   # one ranged GET covers up to this many bytes of members
_TAR_GROUP_GAP = 64 << 10    # neighbours this close share a request


class OssIterableDataset(DatasetBase, torch.utils.data.IterableDataset):
    """An iterable-style dataset of OSS objects.

    Build one with :meth:`from_prefix`, :meth:`from_objects`,
    :meth:`from_manifest_file`, :meth:`from_tar` or :meth:`from_archives`.
    Iterating yields ``transform(item)`` for every object, where ``item`` is
    a :class:`~ossconnector.datasets.DataObject` (``key``, ``size``,
    ``label``, ``read``/``readinto``/``seek``/``tell``/``close``) and
    ``transform(None)`` for an object that no longer exists.

    The list of objects is made once, when the dataset is built (listing,
    manifest or tar index); every epoch and every DataLoader worker reuse
    it.  Under ``DataLoader(num_workers=N)`` each worker reads a disjoint
    share, so every object is delivered exactly once per epoch; with an
    initialised ``torch.distributed`` process group the objects are first
    split across ranks.  Each worker keeps ``datasetConfig.prefetchConcurrency``
    requests in flight ahead of the consumer.

    Keyword arguments shared by every constructor:
        endpoint: OSS endpoint, e.g. ``http://oss-cn-beijing-internal.aliyuncs.com``.
        cred_path: JSON credential file (``AccessKeyId``, ``AccessKeySecret``,
            optional ``SecurityToken``, ``Expiration``).
        cred_provider: an oss2 credentials provider (takes precedence).
            Without either, ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/
            ``OSS_SESSION_TOKEN`` are used.
        config_path: the connector's config.json.
        region: region for V4 signing (inferred from ``oss-<region>`` endpoints).
        transform: callable applied to every item (default: the item).
        shuffle, seed: a new random order of the units (objects, tar
            chunks, archives) every epoch; see :meth:`set_epoch`.
    """

    def __init__(self, source: "_Source", endpoint: str, *, cred_path: Optional[str] = None,
                 cred_provider: Any = None, config_path: Optional[str] = None,
                 region: Optional[str] = None, transform: Optional[Callable] = None,
                 shuffle: bool = False, seed: Optional[int] = None):
        if not isinstance(source, _Source):
            raise TypeError("OssIterableDataset: build it with from_prefix, from_objects, "
                            "from_manifest_file, from_tar or from_archives")
        self._setup(endpoint, cred_path, cred_provider, config_path, region, transform)
        self._shuffle = bool(shuffle)
        self._seed = new_seed() if seed is None else int(seed)
        self._epoch = 0
        self._dist = None
        self._source = source
        source.load(self)

    # -- constructors -------------------------------------------------------

    @classmethod
    def from_prefix(cls, oss_uri: str, endpoint: str, *, cred_path: Optional[str] = None,
                    cred_provider: Any = None, config_path: Optional[str] = None,
                    region: Optional[str] = None, transform: Optional[Callable] = None,
                    shuffle: bool = False, seed: Optional[int] = None) -> "OssIterableDataset":
        """Every object under ``oss://bucket/prefix`` (listed once, with the
        concurrent fast list when ``datasetConfig.enableFastList`` is true;
        zero-byte "folder/" markers are skipped)."""
        return cls(_Objects(lambda ds: list_prefix(ds._client, oss_uri, ds._fast_list)),
                   endpoint, cred_path=cred_path, cred_provider=cred_provider,
                   config_path=config_path, region=region, transform=transform,
                   shuffle=shuffle, seed=seed)

    @classmethod
    def from_objects(cls, object_uris: Union[str, Iterable[str]], endpoint: str, *,
                     cred_path: Optional[str] = None, cred_provider: Any = None,
                     config_path: Optional[str] = None, region: Optional[str] = None,
                     transform: Optional[Callable] = None, shuffle: bool = False,
                     seed: Optional[int] = None) -> "OssIterableDataset":
        """The objects named by ``object_uris`` (one URI or an iterable),
        in that order."""
        table = table_from_uris(object_uris)
        return cls(_Objects(lambda ds: table), endpoint, cred_path=cred_path,
                   cred_provider=cred_provider, config_path=config_path, region=region,
                   transform=transform, shuffle=shuffle, seed=seed)

    @classmethod
    def from_manifest_file(cls, manifest_file_path: str,
                           manifest_parser: Callable[[io.IOBase], Iterable[Tuple[str, str]]],
                           oss_base_uri: str, endpoint: str, *, cred_path: Optional[str] = None,
                           cred_provider: Any = None, config_path: Optional[str] = None,
                           region: Optional[str] = None, transform: Optional[Callable] = None,
                           shuffle: bool = False, seed: Optional[int] = None
                           ) -> "OssIterableDataset":
        """The objects a manifest lists (local path or ``oss://`` URI),
        parsed once by ``manifest_parser(reader) -> Iterable[(key, label)]``;
        keys are appended to ``oss_base_uri``.  Items carry the labels."""
        return cls(_Objects(lambda ds: read_manifest(ds._client, manifest_file_path,
                                                     manifest_parser, oss_base_uri)),
                   endpoint, cred_path=cred_path, cred_provider=cred_provider,
                   config_path=config_path, region=region, transform=transform,
                   shuffle=shuffle, seed=seed)

    @classmethod
    def from_tar(cls, tar_uri: str, tar_index_uri: str, endpoint: str, *,
                 cred_path: Optional[str] = None, cred_provider: Any = None,
                 config_path: Optional[str] = None, region: Optional[str] = None,
                 transform: Optional[Callable] = None, shuffle: bool = False,
                 shuffle_chunk_size: int = 1000, seed: Optional[int] = None
                 ) -> "OssIterableDataset":
        """The members of a tar archive with an index made by
        :func:`~ossconnector.datasets.generate_tar_archive`.  Neighbouring
        members are fetched together in ranged GETs of up to 4 MiB.

        ``shuffle`` splits the members into chunks of about
        ``shuffle_chunk_size`` neighbours (boundaries move every epoch) and
        visits the chunks in a random order; members of a chunk stay in
        archive order, so reads stay sequential.  Item keys are member names."""
        if not isinstance(shuffle_chunk_size, int) or shuffle_chunk_size < 1:
            raise ValueError(f"from_tar: shuffle_chunk_size must be a positive int, "
                             f"not {shuffle_chunk_size!r}")
        return cls(_Tar(tar_uri, tar_index_uri, shuffle_chunk_size), endpoint,
                   cred_path=cred_path, cred_provider=cred_provider, config_path=config_path,
                   region=region, transform=transform, shuffle=shuffle, seed=seed)

    @classmethod
    def from_archives(cls, archive_uris: Union[str, Iterable[str]], endpoint: str, *,
                      cred_path: Optional[str] = None, cred_provider: Any = None,
                      config_path: Optional[str] = None, region: Optional[str] = None,
                      transform: Optional[Callable] = None, shuffle: bool = False,
                      seed: Optional[int] = None) -> "OssIterableDataset":
        """Streams the members of archive shards without an index
        (webdataset-style): ``archive_uris`` is a prefix ending in ``/``
        (every object under it) or a list of URIs.  ``.tar`` (also gzip,
        bzip2, xz) and ``.zip`` shards yield one item per member (key =
        member name, ``archive`` = shard URI), in archive order; any other
        object is one item.  Shards, not members, are split across workers
        and shuffled."""
        if isinstance(archive_uris, str) and archive_uris.endswith("/"):
            load = lambda ds: list_prefix(ds._client, archive_uris, ds._fast_list)  # noqa: E731
        else:
            table = table_from_uris(archive_uris)
            load = lambda ds: table  # noqa: E731
        return cls(_Archives(load), endpoint, cred_path=cred_path, cred_provider=cred_provider,
                   config_path=config_path, region=region, transform=transform,
                   shuffle=shuffle, seed=seed)

    # -- epochs and order ----------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Selects the epoch's random order when ``shuffle`` is on.  Call it
        before each epoch (DataLoader workers started for that epoch see
        it; with ``persistent_workers=True`` they keep the order they were
        started with)."""
        self._epoch = int(epoch)

    def shuffle(self, generator: Optional[torch.Generator] = None) -> None:
        """Turns shuffling on with a new seed drawn from ``generator`` (or
        torch's default generator): the product's way to re-shuffle."""
        self._shuffle = True
        self._seed = int(torch.randint(0, 2 ** 62, (), generator=generator).item())

    def _order(self, count: int) -> List[int]:
        """This process's share of units 0..count-1, in this epoch's order."""
        shard, shards = current_shard(self._dist)
        if self._shuffle:
            return permutation(count, self._seed, self._epoch)[shard::shards].tolist()
        return list(range(shard, count, shards))

    # -- iteration -------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        return self._source.iterate(self)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_dist"] = distributed_snapshot() or self._dist  # for spawn-started workers
        return state

    def __repr__(self):
        return f"OssIterableDataset({self._source!r}, endpoint={self.endpoint!r})"


class _Source:
    """Where the units of a dataset come from and how they are read."""

    def load(self, ds: OssIterableDataset) -> None:
        raise NotImplementedError

    def iterate(self, ds: OssIterableDataset) -> Iterator[Any]:
        raise NotImplementedError


class _Objects(_Source):
    """Units are objects of a KeyTable, each fetched into memory."""

    def __init__(self, build: Callable):
        self._build = build

    def load(self, ds):
        ds._table = self._build(ds)
        self._build = None  # closures need not pickle

    def iterate(self, ds):
        table = ds._table
        return prefetch(ds._order(len(table)), ds._start_object, ds._finish_object,
                        window=ds._window, budget=ds._budget,
                        cost=lambda i: max(0, table.size(i)))

    def __repr__(self):
        return "objects"


class _Archives(_Objects):
    """Units are archive shards, each streamed member by member."""

    def iterate(self, ds):
        table = ds._table
        for i in ds._order(len(table)):
            bucket, key, size, _ = table.entry(i)
            try:
                from ._archive import iter_members

                for item in iter_members(ds._client, bucket, key, size):
                    yield ds._transform(item)
            except Exception as exc:
                if not is_missing(exc):
                    raise
                log.warning("from_archives: %s is missing; transform receives None",
                            table.uri(i))
                yield ds._transform(None)

    def __repr__(self):
        return "archives"


class _Tar(_Source):
    """Units are members of one indexed tar archive."""

    def __init__(self, tar_uri: str, index_uri: str, chunk: int):
        self.tar_uri = tar_uri
        self.index_uri = index_uri
        self.chunk = chunk

    def load(self, ds):
        from .tar import load_index

        self.bucket, self.key = check_oss_uri(self.tar_uri, "from_tar: tar_uri")
        if not str(self.index_uri or ""):
            raise ValueError("from_tar: tar_index_uri must be an oss:// URI or a local path")
        index = load_index(ds._client, self.index_uri)
        size = ds._client.stat(self.tar_uri).size
        if size != index.archive_size:
            raise ValueError(f"from_tar: index {self.index_uri} was built for a "
                             f"{index.archive_size}-byte archive but {self.tar_uri} has "
                             f"{size} bytes: rebuild the index")
        self.index = index

    def _runs(self, ds) -> List[Tuple[int, int]]:
        """This process's member ranges [start, end), in reading order."""
        n = len(self.index)
        shard, shards = current_shard(ds._dist)
        if not ds._shuffle:
            # One contiguous block per reader: sequential, balanced.
            return [(n * shard // shards, n * (shard + 1) // shards)]
        # Chunk boundaries shift by a random phase every epoch, so the same
        # neighbours are not always grouped; the chunk order is random.
        gen = epoch_generator(ds._seed, ds._epoch)
        phase = int(torch.randint(1, self.chunk + 1, (), generator=gen))
        bounds = [0] + list(range(phase, n, self.chunk)) + [n]
        chunks = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]
        order = torch.randperm(len(chunks), generator=gen).tolist()
        return [chunks[j] for j in order[shard::shards]]

    def _groups(self, ds, runs) -> Iterator[Tuple[int, int]]:
        index = self.index
        for start, end in runs:
            i = start
            while i < end:
                j, first = i + 1, index.offset(i)
                last = first + index.size(i)
                while (j < end and index.offset(j) - last <= _TAR_GROUP_GAP
                       and index.offset(j) + index.size(j) - first <= _TAR_GROUP_BYTES):
                    last = index.offset(j) + index.size(j)
                    j += 1
                yield i, j
                i = j

    def iterate(self, ds):
        index = self.index

        def start(group):
            i, j = group
            first = index.offset(i)
            length = index.offset(j - 1) + index.size(j - 1) - first
            if length > ds._budget:  # one member larger than the budget: stream it
                return None
            return Fetch(ds._client, self.bucket, self.key, first, length)

        def finish(group, fetch):
            i, j = group
            if fetch is None:
                return [StreamObject(ds._client, self.bucket, self.key, index.size(i),
                                     key=index.name(i), offset=index.offset(i),
                                     archive=self.tar_uri)]
            view, first = memoryview(fetch.result()), index.offset(i)
            return [MemoryObject(index.name(m), view[index.offset(m) - first:
                                                     index.offset(m) - first + index.size(m)],
                                 archive=self.tar_uri) for m in range(i, j)]

        def cost(group):
            i, j = group
            return index.offset(j - 1) + index.size(j - 1) - index.offset(i)

        for items in prefetch(self._groups(ds, self._runs(ds)), start, finish,
                              window=ds._window, budget=ds._budget, cost=cost):
            for item in items:
                yield ds._transform(item)

    def __len__(self):
        return len(self.index)

    def __repr__(self):
        return f"tar {self.tar_uri}"
