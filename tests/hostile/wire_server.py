"""A real HTTP(S) server that misbehaves on the wire as a test scripts it.

Contract: ``WireServer(data, behaviour)`` serves ``data`` as every object
(it checks no signature) on 127.0.0.1, in threads of this process, until
``close()``.  ``behaviour`` names what a GET gets (HEAD always gets the
honest size):

``honest``         206 with the asked range (200 without a Range);
``ignore_range``   200 with the whole object, whatever the Range;
``wrong_range``    206 whose Content-Range starts one byte after the asked one;
``short_range``    206 that claims (Content-Range and Content-Length) to end
                   the range early although the object goes on;
``extra_bytes``    206 with the right Content-Range but 100 bytes more body
                   (and a Content-Length saying so);
``extra_unframed`` 206 with the right Content-Range, no Content-Length, 100
                   bytes more body, then the connection closes;
``short_body``     206 announcing the whole range, half of it sent, then close;
``huge_length``    206 with a Content-Length of 30 digits;
``negative_length`` 206 with ``Content-Length: -5``;
``slow_loris``     headers, then one body byte every ``trickle_s`` seconds;
``silent``         reads the request and never answers;
``fail_first``     ``fail_count`` GETs answered 503, then honest;
``replaced``       honest until ``replace()``; every GET after it ignores
                   If-Match and serves another version (other bytes, ETag
                   "4567"), as a store that does not honour If-Match after an
                   overwrite.

``requests`` lists ``(monotonic time, method, Range header)`` of every
request received; ``wait_requests(n)`` waits for n of them.  ``tls`` (a
``(certfile, keyfile)`` pair) serves https.  ``crc`` adds the object's
``x-oss-hash-crc64ecma`` to every reply.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ossconnector.emulator.crc64 import crc64

__all__ = ["WireServer"]

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args):  # quiet
        pass

    def do_HEAD(self):
        self.server.owner._record(self)
        self.send_response(200)
        self._common_headers(len(self.server.owner.data))
        self.end_headers()

    def do_GET(self):
        owner = self.server.owner
        n_get = owner._record(self)
        data = owner.data
        b = owner.behaviour
        if b == "silent":
            owner._stop.wait(120)
            self.close_connection = True
            return
        if b == "fail_first" and n_get <= owner.fail_count:
            body = b"<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>"
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if b == "replaced" and owner.replaced.is_set():
            data = bytes(x ^ 0x5A for x in data)
            self._etag = '"4567"'
        m = _RANGE.match(self.headers.get("Range", "") or "")
        if not m or b == "ignore_range":
            self._send(200, data, None)
            return
        first = int(m.group(1))
        last = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
        part = data[first:last + 1]
        size = len(data)
        if b == "wrong_range":
            self._send(206, data[first + 1:last + 2], (first + 1, last + 1, size))
        elif b == "short_range":
            end = first + max(0, (last - first) // 2)
            self._send(206, data[first:end + 1], (first, end, size))
        elif b == "extra_bytes":
            self._send(206, part + b"X" * 100, (first, last, size))
        elif b == "extra_unframed":
            self._send(206, part + b"X" * 100, (first, last, size), length=None)
        elif b == "short_body":
            self._send(206, part, (first, last, size), cut=len(part) // 2)
        elif b == "huge_length":
            self._send(206, part, (first, last, size), length="9" * 30)
        elif b == "negative_length":
            self._send(206, part, (first, last, size), length="-5")
        elif b == "slow_loris":
            self._send(206, part, (first, last, size), trickle=True)
        else:
            self._send(206, part, (first, last, size))

    def _common_headers(self, length):
        owner = self.server.owner
        if length is not None:
            self.send_header("Content-Length", str(length))
        if owner.crc:
            self.send_header("x-oss-hash-crc64ecma", str(crc64(owner.data)))
        self.send_header("ETag", getattr(self, "_etag", '"0123"'))
        self.send_header("x-oss-request-id", "wire-server")

    def _send(self, status, body, content_range, length="auto", cut=None, trickle=False):
        self.send_response(status)
        if content_range:
            self.send_header("Content-Range", "bytes %d-%d/%d" % content_range)
        if length == "auto":
            self._common_headers(len(body))
        else:
            self._common_headers(None)
            if length is not None:
                self.send_header("Content-Length", length)
        if length is None or cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if trickle:
            for i in range(len(body)):
                if self.server.owner._stop.wait(self.server.owner.trickle_s):
                    break
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            return
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        if cut is not None:
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "WireServer"

    def handle_error(self, request, client_address):
        pass  # clients hanging up on a misbehaving reply is the point


class WireServer:
    def __init__(self, data: bytes, behaviour: str = "honest", *, tls=None, crc=True,
                 fail_count=0, trickle_s=2.0):
        self.data = data
        self.behaviour = behaviour
        self.crc = crc
        self.fail_count = fail_count
        self.trickle_s = trickle_s
        self.requests = []
        self._gets = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self.replaced = threading.Event()  # behaviour "replaced": from now on
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.port = self._server.server_address[1]
        self.endpoint = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, handler) -> int:
        with self._lock:
            self.requests.append((time.monotonic(), handler.command, handler.headers.get("Range")))
            if handler.command == "GET":
                self._gets += 1
            self._lock.notify_all()
            return self._gets

    def wait_requests(self, n: int, timeout: float = 60) -> list:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"wire server: {len(self.requests)} of {n} requests came")
            return list(self.requests)

    def replace(self) -> None:
        """Behaviour ``replaced``: every GET from now on is of another version."""
        self.replaced.set()

    def close(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
