"""A Client works across fork and spawn, from many threads at once (the GIL
is released during I/O), and lists large prefixes quickly."""

import multiprocessing as mp
import os
import pickle
import threading
import time

import pytest

MiB = 1 << 20


def _child_read(client, uri, queue):
    try:
        queue.put(client.get(uri))
    except BaseException as exc:  # reported to the parent
        queue.put(repr(exc))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_client_in_child_process(client, bucket, method):
    data = os.urandom(2 * MiB + 1)
    uri = f"oss://{bucket}/shared"
    client.put(uri, data)
    client.get(uri)  # the parent's engine is running when the child starts
    ctx = mp.get_context(method)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child_read, args=(client, uri, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert all(r == data for r in results)
    assert client.get(uri) == data  # and the parent still works


def test_client_pickles_without_native_state(client):
    clone = pickle.loads(pickle.dumps(client))
    assert clone.endpoint == client.endpoint and clone._native is None


def test_threads_run_concurrently(client, bucket, emu):
    """While one thread waits on a slow (delayed) GET, others make progress:
    the GIL is not held during I/O."""
    client.put(f"oss://{bucket}/slow", b"s")
    client.put(f"oss://{bucket}/fast", b"f")
    emu.faults.delay(2.0, count=1, bucket=bucket, key="slow", method="GET")
    slow_done = threading.Event()

    def slow():
        client.open(f"oss://{bucket}/slow", size=1).read()
        slow_done.set()

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 120
    while emu.faults.list():  # the slow GET has reached the server and is held there
        assert time.monotonic() < deadline, "the slow GET never reached the server"
        time.sleep(0.01)
    fast_reads = 0
    while not slow_done.is_set() and fast_reads < 20:
        assert client.open(f"oss://{bucket}/fast", size=1).read() == b"f"
        fast_reads += 1
    t.join()
    assert fast_reads == 20


def test_many_threads_many_objects(client, bucket, emu):
    from concurrent.futures import ThreadPoolExecutor

    blobs = {f"many/{i:04d}": os.urandom(1000 + i) for i in range(200)}
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put(f"oss://{bucket}/{kv[0]}", kv[1]), blobs.items()))
        got = dict(pool.map(lambda k: (k, client.get(f"oss://{bucket}/{k}")), blobs))
    assert got == blobs


def test_fast_list_large_prefix(client, bucket, emu):
    """Fast list returns exactly the keys a plain listing returns, for keys
    of skewed shapes (zero-padded numbers, shared long prefixes, unicode)."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"ds/img/{i:07d}.jpg" for i in range(3000)]
    keys += [f"ds/img/{i:07d}.jpg.meta" for i in range(0, 3000, 7)]
    keys += [f"ds/z数据/{i}" for i in range(100)] + ["ds/~tilde", "ds/ spaced"]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: emu.put_object(bucket, k, b""), keys))
    plain = [e.key for e in client.list(f"oss://{bucket}/ds/")]
    assert plain == sorted(keys, key=lambda k: k.encode())
    fast = [e.key for e in client.list(f"oss://{bucket}/ds/", fast=True)]
    assert sorted(fast) == sorted(keys)
    assert len(fast) == len(set(fast))
