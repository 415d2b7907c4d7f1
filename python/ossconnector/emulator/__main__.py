"""CLI: ``python -m ossconnector.emulator [options]`` serves in the foreground.

Prints exactly one line to stdout, ``ossemu listening on http://HOST:PORT``,
then serves until Ctrl-C or SIGTERM (exit status 0).  Credentials come from
``--access-key-id``/``--access-key-secret`` or the ``OSSEMU_ACCESS_KEY_ID``/
``OSSEMU_ACCESS_KEY_SECRET`` environment variables (test defaults otherwise);
extra pairs from ``--credential AK:SECRET`` or ``OSSEMU_EXTRA_CREDENTIALS``
(comma-separated ``AK:SECRET``).
"""

import argparse
import os
import signal
import sys

from .config import DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_MAX_SKEW, DEFAULT_REGION, EmulatorConfig


def _pairs(items):
    creds = {}
    for item in items:
        if not item:
            continue
        ak, sep, secret = item.partition(":")
        if not sep or not ak:
            raise SystemExit("invalid credential %r (expected AK:SECRET)" % item.split(":")[0])
        creds[ak] = secret
    return creds


def parse_args(argv=None):
    env = os.environ
    p = argparse.ArgumentParser(prog="python -m ossconnector.emulator", description="Local Alibaba Cloud OSS emulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    p.add_argument("--access-key-id", default=env.get("OSSEMU_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID))
    p.add_argument("--access-key-secret", default=env.get("OSSEMU_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET))
    p.add_argument("--credential", action="append", default=[], metavar="AK:SECRET",
                   help="additional accepted credential pair (repeatable)")
    p.add_argument("--region", default=DEFAULT_REGION, help="region accepted in V4 scopes (default %(default)s)")
    p.add_argument("--domain", default=None, help="enable virtual-hosted addressing for <bucket>.DOMAIN")
    p.add_argument("--bucket", action="append", default=[], help="bucket to pre-create (repeatable)")
    p.add_argument("--max-skew", type=float, default=DEFAULT_MAX_SKEW,
                   help="allowed clock skew in seconds, 0 disables (default %(default)s)")
    p.add_argument("--min-part-size", type=int, default=100 * 1024)
    p.add_argument("--quiet", action="store_true", help="do not log requests")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    extra = _pairs(os.environ.get("OSSEMU_EXTRA_CREDENTIALS", "").split(","))
    extra.update(_pairs(args.credential))
    config = EmulatorConfig(access_key_id=args.access_key_id, access_key_secret=args.access_key_secret,
                            host=args.host, port=args.port, region=args.region, domain=args.domain,
                            max_skew=args.max_skew or None, extra_credentials=extra, buckets=tuple(args.bucket),
                            quiet=args.quiet, min_part_size=args.min_part_size)
    from .app import EmulatorApp
    from .httpserver import ThreadedWSGIServer

    app = EmulatorApp(config)
    for name in config.buckets:
        app.ensure_bucket(name)
    server = ThreadedWSGIServer(config.host, config.port, app, quiet=config.quiet)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    host = "[%s]" % config.host if ":" in config.host else config.host
    print("ossemu listening on http://%s:%d" % (host, server.port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
