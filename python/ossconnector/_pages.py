"""Listing pages from the engine, converted to Python a page at a time.

Reading four fields of every entry through cffi costs more than the engine
spends listing it, so a page crosses as columns: one blob of NUL-separated
keys (decoded and split in two calls), one of etags, and the sizes and
mtimes as arrays (``ffi.unpack``).  Sequential listings go through the
engine's lister, which already has the next page in flight while this side
converts the current one.
"""

from __future__ import annotations

from typing import Iterator, List, NamedTuple

from ._native import check, check_ptr, ffi, lib, new_error

__all__ = ["PageColumns", "page_columns", "iter_pages"]


class PageColumns(NamedTuple):
    """One page's entries, column by column (same length, same order).
    Keys are ``str`` (undecodable bytes kept as surrogates) or, with
    ``raw_keys``, the UTF-8 ``bytes`` the server sent."""

    keys: list
    sizes: List[int]
    mtimes: List[int]
    etags: List[str]


def page_columns(result, what: str = "", raw_keys: bool = False) -> PageColumns:
    """The entries of an ``ossc_list_result *`` as :class:`PageColumns`."""
    cols = ffi.new("ossc_list_columns *")
    err = new_error()
    check(lib.ossc_list_result_columns(result, cols, err), err, what)
    try:
        n = cols.count
        if not n:
            return PageColumns([], [], [], [])
        # n NUL-terminated strings back to back: split(sep, n) leaves one
        # empty piece after the last NUL, which [:n] drops.
        keys = ffi.unpack(cols.keys, cols.keys_len)
        if not raw_keys:
            keys = keys.decode("utf-8", "surrogateescape")
        keys = keys.split("\0" if not raw_keys else b"\0", n)[:n]
        etags = ffi.unpack(cols.etags, cols.etags_len).decode("ascii", "replace")
        return PageColumns(keys, ffi.unpack(cols.sizes, n), ffi.unpack(cols.mtimes, n),
                           etags.split("\0", n)[:n])
    finally:
        lib.ossc_list_columns_free(cols)


def iter_pages(native, bucket: str, prefix: str, what: str = "",
               raw_keys: bool = False) -> Iterator[PageColumns]:
    """Every page of the ListObjectsV2 listing of ``prefix`` in ``bucket``,
    in key order.  The engine's lister is closed (a request still in flight
    cancelled) when the iterator ends, fails or is dropped."""
    for name, value in (("bucket", bucket), ("prefix", prefix)):
        if "\0" in value:
            raise ValueError(f"list: {name} {value!r} contains a NUL character")
    err = new_error()
    lister = check_ptr(lib.ossc_list_open(native, bucket.encode(), prefix.encode("utf-8"),
                                          ffi.NULL, 1000, err), err, what)
    try:
        out = ffi.new("ossc_list_result **")
        while check(lib.ossc_list_next(lister, out, err), err, what) > 0:
            try:
                page = page_columns(out[0], what, raw_keys)
            finally:
                lib.ossc_list_result_free(out[0])
            yield page
    finally:
        lib.ossc_list_close(lister)
