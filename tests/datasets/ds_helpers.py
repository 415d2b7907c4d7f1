"""Plain helpers for the dataset tests (importable by spawn-started workers)."""

from __future__ import annotations


def key_and_bytes(item):
    """A transform: (key, content) of an item, None for a missing object."""
    if item is None:
        return None
    with item:
        return item.key, item.read()


def keys_of(batch):
    """A collate_fn returning the batch's item keys."""
    return [item.key for item in batch]


def pairs_of(batch):
    """A collate_fn for batches of (key, bytes) pairs: keep them as a list."""
    return list(batch)


def get_ops(emu, op):
    return emu.stats()["operations"].get(op, 0)


def object_gets(emu, bucket, key):
    return emu.object_stats(bucket, key).get("GET", 0)
