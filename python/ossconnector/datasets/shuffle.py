"""ShuffleDataset: a shuffle buffer in front of any iterable dataset, so
samples from many shards (objects, archives, tar chunks) are mixed."""

from __future__ import annotations

import random
from typing import Any, Iterator, Optional

import torch.utils.data

from ._sharding import current_shard, new_seed

__all__ = ["ShuffleDataset"]


class ShuffleDataset(torch.utils.data.IterableDataset):
    """Yields the samples of ``dataset`` in random order using a buffer of
    ``buffer_size`` samples: the buffer is filled, then every new sample
    replaces a randomly chosen one, which is yielded.

    The order depends on ``seed`` (random when None), the epoch
    (:meth:`set_epoch`, passed on to the wrapped dataset) and the DataLoader
    worker / distributed rank, so workers do not repeat each other's order.
    Memory: ``buffer_size`` samples per worker.
    """

    def __init__(self, dataset: torch.utils.data.IterableDataset, buffer_size: int,
                 seed: Optional[int] = None):
        if not isinstance(buffer_size, int) or buffer_size < 1:
            raise ValueError(f"ShuffleDataset: buffer_size must be a positive int, "
                             f"not {buffer_size!r}")
        self.dataset = dataset
        self.buffer_size = buffer_size
        self._seed = new_seed() if seed is None else int(seed)
        self._epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self._epoch = int(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        shard, _ = current_shard(getattr(self.dataset, "_dist", None))
        rng = random.Random((self._seed * 1_000_003 + self._epoch) * 65_537 + shard)
        buffer: list = []
        for sample in self.dataset:
            if len(buffer) < self.buffer_size:
                buffer.append(sample)
                continue
            j = rng.randrange(self.buffer_size)
            buffer[j], sample = sample, buffer[j]
            yield sample
        while buffer:
            j = rng.randrange(len(buffer))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            yield buffer.pop()
