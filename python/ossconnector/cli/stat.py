"""``ossc stat oss://bucket/key``: size, modification time and ETag of one
object (a HEAD request).

Prints ``name: value`` lines, or one JSON object with ``--json``.  Exit
status 1 when the object does not exist (a prefix with objects under it is
named as such).
"""

from __future__ import annotations

import argparse
import json
import time

from ._common import CommandError, describe, make_client, split_oss

NAME = "stat"
HELP = "size, modification time and ETag of an object"


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uris", metavar="URI", nargs="+", help="oss://bucket/key")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    for uri in args.uris:
        _, key = split_oss(uri)
        if not key:
            raise CommandError(f"{uri}: stat needs an object key, not a bucket")
    client = make_client(args)
    failed = 0
    try:
        for i, uri in enumerate(args.uris):
            try:
                entry = client.stat(uri)
            except FileNotFoundError as exc:
                failed += 1
                prefix = uri if uri.endswith("/") else uri + "/"
                if next(iter(client.list(prefix)), None) is not None:
                    _warn(f"{uri}: not an object, but a prefix with objects under it "
                          f"(see: ossc ls {prefix})")
                else:
                    _warn(str(exc))
                continue
            if args.json:
                print(json.dumps({"uri": entry.uri, "bucket": entry.bucket, "key": entry.key,
                                  "size": entry.size, "mtime": entry.mtime, "etag": entry.etag}))
            else:
                when = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.mtime))
                        if entry.mtime else "-")
                if i:
                    print()
                print(f"uri:   {entry.uri}\nsize:  {entry.size}\nmtime: {when}\n"
                      f"etag:  {entry.etag}")
    finally:
        client.close()
    if failed:
        raise CommandError(f"{failed} of {len(args.uris)} objects not found")
    return 0


def _warn(message: str) -> None:
    from ._common import warn

    warn(f"stat: {message}")
