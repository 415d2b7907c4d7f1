"""Bridges Python credential providers to the engine's callback.

A provider is any object with ``get_credentials()`` returning something
with ``access_key_id``, ``access_key_secret`` and optionally
``security_token`` (every oss2 ``CredentialsProvider`` qualifies), or a
plain callable returning such an object.  The engine calls back from its
own threads; a provider that raises makes the request fail with EACCES
(its message is logged by Python's logging, never the secret).
"""

from __future__ import annotations

import logging

from ._native import ffi, lib

_log = logging.getLogger("ossconnector")


def _field(creds, *names):
    for name in names:
        value = getattr(creds, name, None)
        if value:
            return value
    return ""


def _copy(dst, value: str, field: str) -> None:
    raw = value.encode("utf-8")
    size = ffi.sizeof(dst)
    if len(raw) >= size:
        raise ValueError(f"credential field {field} is longer than {size - 1} bytes")
    ffi.memmove(dst, raw, len(raw))
    dst[len(raw)] = b"\0"


@ffi.def_extern()
def _ossc_py_credentials(userdata, out):
    provider = ffi.from_handle(userdata)
    try:
        getter = getattr(provider, "get_credentials", None)
        creds = getter() if getter is not None else provider()
        _copy(out.access_key_id, _field(creds, "access_key_id", "AccessKeyId"), "access_key_id")
        _copy(out.access_key_secret, _field(creds, "access_key_secret", "AccessKeySecret"),
              "access_key_secret")
        _copy(out.security_token, _field(creds, "security_token", "SecurityToken") or "",
              "security_token")
        out.expiration = int(getattr(creds, "expiration", 0) or 0) if isinstance(
            getattr(creds, "expiration", 0), (int, float)) else 0
        return 0
    except Exception as exc:  # reported to the engine as a failure
        _log.error("credentials provider %s failed: %s", type(provider).__name__, exc)
        return -1
