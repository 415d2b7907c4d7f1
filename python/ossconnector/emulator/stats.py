"""Request and byte counters, per operation and per object.

Contract: :class:`Stats` is thread-safe.  ``record_request`` counts one
non-admin request under its operation name and, when it addresses an object,
under ``objects[bucket][key]`` (``requests``, per-method counts such as
``GET``/``HEAD``/``PUT``, and ``ranged_gets``).  ``add_bytes`` adds response
*body* bytes actually handed to the socket for that object (``bytes_sent``),
so a reset after K bytes counts K.  ``snapshot()`` returns a JSON-ready dict::

    {"total_requests": n, "total_bytes_sent": n, "operations": {"GetObject": n},
     "objects": {bucket: {key: {"requests": n, "GET": n, "bytes_sent": n, ...}}}}
"""

import threading


def empty_object_stats():
    return {"requests": 0, "bytes_sent": 0, "ranged_gets": 0}


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "_lock", threading.Lock()):
            self._total_requests = 0
            self._total_bytes = 0
            self._operations = {}
            self._objects = {}

    def _object(self, bucket, key):
        per_bucket = self._objects.setdefault(bucket, {})
        entry = per_bucket.get(key)
        if entry is None:
            entry = per_bucket[key] = empty_object_stats()
        return entry

    def record_request(self, method, op, bucket, key, ranged=False):
        with self._lock:
            self._total_requests += 1
            self._operations[op] = self._operations.get(op, 0) + 1
            if bucket and key:
                entry = self._object(bucket, key)
                entry["requests"] += 1
                entry[method] = entry.get(method, 0) + 1
                if ranged:
                    entry["ranged_gets"] += 1

    def add_bytes(self, bucket, key, n):
        with self._lock:
            self._total_bytes += n
            if bucket and key:
                self._object(bucket, key)["bytes_sent"] += n

    def snapshot(self):
        with self._lock:
            return {
                "total_requests": self._total_requests,
                "total_bytes_sent": self._total_bytes,
                "operations": dict(self._operations),
                "objects": {b: {k: dict(v) for k, v in keys.items()} for b, keys in self._objects.items()},
            }
