"""Building a dataset's :class:`KeyTable` from a prefix listing or a list of
URIs, straight from the engine's results (no per-key Python objects kept)."""

from __future__ import annotations

import logging
from typing import Iterable, Union

from .._native import check, ffi, lib, new_error
from .._pages import PageColumns, iter_pages, page_columns
from ..client import parse_uri
from ._table import KeyTable

__all__ = ["list_prefix", "table_from_uris", "check_oss_uri"]

log = logging.getLogger(__name__)


def check_oss_uri(uri, what: str) -> tuple:
    """(bucket, key) of an ``oss://`` URI, or ValueError naming ``what``."""
    if not isinstance(uri, str):
        raise TypeError(f"{what}: expected an oss:// URI string, got {type(uri).__name__}")
    if not uri.startswith("oss://"):
        raise ValueError(f"{what}: {uri!r} is not an oss:// URI (expected oss://bucket/key)")
    try:
        return parse_uri(uri)
    except ValueError as exc:
        raise ValueError(f"{what}: {uri!r}: {exc}") from None


def _absorb(table: KeyTable, bucket: str, page: PageColumns) -> None:
    for key, size in zip(page.keys, page.sizes):
        if size == 0 and key.endswith(b"/"):
            continue  # a "folder" placeholder, not data
        table.append(bucket, key, size)


def list_prefix(client, uri: str, fast: bool) -> KeyTable:
    """Every object under ``oss://bucket/prefix``, sorted by key.  ``fast``
    uses the engine's concurrent fast list (then sorted here)."""
    bucket, prefix = check_oss_uri(uri, "from_prefix")
    native = client._get_native()
    bucket_b, prefix_b = bucket.encode(), prefix.encode("utf-8")
    table = KeyTable()
    if fast:
        out = ffi.new("ossc_list_result **")
        err = new_error()
        check(lib.ossc_list_all(native, bucket_b, prefix_b, 1, out, err), err, uri)
        try:
            _absorb(table, bucket, page_columns(out[0], uri, raw_keys=True))
        finally:
            lib.ossc_list_result_free(out[0])
        table = table.sorted()
    else:
        for page in iter_pages(native, bucket, prefix, uri, raw_keys=True):
            _absorb(table, bucket, page)
    if not len(table):
        log.warning("no objects under %s", uri)
    log.info("listed %d objects under %s (fast list: %s)", len(table), uri, fast)
    return table


def table_from_uris(uris: Union[str, Iterable[str]]) -> KeyTable:
    """A table of the given object URIs, in the given order (sizes unknown)."""
    if isinstance(uris, str):
        uris = [uris]
    if uris is None:
        raise ValueError("from_objects: object_uris must be a URI or an iterable of URIs")
    table = KeyTable()
    for n, uri in enumerate(uris):
        bucket, key = check_oss_uri(uri, f"from_objects: object_uris[{n}]")
        if not key or key.endswith("/"):
            raise ValueError(f"from_objects: object_uris[{n}] {uri!r} names no object "
                             f"(use from_prefix for a prefix)")
        table.append(bucket, key, -1)
    if not len(table):
        raise ValueError("from_objects: object_uris is empty")
    return table
