"""Client: the Python face of the C engine.

One native client per process: it is created on first use and created
again in a child after ``fork`` (the parent's I/O threads do not exist
there), so a Client can be shared with DataLoader workers.
"""

from __future__ import annotations

import errno
import os
import threading
import weakref
from itertools import repeat
from typing import Iterator, List, Optional

from ._entry import ObjectEntry
from ._native import check, check_ptr, ffi, lib, new_error, readable_pointer
from ._pages import PageColumns, iter_pages, page_columns
from ._progress_callback import progress_sink
from . import _credentials  # noqa: F401  (registers the callback)

__all__ = ["Client", "parse_uri"]

_PROFILES = {
    "model": lib.OSSC_PROFILE_MODEL,
    "dataset": lib.OSSC_PROFILE_DATASET,
    "checkpoint": lib.OSSC_PROFILE_CHECKPOINT,
}

_live_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def _forget_native_after_fork() -> None:
    # The child has none of the parent's engine threads: drop (never free)
    # the inherited handles so the next call builds a fresh engine.
    for client in list(_live_clients):
        client._native = None
        client._native_pid = None
        client._lock = threading.Lock()
        for stream in list(client._streams):
            stream._forget_native()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_native_after_fork)


def parse_uri(uri: str) -> tuple[str, str]:
    """Splits ``oss://bucket/key`` into ``(bucket, key)``; key may be ''.
    A NUL anywhere is a ValueError: the engine takes C strings, so
    ``a\\0b`` would silently become ``a``, another object."""
    if not isinstance(uri, str):
        raise TypeError(f"OSS URI must be a str, not {type(uri).__name__}")
    if "\0" in uri:
        raise ValueError(f"invalid OSS URI {uri!r}: contains a NUL character")
    try:
        raw = uri.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no object has that name
        raise ValueError(f"invalid OSS URI {uri!r}: not valid Unicode ({exc.reason})") from None
    err = new_error()
    bucket = ffi.new("char[]", 64)
    key = ffi.new("char[]", 1024)
    check(lib.ossc_parse_uri(raw, bucket, 64, key, 1024, err), err)
    return ffi.string(bucket).decode(), ffi.string(key).decode("utf-8")


def _opt(value: Optional[str]):
    return ffi.NULL if value is None or value == "" else ffi.new("char[]", os.fsencode(value))


class Client:
    """A connection to one OSS endpoint.

    Args:
        endpoint: ``oss-cn-hangzhou.aliyuncs.com``, ``https://...`` or
            ``http://127.0.0.1:9000`` (no scheme means http).
        cred_path: JSON credential file (``AccessKeyId``,
            ``AccessKeySecret``, optional ``SecurityToken``/``Expiration``).
        cred_provider: an oss2 ``CredentialsProvider`` or any object with
            ``get_credentials()``; takes precedence over ``cred_path``.
            With neither, ``OSS_ACCESS_KEY_ID``/``OSS_ACCESS_KEY_SECRET``/
            ``OSS_SESSION_TOKEN`` are used.
        config_path: config.json (default ``$OSS_CONNECTOR_CONFIG`` or
            ``/etc/oss-connector/config.json`` when present).
        region: e.g. ``cn-hangzhou``; selects OSS V4 signing.  Inferred from
            ``oss-<region>.aliyuncs.com`` endpoints.
        profile: which config section sizes the I/O threads: ``"model"``
            (``prefetch.*``), ``"dataset"`` (``datasetConfig.*``) or
            ``"checkpoint"`` (``checkpointConfig.*``).
    """

    def __init__(self, endpoint: str, *, cred_path: Optional[str] = None,
                 cred_provider=None, config_path: Optional[str] = None,
                 region: Optional[str] = None, profile: str = "model"):
        if not endpoint:
            raise ValueError("Client: endpoint is required (e.g. 'oss-cn-hangzhou.aliyuncs.com')")
        if profile not in _PROFILES:
            raise ValueError(f"Client: profile must be one of {sorted(_PROFILES)}, not {profile!r}")
        self.endpoint = endpoint
        self.region = region
        self.cred_path = cred_path
        self.cred_provider = cred_provider
        self.config_path = config_path
        self.profile = profile
        self._native = None
        self._native_pid = None
        self._handle = None
        self._lock = threading.Lock()
        # Readers and writers hold native state that points into the engine:
        # close() releases theirs first, whatever order the GC picks.
        self._streams: "weakref.WeakSet" = weakref.WeakSet()
        _live_clients.add(self)
        self._get_native()  # fail fast on bad endpoint, credentials or config

    # -- lifecycle --------------------------------------------------------

    def _get_native(self):
        pid = os.getpid()
        native = self._native
        if native is not None and self._native_pid == pid:
            return native
        with self._lock:
            if self._native is not None and self._native_pid == pid:
                return self._native
            opts = ffi.new("ossc_client_options *")
            keep = [_opt(self.endpoint), _opt(self.region), _opt(self.cred_path),
                    _opt(self.config_path)]
            opts.endpoint, opts.region, opts.cred_path, opts.config_path = keep
            if self.cred_provider is not None:
                self._handle = ffi.new_handle(self.cred_provider)
                opts.cred_callback = lib._ossc_py_credentials
                opts.cred_userdata = self._handle
            opts.profile = _PROFILES[self.profile]
            err = new_error()
            native = lib.ossc_client_new(opts, err)
            check_ptr(native, err, "Client")
            self._native = native
            self._native_pid = pid
            return native

    def close(self) -> None:
        """Stops the engine's threads.  Open readers are closed and open
        writers aborted first (nothing half-written is committed)."""
        for stream in list(getattr(self, "_streams", ())):
            stream._release_native()
        with self._lock:
            if self._native is not None and self._native_pid == os.getpid():
                lib.ossc_client_free(self._native)
            self._native = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_native=None, _native_pid=None, _handle=None, _lock=None, _streams=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._streams = weakref.WeakSet()
        _live_clients.add(self)

    @property
    def concurrency(self) -> int:
        """Transfers the engine runs at once (threads x per-thread)."""
        return lib.ossc_client_concurrency(self._get_native())

    @property
    def part_size(self) -> int:
        """Bytes per ranged GET / upload part (config ``http.partSize``)."""
        return lib.ossc_client_part_size(self._get_native())

    # -- objects ----------------------------------------------------------

    def stat(self, uri: str) -> ObjectEntry:
        """HEAD of one object; FileNotFoundError when it does not exist."""
        bucket, key = parse_uri(uri)
        info = ffi.new("ossc_object_info *")
        err = new_error()
        check(lib.ossc_head(self._get_native(), bucket.encode(), key.encode("utf-8"), info, err),
              err)
        try:
            return ObjectEntry(bucket, key, info.size, info.mtime,
                               ffi.string(info.etag).decode("ascii", "replace"),
                               info.crc64 if info.has_crc64 else None)
        finally:
            lib.ossc_object_info_clear(info)

    def open(self, uri: str, *, size: Optional[int] = None, verify: str = "coverage"):
        """Opens an object for reading (see :class:`ObjectReader`).  Raises
        FileNotFoundError at once when it does not exist.  ``size`` skips
        the HEAD request when the caller already knows it.  ``verify``:
        ``"coverage"`` checks the bytes against the object's CRC-64 once
        the ranges read cover the object; ``"full"`` fetches and checks the
        whole object (held in memory) before returning any byte of it."""
        from .reader import ObjectReader

        bucket, key = parse_uri(uri)
        if size is None:
            size = self.stat(uri).size
        return ObjectReader(self, bucket, key, size, verify=verify)

    def create(self, uri: str, *, size: Optional[int] = None, progress=None):
        """Opens a writer; the object exists only after a clean close.
        ``progress``: see :meth:`put`; ``size`` (optional, bytes) is only
        the ``total`` handed to it."""
        from .writer import ObjectWriter

        bucket, key = parse_uri(uri)
        return ObjectWriter(self, bucket, key, progress=progress_sink(progress, size))

    def get(self, uri: str, *, progress=None) -> bytes:
        """The whole object, fetched with concurrent ranged GETs.
        ``progress``: see :meth:`put` (``total`` is the object's size)."""
        with self.open(uri) as reader:
            if progress is None:
                return reader.read()
            size = reader.size()
            sink = progress_sink(progress, size)
            buf = bytearray(size)
            view = memoryview(buf)
            step = max(1 << 20, self.part_size * max(1, self.concurrency))
            pos = 0
            while pos < size:
                got = reader.readinto(view[pos:pos + step])
                if got <= 0:
                    raise OSError(5, f"{uri}: object ended at byte {pos} of {size}")
                pos += got
                sink.advance(got)
            if size == 0:
                sink.advance(0)
            view.release()
            return bytes(buf)

    def put(self, uri: str, data, *, progress=None) -> None:
        """Uploads bytes-like data as one object.  Data smaller than one
        part (``part_size``) goes out as a single PUT straight from the
        caller's buffer (no part buffer, no copy: memory bounded by the
        data); larger data is a multipart upload.

        ``progress``: a callable ``progress(bytes_done, total)`` or a
        tqdm-like object with ``update(n)``; told of the bytes as the
        engine takes them (a single PUT reports once, when it succeeded).
        See docs/python-api.md, "Progress callbacks"."""
        mv = memoryview(data)
        if not mv.contiguous:
            mv = memoryview(mv.tobytes())
        mv = mv.cast("B")
        size = mv.nbytes
        sink = progress_sink(progress, size)
        if size < self.part_size:
            bucket, key = parse_uri(uri)
            ptr, n, keep = readable_pointer(mv)
            err = new_error()
            check(lib.ossc_put(self._get_native(), bucket.encode(), key.encode("utf-8"),
                               ptr, n, err), err)
            del ptr, keep
            if sink is not None:
                sink.advance(size)
            return
        step = self.part_size
        with self.create(uri) as writer:
            for pos in range(0, size, step):
                writer.write(mv[pos:pos + step])
                if sink is not None:
                    sink.advance(min(step, size - pos))

    def delete(self, uri: str) -> None:
        bucket, key = parse_uri(uri)
        err = new_error()
        check(lib.ossc_delete(self._get_native(), bucket.encode(), key.encode("utf-8"), err), err)

    def copy(self, src_uri: str, dst_uri: str) -> None:
        """Server-side copy."""
        sb, sk = parse_uri(src_uri)
        db, dk = parse_uri(dst_uri)
        err = new_error()
        check(lib.ossc_copy(self._get_native(), sb.encode(), sk.encode("utf-8"), db.encode(),
                            dk.encode("utf-8"), err), err)

    # -- listing ----------------------------------------------------------

    def list_buckets(self) -> List[str]:
        """Names of the buckets these credentials own (ListBuckets on the
        endpoint), sorted."""
        native = self._get_native()
        cap = 16 << 10
        while True:
            out = ffi.new("char[]", cap)
            needed = ffi.new("size_t *")
            err = new_error()
            rc = lib.ossc_list_buckets(native, out, cap, needed, err)
            if rc < 0 and err.code == errno.ERANGE and needed[0] > cap:
                cap = needed[0]
                continue
            check(rc, err)
            return sorted(n for n in ffi.string(out).decode("ascii").split("\n") if n)

    def list(self, uri: str, fast: bool = False) -> Iterator[ObjectEntry]:
        """Objects under ``oss://bucket/prefix``, in key order (``fast=True``
        lists concurrently by splitting the key space; order not
        guaranteed).  Lazily pages through the listing unless fast; the
        next page is already being fetched while one is consumed."""
        bucket, prefix = parse_uri(uri)
        native = self._get_native()
        if fast:
            result = ffi.new("ossc_list_result **")
            err = new_error()
            check(lib.ossc_list_all(native, bucket.encode(), prefix.encode("utf-8"), 1, result,
                                    err), err)
            try:
                page = page_columns(result[0])
            finally:
                lib.ossc_list_result_free(result[0])
            yield from _entries(bucket, page)
            return
        for page in iter_pages(native, bucket, prefix):
            yield from _entries(bucket, page)

    def __repr__(self):
        return f"Client(endpoint={self.endpoint!r}, region={self.region!r}, profile={self.profile!r})"


def _entries(bucket: str, page: PageColumns) -> List[ObjectEntry]:
    # map() over the columns: no Python-level loop per entry
    return list(map(ObjectEntry, repeat(bucket), page.keys, page.sizes, page.mtimes,
                    page.etags))
