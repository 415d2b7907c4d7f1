"""OssClient: the product's exported client class, for scripts that use it
directly.  New code should use :class:`ossconnector.Client`.

The product's constructor takes ``uuid``, ``id`` and ``total`` to
coordinate its native workers; they are accepted and ignored here (our
datasets split work by themselves).  The product's integer ``type`` mode
flag of ``get_object`` is accepted for compatibility and ignored: every
object read here is a seekable stream.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Sequence

from ._item import DataObject, MemoryObject, StreamObject
from ._prefetch import Fetch, is_missing
from ._prefetch import prefetch as _prefetch_ahead

__all__ = ["OssClient"]


class OssClient:
    """Reads, writes and lists OSS objects as dataset items.

    Args:
        endpoint, cred_path, config_path, cred_provider, region: as for the
            datasets.
        uuid, id, total: accepted for compatibility; unused.
    """

    def __init__(self, endpoint: str, cred_path: str = "", config_path: str = "",
                 uuid: str = "", id: int = 0, total: int = 1,  # noqa: A002 (product's names)
                 cred_provider: Any = None, region: Optional[str] = None):
        from .._config import config_value, load_config
        from ..client import Client

        self._client = Client(endpoint, cred_path=cred_path or None, cred_provider=cred_provider,
                              config_path=config_path or None, region=region,
                              profile="dataset")
        self._window = config_value(load_config(config_path or None),
                                    "datasetConfig.prefetchConcurrency", 24)

    @property
    def client(self):
        return self._client

    def get_object(self, bucket: str, key: str, size: int = 0, type: int = 0,  # noqa: A002
                   label: str = "") -> DataObject:
        """A stream over ``oss://bucket/key`` (``size`` > 0 skips the HEAD)."""
        if size <= 0:
            size = self._client.stat(f"oss://{bucket}/{key}").size
        return StreamObject(self._client, bucket, key, size, label)

    def put_object(self, bucket: str, key: str):
        """A writer; the object exists once the writer is closed."""
        return self._client.create(f"oss://{bucket}/{key}")

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[DataObject]:
        """Streams over every object under ``prefix`` (nothing fetched yet)."""
        for entry in self._client.list(f"oss://{bucket}/{prefix}"):
            yield StreamObject(self._client, bucket, entry.key, entry.size)

    def list_objects_from_uris(self, object_uris: Iterable, prefetch: bool = False,
                               include_errors: bool = False) -> Iterator[Optional[DataObject]]:
        """Items for ``object_uris`` (strings or items with ``key``), in
        order, fetched ``datasetConfig.prefetchConcurrency`` ahead.  A
        missing object raises FileNotFoundError, or yields None with
        ``include_errors``."""
        from ._listing import check_oss_uri

        def start(uri):
            bucket, key = check_oss_uri(uri, "list_objects_from_uris")
            return Fetch(self._client, bucket, key)

        def finish(uri, fetch):
            try:
                return MemoryObject(uri, fetch.result())
            except Exception as exc:
                if include_errors and is_missing(exc):
                    return None
                raise

        uris = (getattr(u, "key", u) for u in object_uris)
        return _prefetch_ahead(uris, start, finish, window=self._window if prefetch else 1)

    def gen_tar_archive(self, tar_path: str, index_path: str, source_path: str,
                        index_only: bool = False) -> int:
        """See :func:`ossconnector.datasets.generate_tar_archive`."""
        from .tar import generate_tar_archive

        c = self._client
        return generate_tar_archive(c.endpoint, c.cred_path, c.config_path, tar_path, index_path,
                                    source_path, index_only, c.cred_provider, region=c.region)

    def list_objects_from_tar(self, bucket: str, tar_key: str, index_key: str,
                              chunks: Sequence[int] = (), sizes: Sequence[int] = (),
                              prefetch: bool = False, include_errors: bool = False
                              ) -> Iterator[DataObject]:
        """Members of ``oss://bucket/tar_key`` indexed by ``index_key``: all
        of them, or the runs ``chunks[k] .. chunks[k] + sizes[k]`` (the
        members ``chunks`` alone when ``sizes`` is empty)."""
        from .tar import coalesce, load_index

        index = load_index(self._client, f"oss://{bucket}/{index_key}")
        if not chunks:
            members: Sequence[int] = range(len(index))
        elif sizes:
            members = [m for start, n in zip(chunks, sizes) for m in range(start, start + n)]
        else:
            members = list(chunks)
        uri = f"oss://{bucket}/{tar_key}"
        for a in range(0, len(members), 256):
            batch = members[a:a + 256]
            groups = coalesce(index, batch, 64 << 10, 64 << 20)
            views = {}
            for start, end, ms in groups:
                view = memoryview(Fetch(self._client, bucket, tar_key, start, end - start).result())
                for m in ms:
                    views[m] = view[index.offset(m) - start:index.offset(m) - start + index.size(m)]
            for m in batch:
                yield MemoryObject(index.name(m), views[m], archive=uri)
