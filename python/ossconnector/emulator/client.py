"""HTTP client for the admin API, shared by in-process and subprocess emulators.

Contract: :class:`AdminClient` talks JSON to ``<endpoint>/_emulator/...``
using only the standard library.  Methods raise :class:`AdminRequestError`
on non-2xx answers.  ``faults`` is a :class:`~.faults.FaultControls`
(``error``, ``delay``, ``reset``, ``truncate``, ``corrupt``,
``fail_complete``, ``fail_part``, ``add``, ``list``, ``clear``).
"""

import http.client
import json
from urllib.parse import quote, urlparse

from .faults import FaultControls


class AdminRequestError(RuntimeError):
    def __init__(self, status, message):
        super().__init__("admin API answered %s: %s" % (status, message))
        self.status = status


class RemoteFaults(FaultControls):
    def __init__(self, client):
        self._client = client

    def add_spec(self, spec):
        return self._client._call("POST", "/faults", spec)["ids"][0]

    def clear(self):
        self._client._call("DELETE", "/faults")

    def list(self):
        return self._client._call("GET", "/faults")["faults"]

    def held(self):
        return self._client._call("GET", "/faults/held")["held"]

    def release(self):
        self._client._call("POST", "/faults/release")


class AdminClient:
    def __init__(self, endpoint=None, timeout=30.0):
        self.endpoint = endpoint
        self.timeout = timeout
        self.faults = RemoteFaults(self)

    def _call(self, method, path, payload=None, raw_body=None, headers=None):
        parsed = urlparse(self.endpoint)
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=self.timeout)
        try:
            hdrs = dict(headers or {})
            body = raw_body
            if payload is not None:
                body = json.dumps(payload).encode("utf-8")
                hdrs["Content-Type"] = "application/json"
            conn.request(method, "/_emulator" + path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            decoded = json.loads(data) if data else {}
        except ValueError:
            decoded = {"error": data[:200].decode("utf-8", "replace")}
        if resp.status >= 300:
            raise AdminRequestError(resp.status, decoded.get("error", decoded))
        return decoded

    # ---------------------------------------------------------------- API
    def health(self):
        return self._call("GET", "/health")

    def stats(self):
        """Full counters snapshot (see ossconnector.emulator.stats)."""
        return self._call("GET", "/stats")

    def object_stats(self, bucket, key):
        """Counters of one object: requests, GET/HEAD/PUT..., bytes_sent, ranged_gets."""
        entry = self.stats()["objects"].get(bucket, {}).get(key)
        return entry or {"requests": 0, "bytes_sent": 0, "ranged_gets": 0}

    def reset_stats(self):
        self._call("POST", "/stats/reset")

    def create_bucket(self, name):
        """Create ``name`` if missing (idempotent, unsigned)."""
        self._call("POST", "/buckets", {"name": name})
        return name

    def delete_bucket(self, name):
        """Delete ``name`` together with all its objects and uploads."""
        self._call("DELETE", "/buckets/" + quote(name, safe=""))

    def put_object(self, bucket, key, data, content_type=None, crc64_header=True, etag=None):
        """Store ``data`` (bytes) without signing; returns {etag, crc64, size}.
        ``crc64_header=False``: replies about the object carry no
        ``x-oss-hash-crc64ecma`` (an object a client cannot check);
        ``etag``: the object's ETag (latin-1 text, without quotes) instead
        of the MD5, as other S3-compatible stores write theirs."""
        headers = {"Content-Type": content_type} if content_type else {}
        if not crc64_header:
            headers["X-Emulator-No-Crc64"] = "1"
        if etag is not None:
            headers["X-Emulator-Etag"] = etag
        return self._call("PUT", "/objects/%s/%s" % (quote(bucket, safe=""), quote(key, safe="")),
                          raw_body=bytes(data), headers=headers)

    def create_sparse_object(self, bucket, key, size, markers=True):
        """Zero-filled object of ``size`` bytes costing no disk; see ossconnector.emulator.sparse."""
        return self._call("POST", "/sparse", {"bucket": bucket, "key": key, "size": int(size),
                                              "markers": bool(markers)})

    def reset(self):
        """Drop every bucket, pending fault and counter."""
        self._call("POST", "/reset")
