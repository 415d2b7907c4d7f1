"""HTTP server behaviour: keep-alive under concurrency, streaming, throughput sanity."""

import http.client
import os
import threading
import time
from urllib.parse import urlparse

from ossconnector.emulator.testing import request_target, signed_headers

CONNECTIONS = 20
REQUESTS_PER_CONNECTION = 8


def connect(emu):
    u = urlparse(emu.endpoint)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def test_concurrent_keep_alive_connections(emu, bucket_name):
    data = os.urandom(64 * 1024)
    emu.put_object(bucket_name, "ka", data)
    barrier = threading.Barrier(CONNECTIONS)
    errors = []

    def worker():
        try:
            conn = connect(emu)
            sock = None
            for i in range(REQUESTS_PER_CONNECTION):
                conn.request("GET", request_target(bucket_name, "ka"),
                             headers=signed_headers(emu, "GET", bucket_name, "ka"))
                resp = conn.getresponse()
                body = resp.read()
                assert resp.status == 200 and body == data
                assert (resp.getheader("Connection") or "").lower() != "close"
                if sock is None:
                    sock = conn.sock
                    barrier.wait(timeout=20)  # all connections are open at the same time
                assert conn.sock is sock, "connection was not kept alive"
            conn.close()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert emu.object_stats(bucket_name, "ka")["GET"] == CONNECTIONS * REQUESTS_PER_CONNECTION


def test_keep_alive_after_errors_and_head(emu, bucket_name):
    emu.put_object(bucket_name, "k", b"abc")
    conn = connect(emu)
    conn.request("GET", request_target(bucket_name, "missing"),
                 headers=signed_headers(emu, "GET", bucket_name, "missing"))
    resp = conn.getresponse()
    assert resp.status == 404 and resp.read()
    sock = conn.sock
    conn.request("HEAD", request_target(bucket_name, "k"), headers=signed_headers(emu, "HEAD", bucket_name, "k"))
    resp = conn.getresponse()
    assert resp.status == 200 and resp.read() == b"" and resp.getheader("Content-Length") == "3"
    conn.request("PUT", request_target(bucket_name, "k2"), body=b"xyz",
                 headers=signed_headers(emu, "PUT", bucket_name, "k2"))
    assert conn.getresponse().read() == b""
    conn.request("GET", request_target(bucket_name, "k2"), headers=signed_headers(emu, "GET", bucket_name, "k2"))
    assert conn.getresponse().read() == b"xyz"
    assert conn.sock is sock
    conn.close()


def test_throughput_sanity(emu, bucket_name):
    size = 64 << 20
    emu.put_object(bucket_name, "big", os.urandom(1 << 20) * 64)
    conn = connect(emu)
    start = time.monotonic()
    conn.request("GET", request_target(bucket_name, "big"), headers=signed_headers(emu, "GET", bucket_name, "big"))
    resp = conn.getresponse()
    total = 0
    while True:
        chunk = resp.read(1 << 20)
        if not chunk:
            break
        total += len(chunk)
    elapsed = time.monotonic() - start
    assert total == size
    # ranged reads of 8 MiB on the same connection
    start_r = time.monotonic()
    for i in range(8):
        headers = signed_headers(emu, "GET", bucket_name, "big", headers={"Range": "bytes=%d-%d" % (i << 23, ((i + 1) << 23) - 1)})
        conn.request("GET", request_target(bucket_name, "big"), headers=headers)
        resp = conn.getresponse()
        assert resp.status == 206 and len(resp.read()) == 8 << 20
    elapsed_r = time.monotonic() - start_r
    conn.close()
    print("\nwhole GET %.0f MiB/s, ranged GETs %.0f MiB/s" % (64 / elapsed, 64 / elapsed_r))
