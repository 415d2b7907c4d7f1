"""A hostile list server: ``python list_server.py MODE`` answers every
ListObjects request with crafted XML, prints ``listening PORT`` once, and
serves until killed.  Anything else gets a 404 NoSuchKey.  It checks no
signature: the point is what the client does with the replies.

Modes (what each list reply is; keys sit under the requested prefix):
  no-token      truncated, two keys, no NextContinuationToken
  empty-token   truncated, two keys, an empty NextContinuationToken
  same-token    truncated, two keys, always the token "T1"
  fresh-token   the same two keys each time, under a new token each time
  token-cycle   truncated empty pages, tokens T0 -> T1 -> T2 -> T0 ...
  too-many      one untruncated page of 1,500 keys (more than max-keys)
  size=VALUE    one key whose <Size> is VALUE
  stray-keys    one untruncated page of keys NOT under the prefix (shorter than it,
                beside it) and one of 1,100 bytes (longer than OSS allows)

``GET /__count`` returns how many list requests were answered."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

MODE = sys.argv[1] if len(sys.argv) > 1 else "same-token"
_count = 0
_lock = threading.Lock()


def _contents(keys, size="1"):
    return "".join(f"<Contents><Key>{escape(k)}</Key><Size>{escape(size)}</Size>"
                   "<LastModified>2024-08-02T15:04:05.000Z</LastModified>"
                   "<ETag>\"e\"</ETag></Contents>" for k in keys)


def list_reply(prefix: str, token: str, n: int) -> str:
    two = [prefix + "a", prefix + "b"]
    size = "1"
    truncated, next_token, keys = "true", None, two
    if MODE == "empty-token":
        next_token = ""
    elif MODE == "same-token":
        next_token = "T1"
    elif MODE == "fresh-token":
        next_token = f"T{n}"
    elif MODE == "token-cycle":
        keys = []
        next_token = "T%d" % ((int(token[1:]) + 1) % 3 if token else 0)
    elif MODE == "too-many":
        truncated, keys = "false", [f"{prefix}k{i:05d}" for i in range(1500)]
    elif MODE == "stray-keys":
        truncated = "false"
        keys = ["m", "model-other/weights.bin", prefix + "w" * 1100]
    elif MODE.startswith("size="):
        truncated, keys, size = "false", [prefix + "weights.bin"], MODE[5:]
    token_xml = "" if next_token is None else \
        f"<NextContinuationToken>{escape(next_token)}</NextContinuationToken>"
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>"
            f"<Name>b</Name><Prefix>{escape(prefix)}</Prefix><MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>{truncated}</IsTruncated>{token_xml}"
            f"{_contents(keys, size)}</ListBucketResult>")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, body: str, ctype: str = "application/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-oss-request-id", "hostile")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        global _count
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path == "/__count":
            return self._send(200, str(_count), "text/plain")
        if "list-type" in query or "marker" in query or "prefix" in query or \
                url.path.rstrip("/").count("/") <= 1 and "max-keys" in query:
            with _lock:
                _count += 1
                n = _count
            token = query.get("continuation-token", [""])[0]
            return self._send(200, list_reply(query.get("prefix", [""])[0], token, n))
        self._send(404, "<Error><Code>NoSuchKey</Code><Message>no such key</Message>"
                        "<RequestId>hostile</RequestId></Error>")

    do_HEAD = do_GET

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    server.serve_forever()
