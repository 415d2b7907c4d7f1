"""CLI: ``python -m ossconnector.emulator [options]`` serves in the foreground.

Prints exactly one line to stdout, ``ossemu listening on http://HOST:PORT``,
and on stderr the credentials it accepts (the default pair in full, since
it is public; a pair given by option or environment by its key id only,
its secret never echoed), then serves until Ctrl-C or SIGTERM (exit
status 0).  Credentials come from
``--access-key-id``/``--access-key-secret`` or the ``OSSEMU_ACCESS_KEY_ID``/
``OSSEMU_ACCESS_KEY_SECRET`` environment variables (test defaults otherwise);
extra pairs from ``--credential AK:SECRET`` or ``OSSEMU_EXTRA_CREDENTIALS``
(comma-separated ``AK:SECRET``).
"""

import argparse
import math
import os
import re
import signal
import sys

from .config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_MAX_SKEW, DEFAULT_REGION, EmulatorConfig


# OSS bucket names (the store refuses any other): 3-63 characters of a-z,
# 0-9 and '-', starting and ending with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


def _pairs(items, where):
    """``AK:SECRET`` items -> {AK: SECRET}.  ValueError naming ``where`` and
    the key id (never the secret) on a malformed item."""
    creds = {}
    for item in items:
        if not item:
            continue
        ak, sep, secret = item.partition(":")
        if not sep or not ak or not secret:
            raise ValueError("%s: invalid credential %r (expected AK:SECRET)"
                             % (where, item.split(":")[0]))
        creds[ak] = secret
    return creds


# argparse "type" checkers: a ValueError/ArgumentTypeError becomes
# "argument --x: <message>" and exit status 2, never a traceback.

def _bucket(text):
    if not _BUCKET_RE.match(text):
        raise argparse.ArgumentTypeError(
            "invalid bucket name %r: OSS bucket names are 3-63 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit" % text)
    return text


def _port(text):
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a port number" % text) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("port %d is out of range (0-65535; 0 picks a free one)"
                                         % port)
    return port


def _non_negative(kind):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text) from None
        if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
            raise argparse.ArgumentTypeError("%r must be a finite number >= 0" % text)
        return value
    check.__name__ = kind.__name__
    return check


def _non_empty(what):
    def check(text):
        if not text:
            raise argparse.ArgumentTypeError("%s must not be empty" % what)
        return text
    return check


def parse_args(argv=None):
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m ossconnector.emulator", description="Local Alibaba Cloud OSS emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=0, help="0 picks a free port (default)")
    p.add_argument("--access-key-id", type=_non_empty("the access key id"),
                   default=env.get("OSSEMU_ACCESS_KEY_ID") or DEFAULT_ACCESS_KEY_ID)
    p.add_argument("--access-key-secret", type=_non_empty("the access key secret"),
                   default=env.get("OSSEMU_ACCESS_KEY_SECRET") or DEFAULT_ACCESS_KEY_SECRET)
    p.add_argument("--credential", action="append", default=[], metavar="AK:SECRET",
                   help="additional accepted credential pair (repeatable)")
    p.add_argument("--region", type=_non_empty("the region"), default=DEFAULT_REGION, help="region accepted in V4 scopes (default %(default)s)")
    p.add_argument("--domain", default=None, help="enable virtual-hosted addressing for <bucket>.DOMAIN")
    p.add_argument("--bucket", action="append", default=[], type=_bucket, help="bucket to pre-create (repeatable)")
    p.add_argument("--max-skew", type=_non_negative(float), default=DEFAULT_MAX_SKEW,
                   help="allowed clock skew in seconds, 0 disables (default %(default)s)")
    p.add_argument("--min-part-size", type=_non_negative(int), default=100 * 1024)
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    args = p.parse_args(argv)
    try:
        args.extra = _pairs(env.get("OSSEMU_EXTRA_CREDENTIALS", "").split(","),
                            "OSSEMU_EXTRA_CREDENTIALS")
        args.extra.update(_pairs(args.credential, "--credential"))
    except ValueError as e:
        p.error(str(e))
    return args


def main(argv=None):
    args = parse_args(argv)
    extra = args.extra
    config = EmulatorConfig(access_key_id=args.access_key_id, access_key_secret=args.access_key_secret,
                            host=args.host, port=args.port, region=args.region, domain=args.domain,
                            max_skew=args.max_skew or None, extra_credentials=extra, buckets=tuple(args.bucket),
                            quiet=args.quiet, min_part_size=args.min_part_size)
    from .app import EmulatorApp
    from .httpserver import ThreadedWSGIServer

    app = EmulatorApp(config)
    for name in config.buckets:
        app.ensure_bucket(name)
    try:
        server = ThreadedWSGIServer(config.host, config.port, app, quiet=config.quiet)
    except (OSError, OverflowError) as e:  # bad or busy address: a message, not a traceback
        print("python -m ossconnector.emulator: cannot listen on %s port %d: %s"
              % (config.host, config.port, e.strerror or e), file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    host = "[%s]" % config.host if ":" in config.host else config.host
    print("ossemu listening on http://%s:%d" % (host, server.port), flush=True)
    _print_credentials(config, "http://%s:%d" % (host, server.port))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _print_credentials(config, endpoint):
    """What a client needs to connect, on stderr (stdout keeps its one line)."""
    if (config.access_key_id, config.access_key_secret) == (DEFAULT_ACCESS_KEY_ID,
                                                            DEFAULT_ACCESS_KEY_SECRET):
        pair = ("OSS_ACCESS_KEY_ID=%s OSS_ACCESS_KEY_SECRET=%s (the defaults)"
                % (DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET))
    else:
        pair = "OSS_ACCESS_KEY_ID=%s with the secret given" % config.access_key_id
    lines = ["ossemu accepts %s" % pair]
    if config.extra_credentials:
        lines.append("ossemu also accepts the key ids %s" % ", ".join(sorted(config.extra_credentials)))
    lines.append("ossemu connect with: OSS_ENDPOINT=%s" % endpoint)
    print("\n".join(lines), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
