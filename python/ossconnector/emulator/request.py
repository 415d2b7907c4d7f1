"""Turn a WSGI environ into an :class:`OssRequest` (bucket, key, query, headers).

Contract:
- Addressing: when ``Host`` is ``<bucket>.<...>.<domain>`` (``domain`` from
  the config, host not an IP/localhost) the bucket is the first label and the
  whole path is the key (virtual-hosted style); otherwise the first path
  segment is the bucket and the rest is the key (path style).
- The raw request target (``RAW_URI``/``REQUEST_URI`` if the server provides
  it) is percent-decoded as UTF-8, so ``%2F`` in a key becomes ``/`` and ``+``
  stays a literal plus.
- ``query`` keeps every parameter in order, form-decoded (``+`` is a space,
  as ``requests``/oss2 encode it; a literal plus arrives as ``%2B``); ``params`` maps each name to its first value (``""`` when the
  parameter had no ``=``).
- Header names keep their exact spelling when the server passes
  ``ossemu.raw_headers`` (our server does); otherwise they are rebuilt from
  the CGI-style ``HTTP_*`` keys.
"""

import ipaddress
from urllib.parse import quote, unquote, unquote_plus


class Headers:
    """Case-insensitive, order-preserving view of request headers."""

    def __init__(self, pairs):
        self.pairs = list(pairs)
        self._map = {}
        for name, value in self.pairs:
            low = name.lower()
            if low in self._map:
                self._map[low] = self._map[low] + "," + value
            else:
                self._map[low] = value

    def get(self, name, default=None):
        return self._map.get(name.lower(), default)

    def __contains__(self, name):
        return name.lower() in self._map

    def items_lower(self):
        """(lowercase name, value) for every distinct header."""
        return self._map.items()


def _headers_from_environ(environ):
    raw = environ.get("ossemu.raw_headers")
    if raw is not None:
        return Headers(raw)
    pairs = []
    for k, v in environ.items():
        if k.startswith("HTTP_"):
            pairs.append((k[5:].replace("_", "-").lower(), v))
    if environ.get("CONTENT_TYPE"):
        pairs.append(("content-type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        pairs.append(("content-length", environ["CONTENT_LENGTH"]))
    return Headers(pairs)


def _raw_target(environ):
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        if "://" in raw.split("?", 1)[0]:  # absolute-form request target
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        return raw
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "surrogateescape")
    qs = environ.get("QUERY_STRING", "")
    return quote(path, safe="/") + ("?" + qs if qs else "")


def parse_query(query_string):
    """Split a raw query string into decoded ``(name, value)`` pairs."""
    pairs = []
    if not query_string:
        return pairs
    for piece in query_string.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def split_host(host):
    """Return the host name (lowercase, no port, no IPv6 brackets)."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    return host.rsplit(":", 1)[0] if ":" in host else host


def is_ip_or_localhost(hostname):
    if hostname in ("localhost", ""):
        return True
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        return False


def bucket_from_host(host, domain):
    """Bucket name for virtual-hosted requests, or None for path style."""
    if not domain:
        return None
    name = split_host(host)
    if is_ip_or_localhost(name) or not name.endswith("." + domain):
        return None
    return name[: -len(domain) - 1].split(".", 1)[0] or None


class OssRequest:
    """A parsed OSS request; see module docstring for the contract."""

    def __init__(self, environ, domain=None):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.headers = _headers_from_environ(environ)
        target = _raw_target(environ)
        raw_path, _, self.raw_query = target.partition("?")
        self.query = parse_query(self.raw_query)
        self.params = {}
        for name, value in self.query:
            self.params.setdefault(name, value)
        path = unquote(raw_path, errors="surrogateescape")
        self.path = path
        host_bucket = bucket_from_host(self.headers.get("host", ""), domain)
        self.virtual_hosted = host_bucket is not None
        if self.virtual_hosted:
            self.bucket = host_bucket
            self.key = path[1:] if path.startswith("/") else path
        else:
            stripped = path[1:] if path.startswith("/") else path
            bucket, _, key = stripped.partition("/")
            self.bucket = bucket
            self.key = key
        self.operation = "Unknown"
        self.request_id = environ.get("ossemu.request_id", "")

    def has(self, param):
        return param in self.params

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def content_length(self):
        value = self.headers.get("content-length")
        try:
            return int(value) if value not in (None, "") else None
        except ValueError:
            return None

    @property
    def body_stream(self):
        return self.environ["wsgi.input"]
