"""A small threaded HTTP/1.1 WSGI server with keep-alive and fault hooks.

Why not werkzeug's dev server: it always answers ``Connection: close``.

Contract:
- One thread per connection; persistent (keep-alive) connections for
  HTTP/1.1 clients; ``Expect: 100-continue`` honoured; request bodies with
  ``Content-Length`` or ``Transfer-Encoding: chunked``; unread request body
  is drained after the response (or the connection closed if it is large).
- Responses without ``Content-Length`` use chunked encoding; HEAD/204/304
  never carry a body.  A body whose ``file_range`` is a
  :class:`~.bodies.FileRange` is sent with ``sendfile``.
- If a body iterator raises :class:`~.bodies.ConnectionAbort`, the bytes
  already produced are sent and the connection is reset (RST) or closed
  (FIN); if the app sends fewer bytes than its Content-Length for any
  other reason the connection is closed.
- Extra environ keys: ``RAW_URI``/``REQUEST_URI`` (raw request target),
  ``ossemu.raw_headers`` (header pairs with original spelling),
  ``wsgi.input_terminated`` (True).
- :meth:`ThreadedWSGIServer.stop` stops accepting, then shuts down open
  connections so no handler thread outlives the server for long.
Logging (when not quiet) prints method, path without query string and status.
"""

import http.server
import socket
import socketserver
import struct
import sys
import threading
from urllib.parse import unquote_to_bytes

from .bodies import ConnectionAbort

DRAIN_LIMIT = 64 << 20
IDLE_TIMEOUT = 300


class RequestBody:
    """File-like reader over a request body (Content-Length or chunked)."""

    def __init__(self, rfile, length, chunked):
        self._rfile = rfile
        self._chunked = chunked
        self._remaining = length if length is not None else 0
        self._chunk_left = 0
        self._done = not chunked and not self._remaining
        self.truncated = False

    def _next_chunk(self):
        line = self._rfile.readline(65537)
        if not line:
            self.truncated, self._done = True, True
            return
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers
                trailer = self._rfile.readline(65537)
                if trailer in (b"\r\n", b"\n", b""):
                    break
            self._done = True
        self._chunk_left = size

    def read(self, n=-1):
        if self._done:
            return b""
        if not self._chunked:
            want = self._remaining if n is None or n < 0 else min(n, self._remaining)
            data = self._rfile.read(want)
            self._remaining -= len(data)
            if len(data) < want:
                self.truncated, self._done = True, True
            if self._remaining == 0:
                self._done = True
            return data
        parts = []
        want = -1 if n is None or n < 0 else n
        while not self._done and (want < 0 or want > 0):
            if self._chunk_left == 0:
                self._next_chunk()
                continue
            take = self._chunk_left if want < 0 else min(want, self._chunk_left)
            data = self._rfile.read(take)
            if not data:
                self.truncated, self._done = True, True
                break
            parts.append(data)
            self._chunk_left -= len(data)
            if want > 0:
                want -= len(data)
            if self._chunk_left == 0:
                self._rfile.readline(3)  # CRLF after chunk data
        return b"".join(parts)

    def readline(self, limit=-1):
        out = bytearray()
        while limit < 0 or len(out) < limit:
            c = self.read(1)
            if not c:
                break
            out += c
            if c == b"\n":
                break
        return bytes(out)

    def drain(self, limit=DRAIN_LIMIT):
        """Consume the rest of the body; False if it was too large or broken."""
        total = 0
        while not self._done:
            data = self.read(1 << 20)
            total += len(data)
            if total > limit:
                return False
        return not self.truncated


class _FdFile:
    """Minimal file object for socket.sendfile over a raw descriptor."""

    mode = "rb"

    def __init__(self, fd):
        self._fd = fd
        self._pos = 0

    def fileno(self):
        return self._fd

    def seek(self, pos):
        self._pos = pos

    def read(self, n):
        import os
        data = os.pread(self._fd, n, self._pos)
        self._pos += len(data)
        return data


def _no_write(data):
    raise NotImplementedError("the WSGI write() callable is not supported; return an iterable")


class WSGIRequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AliyunOSS"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        if not self.server.quiet:
            sys.stderr.write("ossemu %s - %s\n" % (self.address_string(), format % args))

    def log_request(self, code="-", size="-"):
        if not self.server.quiet:
            path = self.path.split("?", 1)[0]
            self.log_message('"%s %s" %s', self.command, path, code)

    def _environ(self, body):
        target = self.path
        path, _, query = target.partition("?")
        if "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        host, port = self.server.server_address[:2]
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0] if self.client_address else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "ossemu.raw_headers": list(self.headers.items()),
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                key = "HTTP_" + key
                environ[key] = environ[key] + "," + value if key in environ else value
        return environ

    def _run(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        chunked = "chunked" in te
        try:
            length = None if chunked else int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        body = RequestBody(self.rfile, length, chunked)
        environ = self._environ(body)
        state = {}

        def start_response(status, headers, exc_info=None):
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"], state["headers"] = status, headers
            return _no_write

        result = self.server.app(environ, start_response)
        try:
            self._send(result, state)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not self.close_connection and not body.drain():
            self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = _run

    def _abort(self, reset):
        self.close_connection = True
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, result, state):
        file_range = getattr(result, "file_range", None)
        iterator, first, abort = None, b"", None
        if file_range is None or "status" not in state:
            file_range = None
            iterator = iter(result)
            try:
                first = next(iterator, b"")
            except ConnectionAbort as exc:
                abort = exc
        status = state["status"]
        code = int(status[:3])
        headers = list(state["headers"])
        names = {k.lower() for k, _ in headers}
        no_body = self.command == "HEAD" or code in (204, 304) or code < 200
        content_length = None
        for k, v in headers:
            if k.lower() == "content-length":
                content_length = int(v)
        chunked = content_length is None and not no_body
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
            if file_range is not None:
                iterator, file_range = iter(result), None
        if self.close_connection or abort is not None:
            if "connection" not in names:
                headers.append(("Connection", "close"))
            self.close_connection = True
        lines = ["%s %s\r\n" % (self.protocol_version, status),
                 "Server: %s\r\n" % self.server_version,
                 "Date: %s\r\n" % self.date_time_string()]
        lines.extend("%s: %s\r\n" % (k, v) for k, v in headers)
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        self.log_request(code)
        sock = self.connection
        state["sent"] = True
        if no_body:
            sock.sendall(head)
            return
        if file_range is not None:
            sock.sendall(head)
            sent = 0
            if file_range.length:
                sent = sock.sendfile(_FdFile(file_range.fd), file_range.offset, file_range.length)
            result.note_sent(sent)
            if sent != content_length:
                self.close_connection = True
            return
        sent = len(first)
        try:
            sock.sendall(head + self._frame(first, chunked) if first else head)
            if abort is None:
                for chunk in iterator:
                    if chunk:
                        sock.sendall(self._frame(chunk, chunked))
                        sent += len(chunk)
        except ConnectionAbort as exc:
            abort = exc
        if abort is not None:
            self._abort(abort.reset)
            return
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        elif content_length is not None and sent != content_length:
            self.close_connection = True

    @staticmethod
    def _frame(chunk, chunked):
        if not chunked:
            return chunk
        return b"%x\r\n%s\r\n" % (len(chunk), chunk)

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, socket.timeout, OSError):
            pass
        finally:
            self.close_connection = True


class ThreadedWSGIServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False

    def __init__(self, host, port, app, quiet=True):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        self.quiet = quiet
        self._conns = set()
        self._conns_lock = threading.Lock()
        super().__init__((host, port), WSGIRequestHandler)

    @property
    def port(self):
        return self.server_address[1]

    def process_request(self, request, client_address):
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if not self.quiet:
            super().handle_error(request, client_address)

    def serve_forever(self, poll_interval=0.2):
        self._serving = True
        try:
            super().serve_forever(poll_interval)
        finally:
            self._serving = False

    def stop(self):
        """Stop serve_forever (if running), close the listener and open connections."""
        if getattr(self, "_serving", False):
            self.shutdown()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
