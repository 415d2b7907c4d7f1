"""ObjectEntry: what listing and stat return."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ObjectEntry"]


@dataclass(frozen=True)
class ObjectEntry:
    """One object: ``key`` is the key inside ``bucket`` (no leading slash)."""

    bucket: str
    key: str
    size: int
    mtime: int = 0
    etag: str = ""

    @property
    def uri(self) -> str:
        return f"oss://{self.bucket}/{self.key}"
