"""OssFileSystem: PyTorch Distributed Checkpoint (DCP) on OSS.

    fs = OssFileSystem(endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    DCP.save(state_dict, storage_writer=fs.writer("oss://bucket/ckpt/step-100"))
    DCP.load(state_dict, storage_reader=fs.reader("oss://bucket/ckpt/step-100"))

A checkpoint URI names a "directory": ``<uri>/.metadata`` plus one or more
``<uri>/__<rank>_<save>_<n>.distcp`` data objects.  Data objects get fresh
names on every save and ``.metadata`` is committed last with one atomic
PUT, so a checkpoint is either the previous complete one or the new
complete one, never a mix; data objects no longer referenced are deleted
after the commit.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, List, Union

from torch.distributed.checkpoint.filesystem import FileSystemBase

from ..client import Client, parse_uri
from ._dcp_storage import OssStorageReader, OssStorageWriter
from .reader import CheckpointReader
from .writer import CheckpointWriter

__all__ = ["OssFileSystem", "OssDCPFileSystem", "OssStorageWriter", "OssStorageReader"]

PathLike = Union[str, "os.PathLike[str]"]


class OssFileSystem(FileSystemBase):
    """The OSS side of DCP: a ``torch.distributed.checkpoint``
    ``FileSystemBase`` (streams, paths, existence) plus factories of
    storage writers and readers.

    The arguments are those of :class:`~ossconnector.checkpoint.OssCheckpoint`
    (``endpoint``, ``cred_path``, ``config_path``, ``cred_provider``,
    ``region``); the connection uses the ``checkpointConfig`` section of the
    config.  Each rank builds its own ``OssFileSystem``; the object also
    pickles.  Intended for DCP, not as a general file system.
    """

    def __init__(self, endpoint: str, cred_path: str = "", config_path: str = "",
                 cred_provider: Any = None, region: str = ""):
        if not endpoint:
            raise ValueError("OssFileSystem: endpoint must be non-empty "
                             "(e.g. 'http://oss-cn-beijing-internal.aliyuncs.com')")
        self.client = Client(endpoint, cred_path=cred_path or None, cred_provider=cred_provider,
                             config_path=config_path or None, region=region or None,
                             profile="checkpoint")

    # -- factories --------------------------------------------------------

    def writer(self, path: PathLike, **kwargs) -> OssStorageWriter:
        """A DCP ``StorageWriter`` for the checkpoint at ``path``
        (``oss://bucket/prefix``).  ``kwargs`` are those of
        ``FileSystemWriter``: ``thread_count`` (files written at once per
        rank, default 1), ``single_file_per_rank``, ``overwrite``,
        ``cache_staged_state_dict``, ``per_thread_copy_ahead``,
        ``serialization_format``; ``sync_files`` is accepted and has no
        effect (an object is durable once committed)."""
        return OssStorageWriter(self, path, **kwargs)

    def reader(self, path: PathLike) -> OssStorageReader:
        """A DCP ``StorageReader`` for the checkpoint at ``path``."""
        return OssStorageReader(self, path)

    # -- FileSystemBase ---------------------------------------------------

    @contextmanager
    def create_stream(self, path: PathLike, mode: str) -> Iterator:
        """``"rb"``: a :class:`CheckpointReader` (FileNotFoundError when the
        object is missing).  ``"wb"``: an upload that is committed when the
        block ends normally and aborted, leaving nothing, when it raises."""
        uri = _uri(path)
        if "r" in mode and not any(c in mode for c in "wa+"):
            bucket, key = parse_uri(uri)
            reader = CheckpointReader(self.client, bucket, key, self.client.stat(uri).size)
            with reader:
                yield reader
        elif "w" in mode and not any(c in mode for c in "ra+"):
            writer = CheckpointWriter(self.client, *parse_uri(uri))
            try:
                yield writer
            except BaseException:
                writer.abort()
                raise
            writer.close()
        else:
            raise ValueError(f"create_stream: mode {mode!r} is not supported on OSS "
                             f"({uri}): use 'rb' or 'wb'")

    def concat_path(self, path: PathLike, suffix: str) -> str:
        return f"{_uri(path).rstrip('/')}/{suffix}"

    def init_path(self, path: PathLike) -> str:
        """Checks ``path`` is ``oss://bucket[/prefix]`` and returns it
        without a trailing '/'; ValueError otherwise."""
        uri = _uri(path)
        parse_uri(uri)
        return uri.rstrip("/")

    def rename(self, path: PathLike, new_path: PathLike) -> None:
        """Server-side copy, then delete (not atomic: OSS has no rename)."""
        self.client.copy(_uri(path), _uri(new_path))
        self.client.delete(_uri(path))

    def mkdir(self, path: PathLike) -> None:
        """Nothing to do: OSS has no directories."""

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: PathLike) -> bool:
        try:
            parse_uri(_uri(checkpoint_id))
        except (TypeError, ValueError):
            return False
        return True

    def exists(self, path: PathLike) -> bool:
        try:
            self.client.stat(_uri(path))
        except FileNotFoundError:
            return False
        return True

    def rm_file(self, path: PathLike) -> None:
        self.client.delete(_uri(path))

    def ls(self, path: PathLike) -> List[str]:
        """URIs of the objects directly under ``path``."""
        bucket, prefix = parse_uri(self.concat_path(path, ""))
        return [e.uri for e in self.client.list(f"oss://{bucket}/{prefix}")
                if "/" not in e.key[len(prefix):]]

    def __repr__(self):
        return f"OssFileSystem(endpoint={self.client.endpoint!r})"


#: The name the product's published package uses for the same class.
OssDCPFileSystem = OssFileSystem


def _uri(path: PathLike) -> str:
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"checkpoint path must be an 'oss://bucket/prefix' string, "
                        f"not {type(path).__name__}")
    return path

