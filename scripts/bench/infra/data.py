"""Benchmark objects on local disk: one large object and many small ones.

Files are laid out as ``<root>/<bucket>/<key>`` so that :class:`servers.Nginx`
serves them at the path-style URL ``/<bucket>/<key>``.  The content is
pseudo-random (incompressible, reproducible from the seed) and the CRC-64 of
every object is computed while writing, so the server can send
``x-oss-hash-crc64ecma`` as OSS does and readers can be checked against the
files byte for byte.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "PageCachePin", "make_dataset", "write_random", "file_sum",
           "make_list_keys"]

_CHUNK = 64 << 20
_CRC64_POLY = 0x142F0E1EBA9EA3693  # CRC-64/ECMA-182, as OSS computes it


def _crc64():
    """A fresh CRC-64/ECMA-182 accumulator (crcmod, which oss2 depends on)."""
    import crcmod

    return crcmod.Crc(_CRC64_POLY, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF)


@dataclass
class Dataset:
    """The objects written by :func:`make_dataset`."""

    root: Path
    bucket: str
    big_key: str
    big_size: int
    small_keys: list[str]
    small_size: int
    small_data: np.ndarray  # every small object, concatenated in key order
    crc64: dict[str, int] = field(default_factory=dict)  # key -> CRC-64/ECMA

    def path(self, key: str) -> Path:
        return self.root / self.bucket / key

    def uri(self, key: str) -> str:
        return f"oss://{self.bucket}/{key}"

    @property
    def small_total(self) -> int:
        return len(self.small_keys) * self.small_size

    def big_reference(self) -> np.ndarray:
        """The large object's bytes, mapped from the file (page cache)."""
        return np.memmap(self.path(self.big_key), dtype=np.uint8, mode="r")

    def pin_in_page_cache(self) -> "PageCachePin":
        """Maps every file read-only and locks it in memory (page cache warm
        for every run, even where the kernel pages out cold file pages)."""
        return PageCachePin([self.path(k) for k in [self.big_key, *self.small_keys]])


class PageCachePin:
    """Read-only mappings of files locked with mlock(2): their pages stay in
    the page cache until :meth:`release`.  Where mlock is not permitted the
    files are only read once (``locked`` is then False)."""

    def __init__(self, paths: list[Path]):
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._maps: list[np.memmap] = []
        self.locked = True
        for path in paths:
            m = np.memmap(path, dtype=np.uint8, mode="r")
            if self.locked and self._libc.mlock(ctypes.c_void_p(m.ctypes.data),
                                                ctypes.c_size_t(m.size)) != 0:
                self.locked = False
            if not self.locked:
                _read_all(path)
            self._maps.append(m)

    def release(self) -> None:
        for m in self._maps:
            if self.locked:
                self._libc.munlock(ctypes.c_void_p(m.ctypes.data), ctypes.c_size_t(m.size))
            m._mmap.close()
        self._maps = []

    def __enter__(self) -> "PageCachePin":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_all(path: Path) -> None:
    with open(path, "rb", buffering=0) as f:
        while f.read(_CHUNK):
            pass


class _NoCrc:
    """Stands in for the CRC accumulator when no CRC is wanted."""

    crcValue = None

    def update(self, data) -> None:
        pass


def _write_big(path: Path, size: int, rng: np.random.Generator, crc) -> None:
    with open(path, "wb") as f:
        for start in range(0, size, _CHUNK):
            chunk = rng.bytes(min(_CHUNK, size - start))
            crc.update(chunk)
            f.write(chunk)


def _write_small(directory: Path, keys: list[str], size: int, rng: np.random.Generator,
                 new_crc) -> tuple[np.ndarray, dict]:
    data = np.frombuffer(rng.bytes(len(keys) * size), dtype=np.uint8)
    crcs = {}
    for i, key in enumerate(keys):
        body = data[i * size:(i + 1) * size]
        (directory / key).write_bytes(body)
        crc = new_crc()
        crc.update(body)
        crcs[key] = crc.crcValue
    return data, crcs


def make_dataset(root: str | Path, *, big_size: int, small_count: int, small_size: int,
                 with_crc: bool = False, bucket: str = "bench",
                 seed: int = 20240801) -> Dataset:
    """Writes ``big.bin`` (``big_size`` bytes) and ``small/000000`` ...
    (``small_count`` x ``small_size`` bytes) into ``root/bucket``, then
    flushes them to disk so write-back does not overlap the measurements.
    ``with_crc`` also computes every object's CRC-64 (about 0.5 GB/s)."""
    root = Path(root)
    bucket_dir = root / bucket
    (bucket_dir / "small").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    new_crc = _crc64 if with_crc else _NoCrc
    big_key, big_crc = "big.bin", new_crc()
    _write_big(bucket_dir / big_key, big_size, rng, big_crc)
    keys = [f"small/{i:06d}" for i in range(small_count)]
    data, crcs = _write_small(bucket_dir, keys, small_size, rng, new_crc)
    crcs[big_key] = big_crc.crcValue
    os.sync()
    return Dataset(root, bucket, big_key, big_size, keys, small_size, data,
                   crcs if with_crc else {})


def write_random(path: Path, size: int, seed: int = 3) -> None:
    """``size`` pseudo-random bytes (reproducible from ``seed``) into ``path``."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start in range(0, size, 64 << 20):
            f.write(rng.bytes(min(64 << 20, size - start)))


def file_sum(path: Path) -> str:
    """The 64-bit wrap-around sum of a file's little-endian 64-bit words (the
    tail zero-padded), as a string: the check value the workers compare
    what they read with."""
    a = np.memmap(path, dtype=np.uint8, mode="r")
    n = a.size - a.size % 8
    total = int(a[:n].view(np.uint64).sum(dtype=np.uint64))
    tail = bytes(a[n:])
    if tail:
        total = (total + int.from_bytes(tail + b"\0" * (8 - len(tail)), "little")) % (1 << 64)
    return str(total)


def make_list_keys(root: Path, bucket: str, count: int) -> str:
    """``count`` one-byte files under ``root/<bucket>/list<count>/`` in
    2-level keys like a dataset's (``list100000/0012/00012345``), written
    once (a marker beside ``root`` says they are complete); the prefix."""
    prefix = f"list{count}/"
    d = root / bucket / prefix
    marker = root.parent / f"list{count}.complete"
    if not marker.exists():
        d.mkdir(parents=True, exist_ok=True)
        for i in range(count):   # 2-level keys like a dataset: list/0012/00123456
            sub = d / f"{i // 1000:04d}"
            if i % 1000 == 0:
                sub.mkdir(exist_ok=True)
            (sub / f"{i:08d}").write_bytes(b"x")
        marker.write_text("")
    return prefix
