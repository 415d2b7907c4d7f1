"""Helpers for tests that need an emulator (plain functions; wrap them in fixtures).

Contract:
- :func:`running_emulator` is a context manager yielding a started emulator:
  a subprocess (:class:`~.process.EmulatorProcess`, the default, so the code
  under test does not share a GIL with the server) or, with
  ``in_process=True``, an :class:`~.emulator.Emulator` thread.
- :func:`unique_bucket_name` returns a fresh valid bucket name.
- :func:`oss2_bucket` builds an ``oss2.Bucket`` for an emulator (V1 or V4,
  optional STS token); oss2 is imported only when called.
- :func:`signed_headers` signs an arbitrary request with oss2's signer and
  returns the headers to send, for raw http.client/socket tests.
- :func:`raw_exchange` sends raw request bytes on a fresh socket and returns
  what came back (head, body, ended_by_reset), tolerating resets and
  truncation — the way to observe injected faults precisely.
"""

import contextlib
import socket
import uuid
from urllib.parse import quote, urlparse


@contextlib.contextmanager
def running_emulator(in_process=False, **options):
    if in_process:
        from .emulator import Emulator
        emu = Emulator(**options).start()
    else:
        from .process import EmulatorProcess
        emu = EmulatorProcess(**options).start()
    try:
        yield emu
    finally:
        emu.stop()


def unique_bucket_name(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:16])


def _auth(emu, auth_version, security_token, access_key_id, access_key_secret):
    import oss2

    ak = access_key_id or emu.access_key_id
    sk = access_key_secret or emu.access_key_secret
    version = oss2.AUTH_VERSION_4 if auth_version == "v4" else oss2.AUTH_VERSION_1
    if security_token is not None:
        return oss2.StsAuth(ak, sk, security_token, auth_version=version)
    return oss2.AuthV4(ak, sk) if auth_version == "v4" else oss2.Auth(ak, sk)


def oss2_bucket(emu, bucket_name, auth_version="v1", security_token=None, access_key_id=None,
                access_key_secret=None, **kwargs):
    """An oss2.Bucket bound to the emulator (path-style, since the endpoint is an IP)."""
    import oss2

    auth = _auth(emu, auth_version, security_token, access_key_id, access_key_secret)
    kwargs.setdefault("region", emu.region)
    return oss2.Bucket(auth, emu.endpoint, bucket_name, **kwargs)


def oss2_service(emu, auth_version="v1", **kwargs):
    import oss2

    auth = _auth(emu, auth_version, None, None, None)
    kwargs.setdefault("region", emu.region)
    return oss2.Service(auth, emu.endpoint, **kwargs)


def signed_headers(emu, method, bucket, key="", params=None, headers=None, auth_version="v1",
                   security_token=None, access_key_id=None, access_key_secret=None):
    """Headers (incl. Authorization) oss2 would send for this request."""
    from oss2 import http as oss2_http

    auth = _auth(emu, auth_version, security_token, access_key_id, access_key_secret)
    req = oss2_http.Request(method, emu.endpoint, params=dict(params or {}), headers=dict(headers or {}),
                            region=emu.region, product="oss")
    auth._sign_request(req, bucket, key)
    return {k: v for k, v in req.headers.items() if v is not None}


def request_target(bucket, key="", params=None, virtual_hosted=False):
    """Path + query string as oss2 would build it (key fully percent-encoded)."""
    path = "/" + quote(key, safe="") if virtual_hosted else "/%s/%s" % (bucket, quote(key, safe=""))
    if params:
        path += "?" + "&".join(quote(k, safe="") + ("=" + quote(str(v), safe="") if v != "" else "")
                               for k, v in params.items())
    return path


def raw_exchange(endpoint, request_bytes, timeout=10.0):
    """Send ``request_bytes`` and read until EOF/reset.

    Returns ``(head: bytes, body: bytes, reset: bool)``; the request should
    carry ``Connection: close`` so a normal answer ends with EOF.
    """
    parsed = urlparse(endpoint)
    sock = socket.create_connection((parsed.hostname, parsed.port), timeout=timeout)
    data = bytearray()
    reset = False
    try:
        sock.sendall(request_bytes)
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                reset = True
                break
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    return head, body, reset


def parse_head(head):
    """(status, {lowercase header: value}) from raw response head bytes."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def build_request(method, target, headers, body=b""):
    """Raw HTTP/1.1 request bytes (adds Content-Length when there is a body)."""
    lines = ["%s %s HTTP/1.1" % (method, target)]
    hdrs = dict(headers)
    if body and not any(k.lower() == "content-length" for k in hdrs):
        hdrs["Content-Length"] = str(len(body))
    lines.extend("%s: %s" % (k, v) for k, v in hdrs.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body
