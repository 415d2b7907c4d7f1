"""What both dataset classes share: the client, the settings read from
config.json, and turning a fetched object into the value handed out
(``transform(item)``, or ``transform(None)`` when the object is missing)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from .._config import config_path_in_use, config_value, load_config
from ._item import DataObject, MemoryObject, StreamObject
from ._prefetch import DEFAULT_BUDGET, DEFAULT_GUESS, Fetch, is_missing, next_guess

__all__ = ["identity", "DatasetBase"]

log = logging.getLogger(__name__)


def identity(item: Optional[DataObject]) -> Optional[DataObject]:
    """The default transform: the item itself."""
    return item


class DatasetBase:
    """Client, settings and item delivery (mixed into both dataset classes)."""

    def _setup(self, endpoint: str, cred_path: Optional[str], cred_provider: Any,
               config_path: Optional[str], region: Optional[str],
               transform: Optional[Callable]) -> None:
        from ..client import Client

        if not endpoint or not isinstance(endpoint, str):
            raise ValueError(f"{type(self).__name__}: endpoint must be a non-empty string "
                             f"such as 'http://oss-cn-beijing-internal.aliyuncs.com'")
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable, "
                            f"not {type(transform).__name__}")
        self._client = Client(endpoint, cred_path=cred_path or None, cred_provider=cred_provider,
                              config_path=config_path or None, region=region or None,
                              profile="dataset")
        cfg = load_config(config_path or None)
        where = config_path_in_use(config_path or None) or "config.json"
        self._window = config_value(cfg, "datasetConfig.prefetchConcurrency", 24, kind=int,
                                    minimum=1, maximum=1024, path=where)
        self._fast_list = config_value(cfg, "datasetConfig.enableFastList", False, kind=bool,
                                       path=where)
        self._budget = DEFAULT_BUDGET
        self._guess = DEFAULT_GUESS  # first read of an object of unknown size
        self._largest = 0            # largest object of unknown size seen
        self._transform = transform if transform is not None else identity

    @property
    def endpoint(self) -> str:
        return self._client.endpoint

    @property
    def client(self):
        """The :class:`ossconnector.Client` the dataset reads with."""
        return self._client

    # -- objects of a KeyTable ---------------------------------------------

    def _start_object(self, i: int):
        """Starts fetching table entry ``i`` (or prepares a stream for an
        object too large to hold in memory)."""
        bucket, key, size, label = self._table.entry(i)
        if size > self._budget:
            return StreamObject(self._client, bucket, key, size, label)
        return Fetch(self._client, bucket, key, 0, size if size >= 0 else None, self._guess)

    def _finish_object(self, i: int, started) -> Any:
        if isinstance(started, StreamObject):
            return self._transform(started)
        try:
            data = started.result()
        except Exception as exc:
            if is_missing(exc):
                log.warning("%s: %s is missing; transform receives None",
                            type(self).__name__, self._table.uri(i))
                return self._transform(None)
            raise
        if not started.known and len(data) > self._largest:
            self._largest = len(data)
            self._guess = next_guess(self._largest)
        return self._transform(MemoryObject(self._table.uri(i), data, self._table.label(i)))
