"""``ossc ls oss://bucket/prefix``: list objects; ``ossc ls`` alone lists
the buckets the credentials own (ListBuckets), one ``oss://bucket/`` a line.

Without ``-r`` the listing stops at the next ``/`` like a directory listing:
objects directly under the prefix are printed as URIs and deeper keys are
folded into one ``oss://bucket/prefix/dir/`` line each.  ``-r`` prints every
object.  ``-l`` adds size and modification time (``-H``: sizes in KiB,
MiB, ...).  Output is one entry per line on stdout, for scripts.

Exit status 1 when a prefix (other than a bucket root) matches nothing.
"""

from __future__ import annotations

import argparse
import time

from ._common import CommandError, describe, make_client, split_oss
from ._progress import human_bytes

NAME = "ls"
HELP = "list objects under oss://bucket/prefix, or the buckets (no URI)"


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri", metavar="URI", nargs="?",
                   help="oss://bucket[/prefix]; without it, the buckets are listed")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="every object below the prefix, not one level")
    p.add_argument("-l", "--long", action="store_true", help="show size and modification time")
    p.add_argument("-H", "--human-readable", action="store_true",
                   help="with -l: sizes as 1.5 GiB")
    p.add_argument("--fast", action="store_true",
                   help="fast list (concurrent listing of the key space; for millions of keys)")
    p.add_argument("-s", "--summarize", action="store_true",
                   help="print the number of objects and total size at the end")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.uri is None:
        return _list_buckets(args)
    bucket, prefix = split_oss(args.uri)
    client = make_client(args)
    try:
        entries = client.list(args.uri, fast=args.fast)
        if args.fast:
            entries = sorted(entries, key=lambda e: e.key)
        count = total = 0
        seen_dirs = set()
        for entry in entries:
            count += 1
            total += entry.size
            rest = entry.key[len(prefix):]
            if not args.recursive and "/" in rest:
                # Fold deeper keys into their first-level "directory".
                d = prefix + rest.split("/", 1)[0] + "/"
                if d not in seen_dirs:
                    seen_dirs.add(d)
                    _print_dir(f"oss://{bucket}/{d}", args)
                continue
            _print_entry(entry, args)
    finally:
        client.close()
    if args.summarize:
        size = human_bytes(total) if args.human_readable else f"{total} bytes"
        print(f"{count} objects, {size}")
    if count == 0 and prefix:
        raise CommandError(f"no objects under {args.uri}")
    return 0


def _list_buckets(args) -> int:
    client = make_client(args)
    try:
        names = client.list_buckets()
    finally:
        client.close()
    for name in names:
        print(f"oss://{name}/")
    if args.summarize:
        print(f"{len(names)} buckets")
    return 0


def _print_dir(uri: str, args) -> None:
    if args.long:
        print(f"{'DIR':>12}  {'':19}  {uri}")
    else:
        print(uri)


def _print_entry(entry, args) -> None:
    if not args.long:
        print(entry.uri)
        return
    size = human_bytes(entry.size) if args.human_readable else str(entry.size)
    when = (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.mtime))
            if entry.mtime else "-")
    print(f"{size:>12}  {when:19}  {entry.uri}")
