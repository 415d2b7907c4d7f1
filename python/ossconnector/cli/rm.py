"""``ossc rm oss://bucket/key``: delete objects.

- ``ossc rm oss://b/key`` deletes one object (an error when it does not
  exist: a typo is not silently "deleted").
- ``ossc rm -r oss://b/prefix/`` deletes every object under the prefix.
  It asks first (``delete N objects under oss://b/prefix/? [y/N]``);
  ``-y/--yes`` skips the question, and without ``-y`` a stdin that is not
  a terminal makes it refuse rather than guess.
- ``--dry-run`` prints ``would delete oss://...`` for each object and
  deletes nothing.

Objects are deleted ``-j`` at a time with one DELETE each (the engine has
no DeleteMultipleObjects); each deleted object is printed as
``deleted oss://...`` on stdout.  Exit status 1 when any delete failed.
"""

from __future__ import annotations

import argparse
import sys
import threading

from ._common import (
    CommandError,
    UsageError,
    describe,
    make_client,
    objects_under,
    positive_int,
    prefix_of,
    split_oss,
)
from ._transfer import Cancelled, Task, run_tasks

NAME = "rm"
HELP = "delete an object, or with -r every object under a prefix"
DEFAULT_JOBS = 32


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri", metavar="URI", help="oss://bucket/key, or oss://bucket/prefix/ with -r")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="every object under the prefix")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be deleted, delete nothing")
    p.add_argument("-y", "--yes", action="store_true",
                   help="do not ask before deleting under a prefix")
    p.add_argument("-j", "--jobs", type=positive_int, default=DEFAULT_JOBS,
                   help="deletes at once (default %(default)s)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    bucket, key = split_oss(args.uri)
    if not args.recursive and (not key or key.endswith("/")):
        raise UsageError(f"{args.uri} names a prefix, not an object: use -r to delete what "
                         "is under it")
    client = make_client(args)
    try:
        if args.recursive:
            uris = [entry.uri for entry, _ in objects_under(client, args.uri)]
        else:
            uris = [_existing(client, args.uri)]
        if args.dry_run:
            for uri in uris:
                print(f"would delete {uri}")
            print(f"{len(uris)} objects would be deleted", file=sys.stderr)
            return 0
        if args.recursive and not args.yes:
            _confirm(len(uris), prefix_of(args.uri))
        return _delete_all(client, uris, args.jobs)
    finally:
        client.close()


def _existing(client, uri: str) -> str:
    try:
        return client.stat(uri).uri
    except FileNotFoundError:
        if next(iter(client.list(uri + "/")), None) is not None:
            raise UsageError(f"{uri} is a prefix (a directory), not an object: use -r to "
                             "delete what is under it") from None
        raise CommandError(f"{uri}: no such object") from None


def _confirm(count: int, prefix: str) -> None:
    question = f"delete {count} objects under {prefix}? [y/N] "
    if not sys.stdin or not sys.stdin.isatty():
        raise UsageError(f"not deleting {count} objects under {prefix} without confirmation: "
                         "stdin is not a terminal to ask on; give -y/--yes (or --dry-run "
                         "to see them)")
    sys.stderr.write(question)
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CommandError("nothing deleted")


class _Report:
    """What run_tasks reports to: one ``deleted URI`` line per object."""

    def __init__(self):
        self._lock = threading.Lock()
        self.count = 0

    def advance(self, nbytes: int) -> None:
        pass

    def file_done(self, what: str = "", size: int = 0) -> None:
        with self._lock:
            self.count += 1
            print(f"deleted {what}")


def _delete_all(client, uris, jobs: int) -> int:
    report = _Report()
    tasks = [Task(uri, 0, _delete_job(client, uri)) for uri in uris]
    failures = run_tasks(tasks, jobs, report, NAME)
    sys.stdout.flush()
    if failures:
        raise CommandError(f"{failures} of {len(uris)} deletes failed ({report.count} deleted)")
    return 0


def _delete_job(client, uri):
    def job(progress, cancel):
        if cancel.is_set():
            raise Cancelled()
        client.delete(uri)
    return job
