"""Manifest files: the list of a dataset's objects (and labels) kept in a
file instead of listed from OSS.

A manifest is read once, when the dataset is built, by a *parser*: any
callable ``parser(reader) -> Iterable[Tuple[str, label]]`` that receives the
open manifest (a binary file object: ``read()`` returns bytes; ``name`` is
the local path, or ``uri`` the ``oss://`` URI) and yields one
``(key, label)`` pair per object.  Each key is appended to the dataset's
``oss_base_uri`` (plain string concatenation, as in the product), or must
be a full ``oss://bucket/key`` URI when ``oss_base_uri`` is empty.
"""

from __future__ import annotations

import io
import logging
from typing import Callable, Iterable, Optional, Tuple

from ._table import KeyTable

__all__ = ["imagenet_manifest_parser"]

log = logging.getLogger(__name__)


def _manifest_name(reader) -> str:
    return str(getattr(reader, "uri", None) or getattr(reader, "name", None) or "<manifest>")


def imagenet_manifest_parser(reader: io.IOBase) -> Iterable[Tuple[str, str]]:
    """Parses ``key<TAB>label`` lines (``key`` alone: label ''), the layout
    of ImageNet-style manifests.  Blank lines are skipped; fields after the
    second are ignored.  A line that is not UTF-8 or has an empty key raises
    ValueError naming the manifest and the line number."""
    name = _manifest_name(reader)
    data = reader.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"manifest {name}, line {lineno}: not valid UTF-8 "
                             f"(byte {exc.start})") from None
        line = line.strip("\r\n")
        if not line.strip():
            continue
        fields = line.split("\t")
        key = fields[0].strip()
        if not key:
            raise ValueError(f"manifest {name}, line {lineno}: empty object key in {line!r}")
        yield key, (fields[1].strip() if len(fields) > 1 else "")


def read_manifest(client, manifest_path: str, parser: Callable, oss_base_uri: Optional[str]
                  ) -> KeyTable:
    """Opens the manifest (local path or ``oss://`` URI), runs ``parser`` on
    it and returns the dataset's table (sizes unknown).  Errors name the
    manifest; an entry that is not a (key, label) pair names its position."""
    from ..client import parse_uri
    from ._listing import check_oss_uri

    if not manifest_path:
        raise ValueError("from_manifest_file: manifest_file_path must be a non-empty path "
                         "or oss:// URI")
    if not callable(parser):
        raise TypeError(f"from_manifest_file: manifest_parser must be callable, "
                        f"not {type(parser).__name__}")
    manifest_path = str(manifest_path)
    base_bucket = base_prefix = None
    if oss_base_uri:
        if not str(oss_base_uri).startswith("oss://"):
            raise ValueError(f"from_manifest_file: oss_base_uri must start with oss://, "
                             f"got {oss_base_uri!r}")
        base_bucket, base_prefix = parse_uri(str(oss_base_uri))

    if manifest_path.startswith("oss://"):
        reader = client.open(manifest_path)
    else:
        try:
            reader = open(manifest_path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"manifest {manifest_path}: no such file") from None
    table = KeyTable()
    with reader:
        entries = parser(reader)
        if entries is None:
            raise TypeError(f"manifest {manifest_path}: manifest_parser returned None "
                            f"instead of an iterable of (key, label) pairs")
        try:
            for n, entry in enumerate(entries, 1):
                if isinstance(entry, (tuple, list)) and len(entry) == 2:
                    key, label = entry
                else:
                    raise ValueError(f"manifest {manifest_path}: entry {n} from the parser is "
                                     f"{entry!r}, expected a (key, label) pair")
                if not isinstance(key, str) or not key:
                    raise ValueError(f"manifest {manifest_path}: entry {n} has key {key!r}, "
                                     f"expected a non-empty str")
                if "\0" in key:
                    raise ValueError(f"manifest {manifest_path}: entry {n} key {key!r} "
                                     f"contains a NUL character")
                if base_bucket is not None:
                    table.append(base_bucket, base_prefix + key, -1, label)
                else:
                    if not key.startswith("oss://"):
                        raise ValueError(f"manifest {manifest_path}: entry {n} key {key!r} is "
                                         f"not an oss:// URI and no oss_base_uri was given")
                    bucket, obj = check_oss_uri(key, f"manifest {manifest_path}: entry {n}")
                    table.append(bucket, obj, -1, label)
        except TypeError as exc:
            if "unhashable" in str(exc):
                raise TypeError(f"manifest {manifest_path}: labels must be hashable "
                                f"(str or int): {exc}") from None
            raise
    if not len(table):
        log.warning("manifest %s lists no objects", manifest_path)
    return table
