"""Checksums of local files, to compare them with objects: CRC-64/ECMA
(what OSS returns as x-oss-hash-crc64ecma) computed by the engine's CRC,
and MD5 (what a simple PUT's ETag is).  Memory: one 1 MiB buffer per call;
the engine's CRC runs without the GIL, so several files hash in parallel."""

from __future__ import annotations

import hashlib

from .._native import ffi, lib

__all__ = ["file_crc64", "file_md5"]

_CHUNK = 1 << 20


def _chunks(path: str):
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                return
            yield view[:n]


def file_crc64(path: str) -> int:
    crc = 0
    for chunk in _chunks(path):
        crc = lib.ossc_crc64(crc, ffi.from_buffer(chunk), len(chunk))
    return crc


def file_md5(path: str) -> str:
    h = hashlib.md5()
    for chunk in _chunks(path):
        h.update(chunk)
    return h.hexdigest()
