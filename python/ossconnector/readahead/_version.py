"""The version of an object that a reader's GETs are pinned to.

The first GET to finish names the version (its ETag); every GET started
after it asks for that version only (``If-Match``, the engine's
``ossc_get_async_version``: a replaced object is refused with ESTALE), and
one that was already running is compared here when it lands.  So one
reader never hands out bytes of two versions, whether or not the store
sends a CRC-64 to check them against (Mountpoint pins a file handle the
same way).
"""

from __future__ import annotations

import errno
import threading
from typing import Optional

from ..errors import OssError

__all__ = ["ObjectVersion", "same_etag"]


class ObjectVersion:
    """The version of ``uri`` that GETs sharing this are pinned to: its
    ETag (without quotes), None until the first GET finishes.  One per
    reader by default; a DCP load shares one per object (through its
    :class:`~ossconnector.readahead._crc.ObjectCheck`) between its batches
    and large items."""

    __slots__ = ("uri", "etag", "_lock")

    def __init__(self, uri: str):
        self.uri = uri
        self.etag: Optional[str] = None
        self._lock = threading.Lock()  # GETs of one object may land on several threads

    def settle(self, etag: str) -> None:
        """A GET finished with bytes of version ``etag`` ("" when the
        server named none): the first pins it, any other raises ESTALE."""
        if not etag:
            return
        with self._lock:
            if self.etag is None:
                self.etag = etag
            pinned = self.etag
        if not same_etag(etag, pinned):
            raise OssError(errno.ESTALE, f"{self.uri}: the object was replaced while being read "
                                         f"(ETag \"{pinned}\", then \"{etag}\")")


def same_etag(a: str, b: str) -> bool:
    """Whether two ETags name one version: quotes, a proxy's weak ``W/``
    prefix and letter case aside (as the engine's ossc_etag_same)."""
    def norm(e: str) -> str:
        return (e[2:] if e.startswith("W/") else e).strip('"').lower()
    return norm(a) == norm(b)
