"""DCP storage writer and reader over an :class:`OssFileSystem`.

Writer: torch's ``FileSystemWriter`` does the planning, staging (so
``DCP.async_save`` works) and serialisation; every data file is an upload
stream (parts go out while torch serialises).  Two changes make it safe on
an object store:

* data objects are named ``__<rank>_<tag>_<n>.distcp`` with a fresh tag per
  save, so the previous checkpoint's objects are never overwritten;
* ``.metadata`` is written directly with one atomic PUT, after every data
  object is committed (no ``.tmp`` + rename).  Then data objects that no
  metadata references any more are deleted.

Reader: ``read_data`` fetches every requested range concurrently (see
:mod:`._dcp_read`) instead of one item after another.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
import re
import uuid
from typing import Any, List

from torch.distributed.checkpoint.filesystem import (
    CURRENT_DCP_VERSION,
    FileSystemReader,
    FileSystemWriter,
    _StoragePrefix,
)
from torch.distributed.checkpoint.metadata import Metadata
from torch.distributed.checkpoint.planner import LoadPlan, LoadPlanner, SavePlan, SavePlanner
from torch.distributed.checkpoint.storage import WriteResult
from torch.futures import Future

from ._dcp_read import read_plan

__all__ = ["OssStorageWriter", "OssStorageReader"]

log = logging.getLogger(__name__)

_DATA_NAME = re.compile(r"__(\d+)_.*\.distcp\Z")


def _new_tag() -> str:
    return uuid.uuid4().hex[:12]


class OssStorageWriter(FileSystemWriter):
    """DCP ``StorageWriter`` for ``oss://bucket/prefix``; build it with
    :meth:`OssFileSystem.writer` (keyword arguments are documented there)."""

    def __init__(self, fs, path, **kwargs: Any) -> None:
        kwargs.pop("sync_files", None)
        super().__init__(path="", sync_files=False, **kwargs)
        self.fs = fs
        self.path = fs.init_path(path)

    def prepare_local_plan(self, plan: SavePlan) -> SavePlan:
        plan = super().prepare_local_plan(plan)
        if self.rank is not None and not self.use_collectives:
            plan = dataclasses.replace(
                plan, storage_data=_StoragePrefix(f"__{self.rank}_{_new_tag()}_"))
        return plan

    def prepare_global_plan(self, plans: List[SavePlan]) -> List[SavePlan]:
        tag = _new_tag()
        return [dataclasses.replace(p, storage_data=_StoragePrefix(f"__{i}_{tag}_"))
                if p.storage_data is None else p for i, p in enumerate(plans)]

    def write_data(self, plan: SavePlan, planner: SavePlanner) -> Future[List[WriteResult]]:
        try:
            return super().write_data(plan, planner)
        except BaseException:
            # Objects this rank already committed (other threads' files) are
            # referenced by nothing: remove them now rather than at the next save.
            prefix = plan.storage_data.prefix
            self._delete_data(lambda name: name.startswith(prefix), "a failed save left")
            raise

    def finish(self, metadata: Metadata, results: List[List[WriteResult]]) -> None:
        """Commits ``.metadata`` (every data object is already committed),
        then deletes the data objects it supersedes."""
        metadata.version = CURRENT_DCP_VERSION
        metadata.storage_data = {wr.index: wr.storage_data for wrs in results for wr in wrs}
        metadata.storage_meta = self.storage_meta()
        # With rank-local metadata (no collectives) a rank owns only its files.
        rank = self.rank if not self.use_collectives and self.rank is not None else None
        new = {info.relative_path for info in metadata.storage_data.values()}
        try:
            with self.fs.create_stream(self._get_metadata_path(rank), "wb") as stream:
                pickle.dump(metadata, stream)
        except BaseException:
            self._delete_data(lambda name: name in new, "a failed save left")
            raise

        def superseded(name):
            m = _DATA_NAME.match(name)
            return name not in new and (rank is None or int(m.group(1)) == rank)

        self._delete_data(superseded, "superseded")

    def _delete_data(self, select, what: str) -> None:
        """Best effort: deletes the data objects under the checkpoint whose
        names ``select`` accepts (failures are logged, not raised)."""
        try:
            for uri in self.fs.ls(self.path):
                name = uri.rsplit("/", 1)[-1]
                if _DATA_NAME.match(name) and select(name):
                    self.fs.rm_file(uri)
        except OSError as e:
            log.warning("%s: could not delete data objects %s: %s", self.path, what, e)


class OssStorageReader(FileSystemReader):
    """DCP ``StorageReader`` for ``oss://bucket/prefix``; build it with
    :meth:`OssFileSystem.reader`."""

    def __init__(self, fs, path) -> None:
        super().__init__(path="")
        self.fs = fs
        self.path = fs.init_path(path)

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        try:
            return super().read_metadata(*args, **kwargs)
        except OSError:
            raise
        except Exception as e:
            path = self._get_metadata_path(kwargs.get("rank"))
            raise ValueError(f"{path}: not a readable DCP metadata object "
                             f"({type(e).__name__}: {e})") from e

    def read_data(self, plan: LoadPlan, planner: LoadPlanner) -> Future[None]:
        read_plan(self, plan, planner)
        fut: Future[None] = Future()
        fut.set_result(None)
        return fut
