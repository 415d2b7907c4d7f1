"""The model connector: open, list and prepare_directory for inference.

:class:`OssModelConnector` is the product's documented entry point;
:class:`Connector` and :func:`new_oss_connector` are its lower-level names
(``ossmodelconnector._oss_connector`` in the product).  Both are backed by
the C engine through one :class:`ossconnector.Client` (``profile="model"``:
``prefetch.vcpus`` x ``prefetch.workers`` transfers, ``fastList.*`` for fast
listing).
"""

from __future__ import annotations

import os
import re
import weakref
from typing import Any, List, Optional

from .._native import check, ffi, lib, new_error
from .._pages import PageColumns, iter_pages, page_columns
from ..client import Client, parse_uri
from ..reader import ObjectReader
from ._directory import PreparedDirectory
from ..readahead import PrefetchPool
from .data_object import DataObject, DataObjectInfo, TextDataObject

__all__ = ["Connector", "OssModelConnector", "new_oss_connector"]


def _parse_size(text: str, name: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", text, re.IGNORECASE)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{name}={text!r} is not a size (e.g. 16G)")
    return int(m.group(1)) << (10 * " KMGT".index((m.group(2) or " ").upper()))


def _default_memory_limit() -> int:
    env = os.environ.get("OSSC_MEMORY_LIMIT")
    if env:
        return _parse_size(env, "OSSC_MEMORY_LIMIT")
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        return 8 << 30


def _close_parts(dirs: list, objects, pool: PrefetchPool, client: Client) -> None:
    for d in dirs:
        d.close()
    dirs.clear()
    for obj in list(objects):
        obj.close()
    pool.close()
    client.close()


class Connector:
    """Opens, lists and prepares directories of one OSS endpoint.

    Args:
        endpoint: ``oss-cn-hangzhou-internal.aliyuncs.com``,
            ``http://127.0.0.1:9000``... (no scheme means http).
        cred_path: JSON credential file (``AccessKeyId``, ``AccessKeySecret``,
            optional ``SecurityToken``, ``Expiration``).
        cred_provider: an oss2 ``CredentialsProvider`` (or any object with
            ``get_credentials()``); takes precedence over cred_path.  With
            neither, ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/
            ``OSS_SESSION_TOKEN`` are used.
        config_path: config.json (``prefetch.*``, ``fastList.*``, ``http.*``,
            logging); default ``$OSS_CONNECTOR_CONFIG`` or
            ``/etc/oss-connector/config.json`` when present.
        region: e.g. ``cn-hangzhou`` (selects V4 signing; inferred from
            ``oss-<region>.aliyuncs.com`` endpoints).
        memory_limit: bytes that objects opened with prefetching may hold
            before prefetching pauses (default ``$OSSC_MEMORY_LIMIT`` or half
            of RAM).
    """

    def __init__(self, endpoint: str, *, cred_path: Optional[str] = None, cred_provider=None,
                 config_path: Optional[str] = None, region: Optional[str] = None,
                 memory_limit: Optional[int] = None):
        if not endpoint:
            raise ValueError("endpoint must be non-empty (e.g. 'oss-cn-hangzhou.aliyuncs.com')")
        self._client = Client(endpoint, cred_path=cred_path or None, cred_provider=cred_provider,
                              config_path=config_path or None, region=region or None,
                              profile="model")
        self._pool = PrefetchPool(self._client, memory_limit or _default_memory_limit())
        self._dirs: List[PreparedDirectory] = []
        self._objects: "weakref.WeakSet[DataObject]" = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _close_parts, self._dirs, self._objects,
                                           self._pool, self._client)

    # -- objects ----------------------------------------------------------

    def open(self, uri: str, prefetch: bool = True, userfault: bool = False,
             binary: bool = True):
        """Opens ``oss://bucket/key``; FileNotFoundError (naming the URI)
        when it does not exist.  With ``prefetch`` the whole object is
        fetched into memory in the background, after the objects opened
        before it.  ``userfault`` is accepted for compatibility and has no
        effect (``mmap()`` waits for the whole object).  ``binary=False``
        returns a UTF-8 text stream."""
        del userfault
        self._check_open()
        bucket, key = parse_uri(uri)
        if not key or key.endswith("/"):
            raise IsADirectoryError(f"open: {uri!r} names a prefix, not an object")
        size = self._client.stat(uri).size
        reader = None if prefetch else ObjectReader(self._client, bucket, key, size)
        obj = DataObject(self._pool, bucket, key, size, prefetch=prefetch, reader=reader)
        self._objects.add(obj)
        return obj if binary else TextDataObject(obj)

    def list(self, bucket: str, prefix: str = "", fast: bool = False) -> List[DataObjectInfo]:
        """Every object under ``prefix`` in ``bucket``, as
        :class:`DataObjectInfo` (``key`` inside the bucket, ``size``), in key
        order.  ``fast=True`` lists the key space concurrently
        (``fastList.*``); its order is not guaranteed."""
        self._check_open()
        if not isinstance(bucket, str) or not bucket:
            raise ValueError(f"list: bucket must be a non-empty str, not {bucket!r}")
        if "\0" in bucket or "\0" in (prefix or ""):
            raise ValueError(f"list: bucket {bucket!r} or prefix {prefix!r} contains a NUL")
        native = self._client._get_native()
        bucket_b, prefix_b = bucket.encode(), (prefix or "").encode("utf-8")
        what = f"list oss://{bucket}/{prefix or ''}"
        if fast:
            result = ffi.new("ossc_list_result **")
            err = new_error()
            check(lib.ossc_list_all(native, bucket_b, prefix_b, 1, result, err), err, what)
            try:
                return _infos(page_columns(result[0], what))
            finally:
                lib.ossc_list_result_free(result[0])
        out: List[DataObjectInfo] = []
        for page in iter_pages(native, bucket, prefix or "", what):
            out.extend(_infos(page))
        return out

    # -- directories ------------------------------------------------------

    def prepare_directory(self, uri: str, dir: str, libc: bool = False, **options: Any) -> int:
        """Mirrors ``oss://bucket/prefix/`` into the local directory ``dir``
        (see :meth:`OssModelConnector.prepare_directory`).  Returns 0."""
        self._check_open()
        path = dir
        self._dirs.append(PreparedDirectory(self._client, uri, path, hooks=libc, **options))
        return 0

    @property
    def directories(self) -> List[PreparedDirectory]:
        """The directories this connector prepared and has not closed."""
        return [d for d in self._dirs if not d.closed]

    # -- lifecycle --------------------------------------------------------

    def close(self) -> None:
        """Removes every hook, ends prepared directories, closes every
        object (freeing its memory) and stops the engine.  Idempotent; also
        run on garbage collection and at interpreter exit."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("the connector is closed")


def _infos(page: PageColumns) -> List[DataObjectInfo]:
    return list(map(DataObjectInfo, page.keys, page.sizes))


def new_oss_connector(endpoint: str, cred, config_path: str = "") -> Connector:
    """The product's factory: ``cred`` is a credential file path or a
    credentials provider."""
    if isinstance(cred, (str, os.PathLike)):
        return Connector(endpoint, cred_path=os.fspath(cred) or None, config_path=config_path)
    return Connector(endpoint, cred_provider=cred, config_path=config_path)


class OssModelConnector:
    """Loads models from OSS for inference (the product's documented class).

    Args:
        endpoint: the OSS endpoint, e.g. ``oss-cn-beijing-internal.aliyuncs.com``.
        cred_path: JSON credential file (see :class:`Connector`).
        config_path: config.json (``prefetch.*``, ``fastList.*``, ...).
        cred_provider: an oss2 credentials provider; takes precedence over
            cred_path.  With neither, the ``OSS_ACCESS_KEY_*`` environment.
        region: for V4 signing (inferred from ``oss-<region>`` endpoints).

    Raises ValueError for an empty endpoint, FileNotFoundError/ValueError
    for a missing or malformed credential or config file.
    """

    def __init__(self, endpoint: str, cred_path: str = "", config_path: str = "",
                 cred_provider: Any = None, region: Optional[str] = None):
        self._connector = Connector(endpoint, cred_path=cred_path or None,
                                    cred_provider=cred_provider, config_path=config_path or None,
                                    region=region)

    def open(self, uri: str, binary: bool = True):
        """Opens ``oss://bucket/key`` and starts prefetching it after the
        objects opened before it.  Returns a :class:`DataObject` (a
        :class:`TextDataObject` when ``binary`` is False)."""
        return self._connector.open(uri, True, False, binary)

    def list(self, bucket: str, prefix: str, fast: bool = False) -> List[DataObjectInfo]:
        """Objects under prefix (``key``, ``size``); ``fast`` lists
        concurrently, unordered."""
        return self._connector.list(bucket, prefix, fast)

    def prepare_directory(self, uri: str, dir: str, libc_hook: bool = False, *,
                          lazy: Optional[bool] = None, release_delay: Optional[float] = None,
                          memory_limit: Optional[int] = None,
                          small_file_size: Optional[int] = None,
                          cache_dir: Optional[str] = None) -> None:
        """Makes the local directory ``dir`` a copy of ``oss://bucket/prefix/``
        for inference frameworks: small files are downloaded, large files
        are served from the node-wide memory cache.

        ``libc_hook=False`` (default) fetches every large file at full
        concurrency and returns when they are all in memory, linked from
        ``dir``: any loader (Rust safetensors, C, Python, child processes)
        then reads them natively.  ``libc_hook=True`` returns at once and
        serves reads in this process through in-process hooks while the
        download runs (``lazy=True``: a file is fetched only when opened).
        The other options override ``OSSC_RELEASE_DELAY``,
        ``OSSC_MEMORY_LIMIT``, ``OSSC_SMALL_FILE_SIZE`` and ``OSSC_CACHE_DIR``.
        Raises FileExistsError (and deletes nothing) when ``dir`` holds files
        the connector did not create.  See docs/model_connector.md."""
        self._connector.prepare_directory(uri, dir, libc_hook, lazy=lazy,
                                          release_delay=release_delay,
                                          memory_limit=memory_limit,
                                          small_file_size=small_file_size, cache_dir=cache_dir)

    def close(self) -> None:
        """Removes every hook, releases prepared directories and the memory
        of opened objects, stops the engine (also on garbage collection)."""
        self._connector.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        connector = getattr(self, "_connector", None)
        if connector is not None:
            connector.close()
