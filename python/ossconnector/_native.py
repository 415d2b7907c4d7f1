"""The one place that talks to the cffi extension.

Every native call goes through :func:`check`, which turns a filled
``ossc_error`` into the matching :mod:`ossconnector.errors` exception.
"""

from __future__ import annotations

from ._ossc_ffi import ffi, lib  # noqa: F401  (re-exported for the package)
from .errors import error_from_native


def new_error():
    return ffi.new("ossc_error *")


def check(rc, err, what: str = ""):
    """Returns rc, or raises the exception described by err when rc < 0."""
    if rc < 0:
        raise error_from_native(
            err.code,
            ffi.string(err.message).decode("utf-8", "replace"),
            http_status=err.http_status,
            oss_code=ffi.string(err.oss_code).decode("ascii", "replace"),
            request_id=ffi.string(err.request_id).decode("ascii", "replace"),
            context=what,
        )
    return rc


def check_ptr(ptr, err, what: str = ""):
    """Returns ptr, or raises when it is NULL."""
    if ptr == ffi.NULL:
        check(-1, err, what)
    return ptr


def writable_pointer(buf):
    """(cdata pointer, length in bytes, keepalive) for any writable buffer:
    bytearray, memoryview, numpy array, mmap, or a contiguous CPU torch
    tensor (its memory is written directly)."""
    if hasattr(buf, "data_ptr") and hasattr(buf, "element_size"):
        if getattr(buf, "device", None) is not None and buf.device.type != "cpu":
            raise ValueError("readinto: tensor must be on the CPU")
        if not buf.is_contiguous():
            raise ValueError("readinto: tensor must be contiguous")
        nbytes = buf.numel() * buf.element_size()
        return ffi.cast("void *", buf.data_ptr()), nbytes, buf
    mv = memoryview(buf)
    if mv.readonly:
        raise TypeError("readinto: buffer is read-only")
    if not mv.contiguous:
        raise ValueError("readinto: buffer must be contiguous")
    mv = mv.cast("B")
    return ffi.from_buffer(mv, require_writable=True), mv.nbytes, mv


def readable_pointer(data):
    """(cdata pointer, length in bytes, keepalive) for any bytes-like object."""
    mv = memoryview(data)
    if not mv.contiguous:
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B")
    return ffi.from_buffer(mv), mv.nbytes, mv
