"""A model directory prepared in this process (``prepare_directory``).

A thin owner of the native session (``ossc_dir_*`` in ``ossc_dir.h``): the
directory is mirrored and the shared cache attached by C; this object
waits for the download in symlinks mode (in short slices, so Ctrl-C
works), hands credentials from a Python provider to the engine, and ends
the session exactly once (``close()``, garbage collection, or interpreter
exit).

Ctrl-C cannot part a session from its owner: opening it and recording that
it is open (and closing it and recording that) happen with SIGINT held back
(``_interrupts``), so a KeyboardInterrupt lands either before the session
exists or where ``close()`` is already due to end it.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import weakref
from typing import Optional

from .._interrupts import deferred_interrupts
from .._native import check, ffi, lib, new_error
from ..errors import OssError, error_from_native

__all__ = ["PreparedDirectory"]

_log = logging.getLogger("ossconnector")
_WAIT_SLICE_MS = 200
_CRED_REFRESH_S = 30.0


def _credentials_from(provider):
    """(id, secret, token, expiration) from an oss2-style provider or a
    callable returning credentials."""
    getter = getattr(provider, "get_credentials", None)
    creds = getter() if getter is not None else provider()

    def field(*names):
        for name in names:
            value = getattr(creds, name, None)
            if value:
                return value
        return ""

    expiration = getattr(creds, "expiration", 0)
    return (field("access_key_id", "AccessKeyId"), field("access_key_secret", "AccessKeySecret"),
            field("security_token", "SecurityToken"),
            int(expiration) if isinstance(expiration, (int, float)) else 0)


def _push_credentials(provider) -> None:
    key_id, secret, token, expiration = _credentials_from(provider)
    c = ffi.new("ossc_credentials *")
    for dst, value, name in ((c.access_key_id, key_id, "access_key_id"),
                             (c.access_key_secret, secret, "access_key_secret"),
                             (c.security_token, token, "security_token")):
        raw = value.encode("utf-8")
        if len(raw) >= ffi.sizeof(dst):
            raise ValueError(f"credential field {name} is longer than {ffi.sizeof(dst) - 1} bytes")
        ffi.memmove(dst, raw, len(raw))
    c.expiration = expiration
    lib.ossc_dir_set_credentials(c)


def _raise(err, what: str):
    code = err.code
    message = ffi.string(err.message).decode("utf-8", "replace")
    if code == errno.EEXIST:
        raise FileExistsError(errno.EEXIST, f"{what}: {message}")
    if code in (errno.ENOSPC, errno.EBUSY, errno.ENOTSUP):
        raise OssError(code, f"{what}: {message}")
    raise error_from_native(code, message, context=what)


def _c_str(value: Optional[str], keep: list):
    if value is None or value == "":
        return ffi.NULL
    if "\0" in value:  # C would see only the part before it: another object or path
        raise ValueError(f"{value!r} contains a NUL character")
    s = ffi.new("char[]", os.fsencode(value))
    keep.append(s)
    return s


class _Session:
    """The native session's lifetime, shared with the finalizer."""

    def __init__(self):
        self.open = False
        self.stop = threading.Event()
        self.refresher: Optional[threading.Thread] = None

    def close(self) -> None:
        self.stop.set()
        with deferred_interrupts():  # closed and recorded as closed, or neither
            if self.open:
                err = new_error()
                rc = lib.ossc_dir_close(err)
                self.open = False
                check(rc, err, "prepare_directory: close")
        t = self.refresher
        if t is not None and t is not threading.current_thread():
            t.join()


class PreparedDirectory:
    """``uri`` mirrored into ``path`` for this process.

    Args:
        client: the connector's :class:`ossconnector.Client` (endpoint,
            region, credentials and config are taken from it).
        hooks: False = fetch every large file, then link it from the
            directory (returns when all are in memory); True = in-process
            hooks, returns at once.
        lazy: hooks only; fetch a file when it is first opened (None: the
            ``OSSC_LAZY`` environment variable, default off).
        release_delay, memory_limit, small_file_size, cache_dir: see
            docs/model_connector.md; None takes the environment variable or
            the default.
    """

    def __init__(self, client, uri: str, path: str, *, hooks: bool, lazy: Optional[bool] = None,
                 release_delay: Optional[float] = None, memory_limit: Optional[int] = None,
                 small_file_size: Optional[int] = None, cache_dir: Optional[str] = None):
        self.uri = uri
        self.path = os.path.abspath(os.fspath(path))
        self.hooks = bool(hooks)
        self._session = _Session()
        keep: list = []
        copts = ffi.new("ossc_client_options *")
        copts.endpoint = _c_str(client.endpoint, keep)
        copts.region = _c_str(client.region, keep)
        copts.cred_path = _c_str(client.cred_path, keep)
        copts.config_path = _c_str(client.config_path, keep)
        opts = ffi.new("ossc_dir_options *")
        opts.uri = _c_str(uri, keep)
        opts.dir = _c_str(self.path, keep)
        opts.mode = lib.OSSC_DIR_HOOKS if hooks else lib.OSSC_DIR_SYMLINKS
        opts.lazy = -1 if lazy is None else int(bool(lazy))
        opts.small_file_size = -1 if small_file_size is None else _positive(
            small_file_size, "small_file_size")
        opts.memory_limit = -1 if memory_limit is None else _positive(memory_limit, "memory_limit")
        opts.release_delay_s = -1 if release_delay is None else _delay(release_delay)
        opts.cache_root = _c_str(None if cache_dir is None else os.fspath(cache_dir), keep)
        provider = client.cred_provider
        if provider is not None:
            opts.pushed_credentials = 1
            _push_credentials(provider)
        what = f"prepare_directory({uri!r}, {self.path!r})"
        # Registered first: close() ends the session whenever it is open,
        # and is a no-op before.
        self._finalizer = weakref.finalize(self, self._session.close)
        try:
            with deferred_interrupts():  # a session is open exactly when it is recorded
                err = new_error()
                if lib.ossc_dir_prepare(copts, opts, err) < 0:
                    _raise(err, what)
                self._session.open = True
                if provider is not None:
                    self._session.refresher = threading.Thread(
                        target=_refresh, args=(provider, self._session.stop), daemon=True,
                        name="ossc-dir-credentials")
                    self._session.refresher.start()
            self._wait(what)
        except BaseException:
            self.close()
            raise

    def _wait(self, what: str) -> None:
        done = ffi.new("uint64_t *")
        total = ffi.new("uint64_t *")
        while True:
            err = new_error()
            rc = lib.ossc_dir_wait(_WAIT_SLICE_MS, done, total, err)
            if rc < 0:
                _raise(err, what)
            if rc == 1:
                return

    @property
    def hooked_entries(self) -> int:
        """GOT entries redirected right now (0 without hooks)."""
        return lib.ossc_dir_hooked_slots()

    @property
    def closed(self) -> bool:
        return not self._session.open

    def close(self) -> None:
        """Removes the hooks, unpins the cache and detaches (idempotent)."""
        self._finalizer()


def _refresh(provider, stop: threading.Event) -> None:
    while not stop.wait(_CRED_REFRESH_S):
        try:
            _push_credentials(provider)
        except Exception as exc:  # the engine keeps the last credentials it was given
            _log.warning("credentials provider %s failed: %s", type(provider).__name__, exc)


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"prepare_directory: {name} must be a positive number of bytes, "
                         f"not {value!r}")
    return value


def _delay(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
        raise ValueError(f"prepare_directory: release_delay must be 0..86400 seconds, "
                         f"not {value!r}")
    return int(value)
