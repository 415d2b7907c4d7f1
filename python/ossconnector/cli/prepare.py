"""``ossc prepare oss://bucket/models/qwen/ DIR`` (alias ``prefetch``): make a
local model directory from an OSS prefix.

Default: a full local copy.  Every object under the prefix is downloaded
into DIR at its relative path (small files first, then the weights in key
order, ``-j`` files at once, each at the engine's full concurrency), and
each file gets its object's modification time.  Running it again fetches
only what changed: a file whose size and mtime match its object is kept
(``--force`` downloads everything again).  Nothing in DIR is ever deleted.

``--serve``: instead of writing the weights to disk, load them into the
node-wide shared-memory cache with the model connector's
``prepare_directory`` (small files are downloaded, large ones become links
to the cache) and keep the directory served until Ctrl-C or SIGTERM; any
process on the node (vLLM, transformers, a C program) can read it
meanwhile.  When ossc exits, the cache and the links are removed.  See
docs/model_connector.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from ._common import (
    CommandError,
    UsageError,
    add_progress_options,
    describe,
    make_client,
    objects_under,
    positive_int,
    safe_join,
    split_oss,
)
from ._progress import Progress, human_bytes
from ._transfer import Task, download, run_tasks
from .cp import DEFAULT_JOBS

NAME = "prepare"
ALIASES = ["prefetch"]
HELP = "mirror an OSS model directory into a local directory"
SMALL_FILE = 4 << 20


def add_parser(sub, parents):
    p = sub.add_parser(NAME, aliases=ALIASES, parents=parents, help=HELP,
                       description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("uri", metavar="URI", help="oss://bucket/prefix/ of the model")
    p.add_argument("dir", metavar="DIR", help="local directory (created when missing)")
    p.add_argument("-j", "--jobs", type=positive_int, default=DEFAULT_JOBS,
                   help="files at once (default %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="download every file, even those already up to date")
    p.add_argument("--serve", action="store_true",
                   help="serve DIR from the shared-memory cache until interrupted instead "
                        "of copying the weights to disk")
    add_progress_options(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    split_oss(args.uri)
    if os.path.exists(args.dir) and not os.path.isdir(args.dir):
        raise UsageError(f"{args.dir} exists and is not a directory")
    if args.serve:
        return _serve(args)
    client = make_client(args)
    try:
        entries = objects_under(client, args.uri)
        tasks, fresh, fresh_bytes = [], 0, 0
        # Small files first: a framework can read its config while weights arrive.
        entries.sort(key=lambda item: (item[0].size >= SMALL_FILE, item[1]))
        for entry, rel in entries:
            try:
                dest = safe_join(args.dir, rel)
            except CommandError as exc:
                tasks.append(Task(entry.uri, 0, _raise(exc)))
                continue
            if not args.force and _up_to_date(dest, entry):
                fresh += 1
                fresh_bytes += entry.size
                continue
            tasks.append(Task(f"{entry.uri} -> {dest}", entry.size, _job(client, entry, dest)))
        os.makedirs(args.dir, exist_ok=True)
        total = sum(t.size for t in tasks)
        with Progress(total, "prepare", total_files=len(tasks), enabled=args.progress) as prog:
            failures = run_tasks(tasks, args.jobs, prog, NAME)
    finally:
        client.close()
    if failures:
        raise CommandError(f"{failures} of {len(entries)} files failed; run again to retry them")
    print(f"{args.dir}: {len(entries)} files, {human_bytes(total + fresh_bytes)} "
          f"({len(tasks)} downloaded, {fresh} already up to date)")
    return 0


def _up_to_date(path: str, entry) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == entry.size and (not entry.mtime or int(st.st_mtime) == entry.mtime)


def _job(client, entry, dest):
    def job(progress, cancel):
        download(client, entry.uri, entry.size, dest, progress, cancel, mtime=entry.mtime)
    return job


def _raise(exc):
    def job(progress, cancel):
        raise exc
    return job


def _serve(args) -> int:
    """prepare_directory in the default (links to the shared cache) mode,
    held until a signal."""
    client = make_client(args)  # checks endpoint, credentials and config first
    client.close()
    try:
        from ..model import OssModelConnector
    except ImportError as exc:  # pragma: no cover - the model connector ships with the package
        raise CommandError(f"--serve needs the model connector: {exc}") from None
    connector = OssModelConnector(args.endpoint, cred_path=client.cred_path or "",
                                  config_path=args.config or "", region=args.region or None)
    # SIGTERM's handler writes a byte to a pipe the serving loop reads: no
    # lock is taken (a handler that set an Event could deadlock on the
    # Event's lock, held by the interrupted wait()), no wake-up is lost (a
    # SIGTERM during the preparation leaves its byte there), and no
    # exception can land outside the loop's try.
    wake_r, wake_w = os.pipe()
    previous = signal.signal(signal.SIGTERM, lambda *_: os.write(wake_w, b"T"))
    try:
        print(f"prepare: loading {args.uri} into the shared cache ...", file=sys.stderr,
              flush=True)
        connector.prepare_directory(args.uri, args.dir)
        print(f"serving {args.dir} (from {args.uri}); Ctrl-C or SIGTERM to release it",
              flush=True)
        try:
            os.read(wake_r, 1)  # until SIGTERM; Ctrl-C raises KeyboardInterrupt
        except KeyboardInterrupt:
            pass
    finally:
        connector.close()
        signal.signal(signal.SIGTERM, previous)
        os.close(wake_r)
        os.close(wake_w)
    return 0
