"""Memory of a dataset's object list: a few dozen bytes per key beyond the
key itself, measured with tracemalloc on a synthetic 100k listing (a
million live objects are not needed to see the per-key cost)."""

import pickle
import random
import tracemalloc

from ossconnector.datasets._table import KeyTable

N = 100_000


def _keys():
    # ImageNet-like keys, 37 bytes each.
    return [f"train/n{i % 1000:08d}/n{i % 1000:08d}_{i:06d}.JPEG".encode() for i in range(N)]


def test_listing_costs_a_few_dozen_bytes_per_key_beyond_the_key():
    keys = _keys()
    key_bytes = sum(map(len, keys))
    tracemalloc.start()
    try:
        table = KeyTable()
        for k in keys:
            table.append("bucket", k, 110_000)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_key = held / N
    assert per_key < key_bytes / N + 40, per_key  # ~60 bytes for a 37-byte key
    assert peak / N < key_bytes / N + 40
    assert table.key(N - 1) == keys[-1].decode() and table.size(5) == 110_000


def test_labels_are_interned():
    tracemalloc.start()
    try:
        table = KeyTable()
        for i, k in enumerate(_keys()):
            table.append("bucket", k, -1, f"n{i % 1000:08d}")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held / N < 37 + 45
    assert table.label(1234) == "n00000234"


def test_sorting_a_fast_listing_stays_bounded():
    keys = _keys()
    random.Random(0).shuffle(keys)
    table = KeyTable()
    for k in keys:
        table.append("bucket", k, 1)
    tracemalloc.start()
    try:
        ordered = table.sorted()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [ordered.key_bytes(i) for i in range(0, N, 997)] == sorted(keys)[::997]
    assert held / N < 100 and peak / N < 400  # transient: one bytes object per key


def test_pickled_table_is_flat():
    table = KeyTable()
    for k in _keys():
        table.append("bucket", k, 7)
    data = pickle.dumps(table)
    assert len(data) / N < 37 + 30
    clone = pickle.loads(data)
    assert len(clone) == N and clone.uri(42) == table.uri(42) and clone.size(42) == 7
    clone.append("other", "x", 1)  # still appendable after unpickling
    assert clone.bucket(N) == "other" and clone.bucket(0) == "bucket"
