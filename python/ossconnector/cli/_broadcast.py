"""What ``ossc broadcast`` and ``ossc doctor`` share about model
broadcasting: where the Redis registry is (the setting and where it came
from), and the two native calls on it (ping, status).

The URL is ``redis://[[user]:password@]host[:port][/db]``; nothing here
prints it with its password (:func:`redis_where`)."""

from __future__ import annotations

import json
import os
from typing import Optional, Tuple
from urllib.parse import urlsplit

from ._common import CommandError

__all__ = ["REDIS_ENV", "ADVERTISE_ENV", "LISTEN_ENV", "DEFAULT_TIMEOUT_MS", "redis_setting",
           "listen_setting", "redis_where", "settings", "ping", "status"]

REDIS_ENV = "OSSC_BROADCAST_REDIS"
ADVERTISE_ENV = "OSSC_BROADCAST_ADVERTISE"
LISTEN_ENV = "OSSC_BROADCAST_LISTEN"
DEFAULT_TIMEOUT_MS = 3000  # connect and each reply: a dead server costs this, no more


def redis_setting(given: Optional[str], config_path: Optional[str]) -> Tuple[Optional[str], str]:
    """(URL or None, where it came from in words): ``given`` (--redis), else
    ``$OSSC_BROADCAST_REDIS``, else ``broadcast.redis`` in the config file."""
    if given:
        return given, "--redis"
    env = os.environ.get(REDIS_ENV)
    if env:
        return env, f"${REDIS_ENV}"
    from .._config import config_path_in_use, load_config

    path = config_path_in_use(config_path)
    if path is None:
        return None, f"no --redis, no ${REDIS_ENV}, no config file"
    try:
        config = load_config(path)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    value = config.get("broadcast", {}).get("redis") if isinstance(
        config.get("broadcast"), dict) else None
    if value is None:
        return None, f"no --redis, no ${REDIS_ENV}, no broadcast.redis in {path}"
    if not isinstance(value, str) or not value:
        raise CommandError(f"config file {path}: broadcast.redis must be a redis:// URL "
                           "string")
    return value, f"broadcast.redis in {path}"


def listen_setting(config_path: Optional[str]) -> Optional[Tuple[str, str]]:
    """(name for messages, host:port) of the address this node's chunk server
    would listen on, as the library picks it: ``$OSSC_BROADCAST_LISTEN``, else
    ``broadcast.listen``, else ``$OSSC_BROADCAST_ADVERTISE``, else
    ``broadcast.advertise`` (each variable over its key); None when none is
    set (the library then uses the local address towards Redis, port 7070).
    A config file that cannot be read adds nothing (the redis check reports
    it)."""
    from .._config import config_path_in_use, load_config

    section: dict = {}
    path = config_path_in_use(config_path)
    if path is not None:
        try:
            value = load_config(path).get("broadcast")
        except (OSError, ValueError):
            value = None
        if isinstance(value, dict):
            section = value
    for env, key in ((LISTEN_ENV, "listen"), (ADVERTISE_ENV, "advertise")):
        if os.environ.get(env):
            return f"${env}", os.environ[env]
        if isinstance(section.get(key), str) and section[key]:
            return f"broadcast.{key}", section[key]
    return None


def _without_userinfo(url: str) -> Optional[str]:
    """url with its userinfo dropped, as the engine's masking reads it (the
    userinfo runs from ``://`` to the LAST ``@``, so a password written with
    a raw ``/``, ``?``, ``#`` or ``@`` goes with it); None when the URL has no
    ``scheme://`` (where its userinfo ends cannot be told)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    return f"{scheme}://{rest[rest.rfind('@') + 1:]}"


def redis_where(url: str) -> str:
    """'host:port db N' for a message: never the password (best effort on a
    URL the engine will refuse anyway)."""
    plain = _without_userinfo(url)
    if plain is None:
        return "(unparsable URL)"
    try:
        parts = urlsplit(plain)
        host = parts.hostname or "?"
        port = parts.port or 6379
        db = parts.path.strip("/") or "0"
    except ValueError:
        return "(unparsable URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port} db {db}"


def _call_error(exc: OSError) -> CommandError:
    return CommandError(str(exc))


def _json_call(call) -> dict:
    """call(out, err) fills out (char **) with JSON the library allocated:
    that JSON as a dict; CommandError with the library's message."""
    from .._native import check, ffi, lib, new_error

    err = new_error()
    out = ffi.new("char **")
    try:
        check(call(out, err), err)
    except OSError as exc:
        raise _call_error(exc) from None
    try:
        text = ffi.string(out[0]).decode("utf-8", "replace")
    finally:
        lib.ossc_string_free(out[0])
    return json.loads(text)


def settings(config_path: Optional[str]) -> dict:
    """The broadcasting settings a node started now would use, as the
    library reads them (variables over config.json's ``broadcast`` keys):
    ``{"enabled": False}`` or the addresses, numbers and where the secret
    comes from (never the secret).  CommandError naming the variable, or the
    file and the key, when a setting would turn broadcasting off."""
    from .._native import ffi, lib

    path = os.fspath(config_path).encode() if config_path else ffi.NULL
    return _json_call(lambda out, err: lib.ossc_broadcast_settings(path, out, err))


def ping(url: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> None:
    """Connects, AUTH, SELECT, PING; CommandError naming the server (never
    the password) when that fails."""
    from .._native import check, lib, new_error

    err = new_error()
    try:
        check(lib.ossc_broadcast_ping(url.encode(), int(timeout_ms), err), err)
    except OSError as exc:
        raise _call_error(exc) from None


def status(url: str, oss_path: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> dict:
    """The registry's view of the model at oss_path (the JSON of
    ossc_broadcast_status, as a dict)."""
    from .._native import lib

    return _json_call(lambda out, err: lib.ossc_broadcast_status(
        url.encode(), oss_path.encode(), int(timeout_ms), out, err))
