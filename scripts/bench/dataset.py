"""Benchmark objects on local disk: one large object and many small ones.

Files are laid out as ``<root>/<bucket>/<key>`` so that :class:`servers.Nginx`
serves them at the path-style URL ``/<bucket>/<key>``.  The content is
pseudo-random (incompressible, reproducible from the seed) and the CRC-64 of
every object is computed while writing, so the server can send
``x-oss-hash-crc64ecma`` as OSS does and readers can be checked against the
files byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "make_dataset"]

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

    def warm_page_cache(self) -> None:
        """Reads every file once so that all runs are served from memory."""
        for key in [self.big_key, *self.small_keys]:
            with open(self.path(key), "rb", buffering=0) as f:
                while f.read(_CHUNK):
                    pass


def _write_big(path: Path, size: int, rng: np.random.Generator) -> int:
    crc = _crc64()
    with open(path, "wb") as f:
        for start in range(0, size, _CHUNK):
            chunk = rng.bytes(min(_CHUNK, size - start))
            crc.update(chunk)
            f.write(chunk)
    return crc.crcValue


def _write_small(directory: Path, prefix: str, count: int, size: int,
                 rng: np.random.Generator) -> tuple[list[str], np.ndarray, dict[str, int]]:
    data = np.frombuffer(rng.bytes(count * size), dtype=np.uint8)
    keys, crcs = [], {}
    for i in range(count):
        key = f"{prefix}{i:06d}"
        body = data[i * size:(i + 1) * size]
        (directory / key).write_bytes(body)
        crc = _crc64()
        crc.update(body.tobytes())
        keys.append(key)
        crcs[key] = crc.crcValue
    return keys, data, crcs


def make_dataset(root: str | Path, *, big_size: int, small_count: int, small_size: int,
                 bucket: str = "bench", seed: int = 20240801) -> Dataset:
    """Writes ``big.bin`` (``big_size`` bytes) and ``small/000000`` ...
    (``small_count`` x ``small_size`` bytes) into ``root/bucket``."""
    root = Path(root)
    bucket_dir = root / bucket
    (bucket_dir / "small").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    big_key = "big.bin"
    big_crc = _write_big(bucket_dir / big_key, big_size, rng)
    keys, data, crcs = _write_small(bucket_dir, "small/", small_count, small_size, rng)
    crcs[big_key] = big_crc
    return Dataset(root, bucket, big_key, big_size, keys, small_size, data, crcs)
