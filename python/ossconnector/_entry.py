"""ObjectEntry: what listing and stat return."""

from __future__ import annotations

import sys
from typing import Optional
from dataclasses import dataclass

__all__ = ["ObjectEntry"]

# Listings build one entry per key: __slots__ makes that about a third
# cheaper (dataclass(slots=...) exists from Python 3.10).
_SLOTS = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclass(frozen=True, **_SLOTS)
class ObjectEntry:
    """One object: ``key`` is the key inside ``bucket`` (no leading slash)."""

    bucket: str
    key: str
    size: int
    mtime: int = 0
    etag: str = ""
    #: CRC-64/ECMA of the object (x-oss-hash-crc64ecma) when a HEAD
    #: returned one (``Client.stat``); listings do not carry it.
    crc64: Optional[int] = None

    @property
    def uri(self) -> str:
        return f"oss://{self.bucket}/{self.key}"
