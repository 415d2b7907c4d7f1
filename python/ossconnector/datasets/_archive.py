"""Streaming the members of archive shards without an index
(webdataset-style), for :meth:`OssIterableDataset.from_archives`.

A ``.tar`` (also ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``) is read
front to back through one :class:`ObjectReader` (read-ahead keeps the next
chunk in flight); a ``.zip`` is read through its central directory (ranged
reads).  Any other object is one item, whole, as the S3 plugin did.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from typing import Iterator

from ._item import MemoryObject

__all__ = ["archive_kind", "iter_members"]

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_READ_BUFFER = 1 << 20


def archive_kind(key: str) -> str:
    """'tar', 'zip' or 'object' from the key's suffix."""
    lower = key.lower()
    if lower.endswith(_TAR_SUFFIXES):
        return "tar"
    if lower.endswith(".zip"):
        return "zip"
    return "object"


def iter_members(client, bucket: str, key: str, size: int) -> Iterator[MemoryObject]:
    """The regular-file members of the archive ``oss://bucket/key`` as
    in-memory items (``key`` = member name, ``archive`` = the shard URI)."""
    uri = f"oss://{bucket}/{key}"
    kind = archive_kind(key)
    if kind == "object":
        yield MemoryObject(uri, client.get(uri))
        return
    from ..reader import ObjectReader

    reader = ObjectReader(client, bucket, key, size if size >= 0 else client.stat(uri).size)
    with reader:
        if kind == "zip":
            try:
                archive = zipfile.ZipFile(reader)
            except (zipfile.BadZipFile, ValueError) as exc:  # ValueError: shorter than a
                # zip end record (ObjectReader refuses negative seeks with ValueError)
                raise ValueError(f"{uri}: not a zip archive ({exc})") from None
            with archive:
                for info in archive.infolist():
                    if not info.is_dir():
                        yield MemoryObject(info.filename, archive.read(info), archive=uri)
            return
        buffered = io.BufferedReader(reader, _READ_BUFFER)
        try:
            tar = tarfile.open(fileobj=buffered, mode="r|*")
        except tarfile.TarError as exc:
            raise ValueError(f"{uri}: not a tar archive ({exc})") from None
        with tar:
            while True:
                try:
                    member = tar.next()
                except tarfile.TarError as exc:
                    raise ValueError(f"{uri}: corrupt tar archive ({exc})") from None
                if member is None:
                    break
                if member.isreg():
                    data = tar.extractfile(member).read()
                    yield MemoryObject(member.name, data, archive=uri)
                tar.members.clear()  # streaming: keep no per-member state
