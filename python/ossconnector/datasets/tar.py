"""Tar archives with an index: random access to the members of one large
object on OSS.

Many small files packed into one uncompressed tar archive read much faster
than as separate objects; the *index* says where each member's bytes are, so
member ``i`` is one ranged GET and a run of neighbouring members is one
request.  :func:`generate_tar_archive` builds an archive and its index from
a local folder or an OSS prefix, or only the index of an existing archive.

Index format (version 1, all integers unsigned 64-bit little-endian)::

    offset  size        field
    0       8           magic b"OSSCTIDX"
    8       4           version = 1 (u32), then 4 bytes reserved (0)
    16      8           N: number of members
    24      8           archive size in bytes (checked against the archive)
    32      8           L: length of the names blob
    40      8*N         data offset of member i (first byte of its contents)
    40+8N   8*N         size of member i
    40+16N  8*(N+1)     start of member i's name in the blob (last = L)
    48+24N  L           names, UTF-8, concatenated (no separators)

Members are regular files, in archive order; names are as stored in the tar
(long and non-ASCII names through PAX headers).  Directories, links and
devices are not indexed.

Command line (also ``ossc tar``)::

    python -m ossconnector.datasets.tar --endpoint URL [--cred-path F] [--config-path F]
        [--region R] --tar-path TAR --index-path INDEX [--source-path DIR_OR_PREFIX]
        [--index-only] [--list]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import struct
import sys
import tarfile
from array import array
from typing import Any, Iterator, List, Optional, Sequence, Tuple

__all__ = ["generate_tar_archive", "TarIndex", "main"]

log = logging.getLogger(__name__)

MAGIC = b"OSSCTIDX"
VERSION = 1
_HEADER = struct.Struct("<8sII3Q")
_BLOCK = 512
_COPY_BUFSIZE = 4 << 20


def _padded(size: int) -> int:
    return (size + _BLOCK - 1) // _BLOCK * _BLOCK


def _u64(values=()) -> array:
    a = array("Q", values)
    if a.itemsize != 8:  # pragma: no cover - every platform we build for
        raise RuntimeError("array('Q') is not 64-bit here")
    return a


class TarIndex:
    """Member names, data offsets and sizes of one tar archive."""

    def __init__(self, archive_size: int = 0):
        self.archive_size = archive_size
        self._offsets = _u64()
        self._sizes = _u64()
        self._name_offsets = _u64([0])
        self._names = bytearray()

    def append(self, name: str, offset: int, size: int) -> None:
        self._offsets.append(offset)
        self._sizes.append(size)
        self._names += name.encode("utf-8", "surrogateescape")
        self._name_offsets.append(len(self._names))

    def __len__(self) -> int:
        return len(self._offsets)

    def name(self, i: int) -> str:
        return self._names[self._name_offsets[i]:self._name_offsets[i + 1]].decode(
            "utf-8", "surrogateescape")

    def offset(self, i: int) -> int:
        return self._offsets[i]

    def size(self, i: int) -> int:
        return self._sizes[i]

    def members(self) -> Iterator[Tuple[str, int, int]]:
        """(name, data offset, size) of every member, in archive order."""
        for i in range(len(self)):
            yield self.name(i), self._offsets[i], self._sizes[i]

    # -- serialisation ----------------------------------------------------

    def to_bytes(self) -> bytes:
        parts = [_HEADER.pack(MAGIC, VERSION, 0, len(self), self.archive_size, len(self._names))]
        for a in (self._offsets, self._sizes, self._name_offsets):
            if sys.byteorder != "little":  # pragma: no cover
                a = array("Q", a)
                a.byteswap()
            parts.append(a.tobytes())
        parts.append(bytes(self._names))
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<index>") -> "TarIndex":
        """Parses and checks an index; ValueError names ``source`` and what
        is wrong."""
        if len(data) < _HEADER.size or data[:8] != MAGIC:
            raise ValueError(f"tar index {source}: not an ossconnector tar index "
                             f"(bad magic; build one with generate_tar_archive)")
        magic, version, _, count, archive_size, names_len = _HEADER.unpack_from(data)
        if version != VERSION:
            raise ValueError(f"tar index {source}: version {version} is not supported "
                             f"(this library reads version {VERSION})")
        expect = _HEADER.size + 8 * (3 * count + 1) + names_len
        if len(data) != expect:
            raise ValueError(f"tar index {source}: {len(data)} bytes, expected {expect} for "
                             f"{count} members (truncated or corrupt)")
        index = cls(archive_size)
        pos = _HEADER.size
        arrays = []
        for n in (count, count, count + 1):
            a = _u64()
            a.frombytes(data[pos:pos + 8 * n])
            if sys.byteorder != "little":  # pragma: no cover
                a.byteswap()
            arrays.append(a)
            pos += 8 * n
        index._offsets, index._sizes, index._name_offsets = arrays
        index._names = bytearray(data[pos:])
        no = index._name_offsets
        if no[0] != 0 or no[-1] != names_len or any(no[i] > no[i + 1] for i in range(count)):
            raise ValueError(f"tar index {source}: name table is corrupt")
        for i in range(count):
            if index._offsets[i] + index._sizes[i] > archive_size:
                raise ValueError(f"tar index {source}: member {i} ({index.name(i)!r}) ends at "
                                 f"{index._offsets[i] + index._sizes[i]}, past the end of the "
                                 f"{archive_size}-byte archive")
        return index


# -- reading and writing local paths or oss:// URIs ------------------------

def _is_oss(path: str) -> bool:
    return isinstance(path, str) and path.startswith("oss://")


def load_index(client, index_path: str) -> TarIndex:
    """Reads an index from ``oss://`` or a local path."""
    if _is_oss(index_path):
        data = client.get(index_path)
    else:
        try:
            with open(index_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"tar index {index_path}: no such file") from None
    return TarIndex.from_bytes(data, index_path)


def _write_bytes(client, path: str, data: bytes) -> None:
    if _is_oss(path):
        client.put(path, data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def _open_for_reading(client, path: str):
    if _is_oss(path):
        return client.open(path)
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"tar archive {path}: no such file") from None


def index_archive(client, tar_path: str) -> TarIndex:
    """Builds the index of an existing uncompressed tar archive, reading only
    its headers (member data is skipped by seeking)."""
    with _open_for_reading(client, tar_path) as f:
        head = f.read(262)
        if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
            raise ValueError(f"tar archive {tar_path}: compressed archives have no random "
                             f"access; index an uncompressed .tar")
        f.seek(0, io.SEEK_END)
        archive_size = f.tell()
        f.seek(0)
        index = TarIndex(archive_size)
        try:
            tar = tarfile.open(fileobj=f, mode="r:")
        except tarfile.TarError as exc:
            raise ValueError(f"tar archive {tar_path}: not a tar archive ({exc})") from None
        with tar:
            while True:
                try:
                    member = tar.next()
                except tarfile.TarError as exc:
                    raise ValueError(f"tar archive {tar_path}: corrupt after {len(index)} "
                                     f"members ({exc})") from None
                if member is None:
                    break
                if member.isreg():
                    index.append(member.name, member.offset_data, member.size)
                tar.members.clear()  # the index holds what we need; keep memory flat
    return index


# -- building archives ------------------------------------------------------

def _local_sources(source: str) -> Iterator[Tuple[str, int, Any]]:
    """(member name, size, opener) for every regular file under ``source``,
    in sorted path order."""
    if not os.path.isdir(source):
        raise FileNotFoundError(f"generate_tar_archive: source_path {source}: "
                                f"no such directory")
    members = []
    for root, _, files in os.walk(source):
        for name in files:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                members.append(os.path.relpath(path, source).replace(os.sep, "/"))
    members.sort()
    for member in members:
        path = os.path.join(source, member)
        yield member, os.path.getsize(path), (lambda p=path: open(p, "rb"))


def _oss_sources(client, source: str, fast: bool, window: int) -> Iterator[Tuple[str, int, Any]]:
    """Objects under an OSS prefix, fetched ahead ``window`` at a time;
    member names are keys without the prefix's directory part."""
    from ._item import StreamObject, MemoryObject
    from ._listing import list_prefix
    from ._prefetch import DEFAULT_BUDGET, Fetch, prefetch
    from ..client import parse_uri

    table = list_prefix(client, source, fast)
    _, prefix = parse_uri(source)
    strip = prefix[:prefix.rfind("/") + 1]  # "train/img" -> "train/"; "img" -> ""

    def start(i):
        bucket, key, size, _ = table.entry(i)
        if size > DEFAULT_BUDGET:
            return StreamObject(client, bucket, key, size)
        return Fetch(client, bucket, key, 0, size)

    def finish(i, started):
        item = started if isinstance(started, StreamObject) else \
            MemoryObject(table.uri(i), started.result())
        return table.key(i)[len(strip):], item.size, (lambda it=item: it)

    yield from prefetch(range(len(table)), start, finish, window=window,
                        budget=DEFAULT_BUDGET, cost=lambda i: max(0, table.size(i)))


def _write_archive(out, sources) -> TarIndex:
    index = TarIndex()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      bufsize=1 << 20) as tar:
        tar.copybufsize = _COPY_BUFSIZE
        for name, size, opener in sources:
            info = tarfile.TarInfo(name)
            info.size = size
            info.mode = 0o644
            with opener() as f:
                tar.addfile(info, f)
            index.append(name, tar.offset - _padded(size), size)
        if not len(index):
            raise ValueError("generate_tar_archive: the source has no files to pack")
    return index


def generate_tar_archive(endpoint: str, cred_path: Optional[str], config_path: Optional[str],
                         tar_path: str, index_path: str, source_path: Optional[str] = None,
                         index_only: bool = False, cred_provider: Any = None,
                         region: Optional[str] = None) -> int:
    """Builds a tar archive and its index, or only the index.

    Args:
        endpoint, cred_path, config_path, cred_provider, region: how to reach
            OSS (as for the datasets; credentials may also come from the
            ``OSS_ACCESS_KEY_*`` environment variables).
        tar_path: the archive, an ``oss://`` URI or a local path.
        index_path: where the index goes (``oss://`` or local).
        source_path: a local folder or an ``oss://bucket/prefix/``; every
            regular file / object below it becomes a member named by its
            path relative to the folder (or to the prefix's directory).
        index_only: index the existing archive at ``tar_path`` instead.

    Returns the number of members.
    """
    from .._config import config_value, load_config
    from ..client import Client

    if not endpoint:
        raise ValueError("generate_tar_archive: endpoint must be non-empty")
    if not tar_path:
        raise ValueError("generate_tar_archive: tar_path must be an oss:// URI or a local path")
    if not index_path:
        raise ValueError("generate_tar_archive: index_path must be an oss:// URI or a local "
                         "path")
    if not index_only and not source_path:
        raise ValueError("generate_tar_archive: source_path is required unless index_only=True")
    client = Client(endpoint, cred_path=cred_path or None, cred_provider=cred_provider,
                    config_path=config_path or None, region=region, profile="dataset")
    try:
        if index_only:
            index = index_archive(client, tar_path)
        else:
            cfg = load_config(config_path or None)
            if _is_oss(source_path):
                sources = _oss_sources(client, source_path,
                                       config_value(cfg, "datasetConfig.enableFastList", False),
                                       config_value(cfg, "datasetConfig.prefetchConcurrency", 24))
            else:
                sources = _local_sources(source_path)
            if _is_oss(tar_path):
                with client.create(tar_path) as out:
                    index = _write_archive(out, sources)
                index.archive_size = client.stat(tar_path).size
            else:
                try:
                    with open(tar_path, "wb") as out:
                        index = _write_archive(out, sources)
                except BaseException:
                    os.unlink(tar_path)  # no half-written archive left behind
                    raise
                index.archive_size = os.path.getsize(tar_path)
        _write_bytes(client, index_path, index.to_bytes())
        log.info("tar index %s: %d members of %s", index_path, len(index), tar_path)
        return len(index)
    finally:
        client.close()


# -- fetching members ----------------------------------------------------------

def coalesce(index: TarIndex, members: Sequence[int], max_gap: int, max_bytes: int
             ) -> List[Tuple[int, int, List[int]]]:
    """Groups members into byte ranges to fetch: (start, end, members).
    Members are taken in archive order; a member joins the previous range
    when the gap to it is at most ``max_gap`` bytes (tar headers between
    neighbours are 512 bytes or a little more) and the range stays within
    ``max_bytes``."""
    groups: List[Tuple[int, int, List[int]]] = []
    for i in sorted(set(members), key=index.offset):
        start, end = index.offset(i), index.offset(i) + index.size(i)
        if groups:
            g_start, g_end, g_members = groups[-1]
            if start - g_end <= max_gap and end - g_start <= max_bytes and start >= g_end:
                groups[-1] = (g_start, end, g_members)
                g_members.append(i)
                continue
        groups.append((start, end, [i]))
    return groups


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ossconnector.datasets.tar",
        description="Build a tar archive and its index from a local folder or an OSS prefix, "
                    "or the index of an existing archive.")
    parser.add_argument("-ep", "--endpoint", required=True, help="OSS endpoint")
    parser.add_argument("--cred-path", help="JSON credential file (else OSS_ACCESS_KEY_* "
                                            "environment variables)")
    parser.add_argument("--config-path", help="config.json of the connector")
    parser.add_argument("--region", help="region for V4 signing, e.g. cn-hangzhou")
    parser.add_argument("--tar-path", required=True, help="archive: oss:// URI or local path")
    parser.add_argument("--index-path", required=True, help="index: oss:// URI or local path")
    parser.add_argument("--source-path", help="folder or oss:// prefix to pack")
    parser.add_argument("--index-only", action="store_true",
                        help="only index the existing archive at --tar-path")
    parser.add_argument("--list", action="store_true",
                        help="afterwards print the index: name, data offset, size")
    args = parser.parse_args(argv)
    if not args.index_only and not args.source_path:
        parser.error("--source-path is required unless --index-only is given")
    try:
        count = generate_tar_archive(args.endpoint, args.cred_path, args.config_path,
                                     args.tar_path, args.index_path, args.source_path,
                                     args.index_only, region=args.region)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{count} members indexed in {args.index_path}")
    if args.list:
        from ..client import Client

        with Client(args.endpoint, cred_path=args.cred_path, config_path=args.config_path,
                    region=args.region) as client:
            for name, offset, size in load_index(client, args.index_path).members():
                print(f"{name}\t{offset}\t{size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
