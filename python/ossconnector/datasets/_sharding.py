"""Who reads what: splitting a dataset across distributed ranks and
DataLoader workers, and per-epoch random orders everyone agrees on.

A reader is identified by ``(shard, shards)``: with ``R`` ranks and ``W``
workers per rank, worker ``w`` of rank ``r`` is shard ``r + R * w`` of
``R * W``.  Every unit ``i`` of a list is read by shard ``i % (R * W)``, so
the shards are disjoint, cover everything, and differ in size by at most
one unit.

Rank and world size come from an initialised ``torch.distributed`` process
group.  A spawn-started DataLoader worker has no process group of its own,
so datasets snapshot ``(rank, world_size)`` when they are pickled
(:func:`distributed_snapshot`) and workers use that snapshot.
"""

from __future__ import annotations

from typing import Optional, Tuple

__all__ = ["distributed_snapshot", "current_shard", "epoch_generator", "permutation",
           "new_seed"]


def distributed_snapshot() -> Optional[Tuple[int, int]]:
    """(rank, world_size) of the initialised default process group, else None."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return None


def current_shard(snapshot: Optional[Tuple[int, int]] = None) -> Tuple[int, int]:
    """(shard, shards) of the calling process (see the module docstring)."""
    import torch.utils.data

    rank, world = distributed_snapshot() or snapshot or (0, 1)
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank + world * worker, world * workers


def new_seed() -> int:
    """A random 63-bit seed drawn from torch's default generator, so
    ``torch.manual_seed`` makes it reproducible."""
    import torch

    return int(torch.empty((), dtype=torch.int64).random_().item())


def epoch_generator(seed: int, epoch: int):
    """A torch.Generator in the same state in every process for a given
    (seed, epoch)."""
    import torch

    gen = torch.Generator()
    gen.manual_seed((seed * 1_000_003 + epoch) & ((1 << 63) - 1))
    return gen


def permutation(n: int, seed: int, epoch: int):
    """The same random permutation of range(n) in every process for a given
    (seed, epoch): a torch int64 tensor."""
    import torch

    return torch.randperm(n, generator=epoch_generator(seed, epoch))
