"""``ossc doctor [oss://bucket/prefix]``: check the setup and say what is
wrong in plain words.

Checks, in order: the native library loads; the config file (which one is
used, valid JSON, values in range); the credentials (where they come from,
complete, not expired); the endpoint (name resolves, port answers HTTP);
the clock (the server's ``Date`` against this machine's: OSS refuses
requests more than 15 minutes off); the node cache's root
(``$OSSC_CACHE_DIR``, else ``/dev/shm``: usable as the library requires, its
file system, room, and whether its pages can be huge); and, given a bucket
(the argument, else ``$OSS_PATH``), a signed request: listing the prefix, which proves the
credentials are accepted and allowed to read there.  When model
broadcasting is configured: every broadcasting setting is valid as the
library reads it, the Redis registry answers
(``$OSSC_BROADCAST_REDIS`` or ``broadcast.redis``), and the address this node
would listen on (``$OSSC_BROADCAST_LISTEN``, else ``broadcast.listen``, else
the same for the advertised address) can be bound here.

Exit status 0 when nothing failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import socket
import ssl
import time
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

from ._common import credential_source, describe, explain, split_oss

NAME = "doctor"
HELP = "check library, config, credentials, endpoint, clock, cache root and access"

MAX_SKEW = 900    # seconds: OSS answers RequestTimeTooSkewed beyond 15 minutes
WARN_SKEW = 60
TIMEOUT = 5.0

_now = time.time  # replaced in tests to simulate a skewed clock


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri", metavar="URI", nargs="?",
                   help="oss://bucket[/prefix] to try a signed request on (default: $OSS_PATH)")
    p.set_defaults(func=run)
    return p


class _Report:
    def __init__(self):
        self.failed = 0
        self.warned = 0

    def line(self, status: str, what: str, message: str, fix: str = "") -> None:
        if status == "FAIL":
            self.failed += 1
        elif status == "warn":
            self.warned += 1
        print(f"{status:5} {what:12} {message}", flush=True)
        if fix:
            for part in fix.splitlines():
                print(f"{'':18}-> {part.lstrip('-> ').strip()}", flush=True)


def run(args) -> int:
    rep = _Report()
    lib_ok = _check_library(rep)
    config = _check_config(rep, args)
    creds_ok = _check_credentials(rep, args)
    reachable = _check_endpoint_and_clock(rep, args, config)
    _check_cache_root(rep)
    if lib_ok and config is not None and creds_ok and reachable:
        _check_access(rep, args)
    else:
        rep.line("skip", "access", "no signed request tried: fix the failures above first")
    _check_broadcast(rep, args, lib_ok)
    if rep.failed:
        print(f"{rep.failed} check(s) failed" + (f", {rep.warned} warning(s)" if rep.warned
                                                 else ""))
        return 1
    print("all checks passed" + (f" ({rep.warned} warning(s))" if rep.warned else ""))
    return 0


# -- library --------------------------------------------------------------------

def _check_library(rep: _Report) -> bool:
    from .. import __version__

    try:
        from ..preload import library_path

        path = library_path()
    except (ImportError, OSError) as exc:
        rep.line("FAIL", "library", f"the native engine does not load: {exc}",
                 "reinstall the package (pip install ossconnector) and check that libcurl, "
                 "OpenSSL, libxml2 and jansson are installed")
        return False
    rep.line("ok", "library", f"{path} (ossconnector {__version__})")
    return True


# -- cache root -----------------------------------------------------------------

HUGE_DOC = "docs/ld_preload.md#huge-pages-for-the-cache"


def _shmem_enabled() -> str:
    """The kernel's tmpfs-wide huge page setting (the bracketed word of
    /sys/kernel/mm/transparent_hugepage/shmem_enabled), "" when unknown."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            text = f.read()
    except OSError:
        return ""
    start, end = text.find("["), text.find("]")
    return text[start + 1:end] if 0 <= start < end else ""


def _check_cache_root(rep: _Report) -> None:
    """The rules the library applies to the cache root (trailing slashes
    dropped; made if missing; a directory, not a symlink, ours or root's,
    not writable by others unless sticky), then what it is: its file system,
    its room, and for a tmpfs whether the cache's pages may be huge (its
    ``huge=`` mount option: within_size or always; advise gives none to
    pages allocated with fallocate, as the cache's are)."""
    import stat as st

    from ._mounts import mount_of

    given = os.environ.get("OSSC_CACHE_DIR") or "/dev/shm"
    what = f"{given} ({'OSSC_CACHE_DIR' if os.environ.get('OSSC_CACHE_DIR') else 'default'})"
    root = given.rstrip("/") or "/"   # as the library: "link/" would follow the link
    try:
        info = os.lstat(root)
    except FileNotFoundError:
        parent = os.path.dirname(root) or "."
        if os.path.isdir(parent) and os.access(parent, os.W_OK | os.X_OK):
            rep.line("ok", "cache", f"{what} does not exist yet: the library creates it "
                     "(mode 0700) when it starts")
        else:
            rep.line("FAIL", "cache", f"{what} does not exist, and this user cannot create it "
                     f"in {parent}", "create it, or set OSSC_CACHE_DIR to a directory of yours "
                     "on a tmpfs")
        return
    except OSError as exc:
        rep.line("FAIL", "cache", f"{what}: {exc.strerror}",
                 "set OSSC_CACHE_DIR to a directory of yours on a tmpfs")
        return
    if not st.S_ISDIR(info.st_mode):
        rep.line("FAIL", "cache", f"{what} is a symlink or not a directory: the library "
                 "refuses it", "set OSSC_CACHE_DIR to the real directory")
        return
    mode = st.S_IMODE(info.st_mode)
    if mode & 0o022 and not mode & st.S_ISVTX:
        rep.line("FAIL", "cache", f"{what} is writable by others and not sticky (mode "
                 f"{mode:04o}): the library refuses it", "chmod +t it (as /dev/shm is), or 0700")
        return
    if info.st_uid not in (os.geteuid(), 0):
        rep.line("FAIL", "cache", f"{what} belongs to uid {info.st_uid}, neither this user "
                 f"(uid {os.geteuid()}) nor root: the library refuses it",
                 "use a directory of yours, or /dev/shm")
        return
    if not os.access(root, os.W_OK | os.X_OK):
        rep.line("FAIL", "cache", f"{what}: this user cannot create the cache there",
                 "set OSSC_CACHE_DIR to a directory this user can write")
        return
    vfs = os.statvfs(root)
    free, size = vfs.f_bavail * vfs.f_frsize, vfs.f_blocks * vfs.f_frsize
    mount = mount_of(root)
    fstype = mount.fstype if mount else "?"
    room = f"{free / 2**30:.1f} GiB free of {size / 2**30:.1f} GiB"
    if fstype != "tmpfs":
        rep.line("warn", "cache", f"{what}: {fstype}, {room}: not a tmpfs, so the cached "
                 "bytes are written back to a disk", "set OSSC_CACHE_DIR to a directory on a "
                 "tmpfs (e.g. /dev/shm)")
        return
    huge = mount.options.get("huge", "never")
    forced = _shmem_enabled()
    # huge=advise gives huge pages only to pages allocated through a
    # mapping that asked: the cache allocates with fallocate, so none.
    if forced == "deny" or (huge in ("never", "advise", "") and forced != "force"):
        rep.line("ok", "cache", f"{what}: tmpfs, {room}, 4 KiB pages (mounted "
                 + ("huge=advise, which the cache's fallocate does not use)" if huge == "advise"
                    else "without huge=)"),
                 "a mapped multi-GiB model faults in and unmaps 4 KiB at a time here; a "
                 "tmpfs mounted huge=within_size as OSSC_CACHE_DIR gives 2 MiB pages "
                 f"(landing into them may cost more: measure first): see {HUGE_DOC}")
        return
    rep.line("ok", "cache", f"{what}: tmpfs, {room}, huge pages allowed "
             f"(huge={huge if forced != 'force' else 'force, by the kernel'})")


# -- config ---------------------------------------------------------------------

def _check_config(rep: _Report, args) -> Optional[dict]:
    """The parsed config ({} when none is used), or None when it is unusable."""
    from .._config import config_path_in_use, load_config

    path = config_path_in_use(args.config)
    config: dict = {}
    if path is not None:
        try:
            config = load_config(path)
        except (OSError, ValueError) as exc:
            rep.line("FAIL", "config", str(exc),
                     "fix the file, point --config / $OSS_CONNECTOR_CONFIG elsewhere, or "
                     "remove it to use the defaults")
            return None
    # The engine checks every key and range, and opens its log, when it
    # starts: start one that sends nothing.
    try:
        from ..client import Client

        Client("127.0.0.1:1", cred_provider=_no_credentials, config_path=path).close()
    except ImportError:
        pass  # reported by the library check
    except (OSError, ValueError) as exc:
        rep.line("FAIL", "config", str(exc).replace("Client: ", "", 1),
                 "fix the value named above (docs/configuration.md lists every key with its "
                 "range)")
        return None
    if path is None:
        rep.line("ok", "config", "no config file: built-in defaults "
                 "(/etc/oss-connector/config.json does not exist)")
    else:
        rep.line("ok", "config", f"{path}: valid" + _log_note(config))
    _check_log(rep, config)
    return config


class _Placeholder:
    access_key_id = "doctor-config-check"
    access_key_secret = "unused"
    security_token = ""


def _no_credentials():
    # The engine asks for credentials when it starts; this client never sends a request.
    return _Placeholder()


def _log_note(config: dict) -> str:
    level = config.get("logLevel", 1)
    names = {0: "DEBUG", 1: "INFO", 2: "WARN", 3: "ERROR"}
    return f", log level {names.get(level, level)}"


def _check_log(rep: _Report, config: dict) -> None:
    """The engine opened (creating it if needed) its log file when the
    config check started it; if the file is not there or not writable,
    logs go to stderr."""
    log_path = config.get("logPath", "/var/log/oss-connector/connector.log")
    if not isinstance(log_path, str) or not log_path:
        return
    if not (os.path.isfile(log_path) and os.access(log_path, os.W_OK)):
        rep.line("warn", "log", f"cannot write {log_path}, so the engine logs WARN and "
                 "above to stderr instead",
                 'set logPath in your config to a writable place, or "" for no log file')


# -- credentials ----------------------------------------------------------------

def _mask(key_id: str) -> str:
    return key_id if len(key_id) <= 8 else f"{key_id[:4]}...{key_id[-4:]}"


def _check_credentials(rep: _Report, args) -> bool:
    path, source = credential_source(args)
    if path is None:
        key_id = os.environ.get("OSS_ACCESS_KEY_ID", "")
        if not key_id:
            rep.line("FAIL", "credentials", f"none found: {source}",
                     "give --cred-path FILE, or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET")
            return False
        if not os.environ.get("OSS_ACCESS_KEY_SECRET"):
            rep.line("FAIL", "credentials", "OSS_ACCESS_KEY_ID is set but "
                     "OSS_ACCESS_KEY_SECRET is not", "set OSS_ACCESS_KEY_SECRET")
            return False
        token = " with an STS token" if os.environ.get("OSS_SESSION_TOKEN") else ""
        rep.line("ok", "credentials", f"from the environment: AccessKeyId {_mask(key_id)}{token}")
        return True
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        rep.line("FAIL", "credentials", f"{path}: no such file",
                 "create it (JSON with AccessKeyId and AccessKeySecret) or give another "
                 "--cred-path")
        return False
    except PermissionError:
        rep.line("FAIL", "credentials", f"{path}: not readable by this user",
                 "fix its owner/permissions (it should be 0600, owned by the user)")
        return False
    except ValueError:
        # Never quote the text: it holds the secret.
        rep.line("FAIL", "credentials", f"{path}: not valid JSON",
                 'expected {"AccessKeyId": "...", "AccessKeySecret": "..."}')
        return False
    if not isinstance(data, dict) or not data.get("AccessKeyId") or \
            not data.get("AccessKeySecret"):
        rep.line("FAIL", "credentials", f"{path}: AccessKeyId or AccessKeySecret is missing "
                 "or empty", 'expected {"AccessKeyId": "...", "AccessKeySecret": "..."}')
        return False
    ok = True
    expiration = data.get("Expiration")
    note = ""
    if expiration:
        left = _seconds_left(str(expiration))
        if left is None:
            rep.line("FAIL", "credentials", f"{path}: Expiration {expiration!r} is not a date",
                     "use ISO 8601, e.g. 2024-08-02T15:04:05Z")
            return False
        if left <= 0:
            rep.line("FAIL", "credentials", f"{path}: the STS token expired at {expiration}",
                     "refresh the credential file (it is re-read automatically once replaced)")
            return False
        note = f", token expires in {int(left // 60)} min"
        if left < 300:
            ok = False
            rep.line("warn", "credentials", f"{path}: the token expires in {int(left)} s",
                     "refresh the credential file before it expires")
    mode = os.stat(path).st_mode & 0o077
    if mode:
        rep.line("warn", "credentials", f"{path} is readable by other users (mode "
                 f"{os.stat(path).st_mode & 0o777:o})", f"chmod 600 {path}")
    if ok:
        rep.line("ok", "credentials", f"{source}: AccessKeyId {_mask(str(data['AccessKeyId']))}"
                 f"{note}")
    return True


def _seconds_left(text: str) -> Optional[float]:
    from datetime import datetime, timezone

    t = text.strip().replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() - _now()


# -- endpoint and clock ---------------------------------------------------------

def _split_endpoint(endpoint: str) -> Tuple[str, str, int]:
    url = endpoint if "://" in endpoint else "http://" + endpoint
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {endpoint!r} is not host[:port] or http(s)://host[:port]")
    return scheme, parts.hostname, parts.port or (443 if scheme == "https" else 80)


def _check_endpoint_and_clock(rep: _Report, args, config: Optional[dict]) -> bool:
    endpoint = args.endpoint
    if not endpoint:
        rep.line("FAIL", "endpoint", "no endpoint given",
                 "give --endpoint or set OSS_ENDPOINT (e.g. oss-cn-hangzhou.aliyuncs.com)")
        return False
    try:
        scheme, host, port = _split_endpoint(endpoint)
    except ValueError as exc:
        rep.line("FAIL", "endpoint", str(exc), "e.g. oss-cn-hangzhou-internal.aliyuncs.com")
        return False
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        rep.line("FAIL", "endpoint", f"{host}: the name does not resolve ({exc.strerror})",
                 "check the spelling and DNS; -internal endpoints only resolve inside the "
                 "cloud region's network")
        return False
    import http.client

    t0 = time.monotonic()
    try:
        if scheme == "https":
            http_cfg = (config or {}).get("http", {}) if isinstance(config, dict) else {}
            ctx = ssl.create_default_context(cafile=http_cfg.get("caFile") or None)
            if http_cfg.get("verifyTls") is False:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        conn.request("GET", "/", headers={"User-Agent": "ossc-doctor"})
        resp = conn.getresponse()
        resp.read()
        date = resp.getheader("Date")
        conn.close()
    except ssl.SSLError as exc:
        rep.line("FAIL", "endpoint", f"{scheme}://{host}:{port}: TLS failed: {exc}",
                 "check the system CA bundle or http.caFile; for a plain-HTTP server use "
                 "http://")
        return False
    except (OSError, http.client.HTTPException) as exc:
        rep.line("FAIL", "endpoint", f"{scheme}://{host}:{port} does not answer: {exc}",
                 "check the host, port and firewall; is the server running?")
        return False
    ms = (time.monotonic() - t0) * 1000
    rep.line("ok", "endpoint", f"{scheme}://{host}:{port} answers HTTP ({ms:.0f} ms)")
    _check_clock(rep, date)
    return True


def _check_clock(rep: _Report, date: Optional[str]) -> None:
    if not date:
        rep.line("warn", "clock", "the server sent no Date header: clock skew not checked")
        return
    try:
        server = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        rep.line("warn", "clock", f"cannot read the server's Date {date!r}: not checked")
        return
    skew = _now() - server
    direction = "ahead of" if skew > 0 else "behind"
    text = f"this machine is {abs(skew):.0f} s {direction} the server"
    if abs(skew) > MAX_SKEW:
        rep.line("FAIL", "clock", text + " (OSS refuses requests more than 15 minutes off)",
                 "synchronise the clock (e.g. chronyc makestep, or enable NTP)")
    elif abs(skew) > WARN_SKEW:
        rep.line("warn", "clock", text, "synchronise the clock (NTP) before it drifts further")
    else:
        rep.line("ok", "clock", f"within {max(1, round(abs(skew)))} s of the server")


# -- signed request -------------------------------------------------------------

def _check_access(rep: _Report, args) -> None:
    from ._common import CommandError, UsageError, make_client

    uri = args.uri or os.environ.get("OSS_PATH", "")
    try:
        client = make_client(args)
    except (CommandError, UsageError) as exc:
        rep.line("FAIL", "client", str(exc).splitlines()[0], _fix_of(str(exc)))
        return
    try:
        if not uri:
            rep.line("skip", "access", "no bucket to try a signed request on",
                     "run `ossc doctor oss://bucket/prefix/` (or set OSS_PATH) to check that "
                     "the credentials are accepted")
            return
        try:
            split_oss(uri)
        except Exception as exc:
            rep.line("FAIL", "access", str(exc), "use oss://bucket/prefix/")
            return
        try:
            first = next(iter(client.list(uri)), None)
        except OSError as exc:
            text = explain(exc)
            message, _, fix = text.partition("\n")
            rep.line("FAIL", "access", message, fix)
            return
        found = "objects found" if first is not None else "nothing under it yet"
        rep.line("ok", "access", f"signed listing of {uri} accepted ({found})")
    finally:
        client.close()


def _fix_of(text: str) -> str:
    lines: List[str] = text.splitlines()[1:]
    return "\n".join(lines)


# -- model broadcasting -------------------------------------------------------------

def _check_broadcast(rep: _Report, args, lib_ok: bool) -> None:
    """Only when broadcasting is configured: nothing is printed otherwise."""
    from ._broadcast import (DEFAULT_TIMEOUT_MS, listen_setting, ping, redis_setting,
                             redis_where, settings)
    from ._common import CommandError

    try:
        url, source = redis_setting(None, getattr(args, "config", None))
    except CommandError as exc:
        rep.line("FAIL", "broadcast", str(exc), "fix broadcast.redis in the config file")
        url = None
    if url is not None and lib_ok:
        try:  # every setting, as the library takes them at start-up
            bc = settings(getattr(args, "config", None))
        except CommandError as exc:
            rep.line("FAIL", "broadcast", str(exc),
                     "until it is fixed, this node loads the model from OSS (broadcasting off)")
        else:
            if bc.get("enabled"):
                rep.line("ok", "broadcast", f"settings: advertise {bc['advertise']}, listen "
                         f"{bc['listen']}, {bc['sources']} source(s), secret from "
                         f"{bc['secret_from']}")
    if url is not None:
        where = redis_where(url)
        if not lib_ok:
            rep.line("skip", "broadcast", f"Redis registry {where} not tried: the native "
                     "library does not load")
        else:
            t0 = time.monotonic()
            try:
                ping(url, DEFAULT_TIMEOUT_MS)
            except CommandError as exc:
                rep.line("FAIL", "broadcast", f"{exc} (from {source})",
                         "check that redis-server runs there and the URL's host, port, "
                         "password and db\nuntil it answers, every node loads the model "
                         "from OSS itself")
            else:
                ms = (time.monotonic() - t0) * 1000
                rep.line("ok", "broadcast", f"redis: ok ({where}, from {source}, "
                         f"{ms:.0f} ms)")
    address = listen_setting(getattr(args, "config", None))
    if address is not None:
        _check_bind(rep, *address)


def _split_host_port(text: str) -> Tuple[str, int]:
    """host:port, or [IPv6 address]:port, as the library reads them
    (libpreload/broadcast/hostport.c): an unbracketed IPv6 address, brackets
    around anything but an IPv6 address (a zone id included), and a port
    that is not 1-5 ASCII digits from 1 to 65535 are refused."""
    host, sep, port = text.rpartition(":")
    if (not sep or not host or not 0 < len(port) <= 5 or not port.isascii()
            or not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError("not host:port")
    if host.startswith("[") and host.endswith("]"):
        try:
            socket.inet_pton(socket.AF_INET6, host[1:-1])
        except OSError:
            raise ValueError("not host:port") from None
        return host[1:-1], int(port)
    if ":" in host or "[" in host or "]" in host:
        raise ValueError("not host:port")
    return host, int(port)


def _check_bind(rep: _Report, name: str, value: str) -> None:
    """Binds (and closes at once) the address this node's chunk server
    would listen on."""
    import errno as _errno

    try:
        host, port = _split_host_port(value)
    except ValueError:
        rep.line("FAIL", "advertise", f"{name}={value!r} is not host:port",
                 "e.g. 10.0.0.5:7070 or [fd00::5]:7070 (an address of this node that the "
                 "others reach)")
        return
    try:
        family = socket.AF_INET6 if value.startswith("[") else socket.AF_INET  # as the library
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        rep.line("FAIL", "advertise", f"{name}={value}: {host} does not resolve "
                 f"({exc.strerror})", "use an IP address or a name this node resolves")
        return
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:  # as the chunk server binds it: IPv6 only
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
    except OSError as exc:
        if exc.errno == _errno.EADDRINUSE:
            rep.line("warn", "advertise", f"{name}={value}: the port is in use (a node's "
                     "chunk server already running here, or another program)",
                     "if no node runs here, pick a free port")
        elif exc.errno == _errno.EADDRNOTAVAIL:
            rep.line("FAIL", "advertise", f"{name}={value}: {host} is not an address of "
                     "this machine", "set it to one of this node's addresses (ip addr), "
                     "or set OSSC_BROADCAST_LISTEN to the local one to listen on")
        else:
            rep.line("FAIL", "advertise", f"{name}={value}: cannot bind: {exc.strerror}",
                     "ports below 1024 need privileges: pick a higher one")
        return
    finally:
        sock.close()
    rep.line("ok", "advertise", f"{name}={value} can be bound here")
