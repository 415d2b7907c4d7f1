"""``ossc cp SRC DST``: copy files and objects, in any direction.

- local -> OSS: ``ossc cp model.bin oss://b/models/`` (a key ending in ``/``
  takes the file's name); ``-r`` uploads a directory tree under the prefix.
- OSS -> local: ``ossc cp oss://b/models/model.bin .``; ``-r`` downloads
  every object under the prefix into the directory (the prefix's
  *contents*, keys below it becoming relative paths).
- OSS -> OSS: server-side copy (objects over 1 GiB are streamed through).
- ``-`` as SRC reads stdin; ``-`` as DST writes to stdout.

``-j/--jobs`` transfers run at once; each runs the engine at full
concurrency.  Exit status 1 when any transfer failed (each failure is
reported, the others still run).
"""

from __future__ import annotations

import argparse
import os
import posixpath
import sys
from typing import List

from ._common import (
    CommandError,
    UsageError,
    add_progress_options,
    describe,
    is_oss,
    make_client,
    objects_under,
    positive_int,
    safe_join,
    split_oss,
)
from ._progress import Progress
from ._transfer import (
    CancelFlag,
    Task,
    copy_object,
    download,
    download_to_stream,
    run_tasks,
    upload,
    upload_from_stream,
)

NAME = "cp"
HELP = "copy files and objects (local<->OSS, OSS->OSS), recursively with -r"
DEFAULT_JOBS = 8


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help="local path, oss://bucket/key, or - (stdin)")
    p.add_argument("dst", metavar="DST", help="local path, oss://bucket/key, or - (stdout)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="copy a directory tree / every object under a prefix")
    p.add_argument("-j", "--jobs", type=positive_int, default=DEFAULT_JOBS,
                   help="transfers at once (default %(default)s)")
    add_progress_options(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    src, dst = args.src, args.dst
    if not is_oss(src) and not is_oss(dst):
        raise UsageError("one of SRC and DST must be an oss:// URI (for local copies use cp)")
    if src == "-" and dst == "-":
        raise UsageError("SRC and DST cannot both be -")
    for uri in (src, dst):
        if is_oss(uri):
            split_oss(uri)
    if args.recursive and "-" in (src, dst):
        raise UsageError("-r cannot be used with - (stdin/stdout)")
    client = make_client(args)
    try:
        if is_oss(src) and is_oss(dst):
            tasks = _oss_to_oss(client, src, dst, args.recursive)
        elif is_oss(src):
            if dst == "-":
                return _to_stdout(client, src, args)
            tasks = _oss_to_local(client, src, dst, args.recursive)
        else:
            if src == "-":
                return _from_stdin(client, dst, args)
            tasks = _local_to_oss(client, src, dst, args.recursive)
        return _execute(tasks, args)
    finally:
        client.close()


def _execute(tasks: List[Task], args) -> int:
    total = sum(t.size for t in tasks)
    label = "cp"
    with Progress(total, label, total_files=len(tasks), enabled=args.progress) as progress:
        failures = run_tasks(tasks, args.jobs, progress, NAME)
    if failures:
        raise CommandError(f"{failures} of {len(tasks)} transfers failed")
    return 0


# -- OSS -> local -------------------------------------------------------------

def _stat_or_explain(client, uri: str, recursive: bool):
    try:
        return client.stat(uri)
    except FileNotFoundError:
        if not recursive and not uri.endswith("/"):
            prefix = uri + "/"
            if next(iter(client.list(prefix)), None) is not None:
                raise UsageError(f"{uri} is a prefix (a directory), not an object: "
                                 "use -r to copy what is under it") from None
        raise


def _oss_to_local(client, src: str, dst: str, recursive: bool) -> List[Task]:
    if not recursive:
        entry = _stat_or_explain(client, src, recursive)
        name = posixpath.basename(entry.key)
        if not name:
            raise UsageError(f"{src} ends with '/': use -r to copy what is under it")
        dest = os.path.join(dst, name) if (os.path.isdir(dst) or dst.endswith(os.sep)) else dst
        return [Task(f"{src} -> {dest}", entry.size,
                     _download_job(client, entry, dest))]
    if os.path.exists(dst) and not os.path.isdir(dst):
        raise UsageError(f"{dst} exists and is not a directory")
    tasks = []
    for entry, rel in objects_under(client, src):
        try:
            dest = safe_join(dst, rel)
        except CommandError as exc:
            tasks.append(Task(entry.uri, 0, _fail(exc)))
            continue
        tasks.append(Task(f"{entry.uri} -> {dest}", entry.size,
                          _download_job(client, entry, dest)))
    return tasks


def _download_job(client, entry, dest):
    def job(progress, cancel):
        download(client, entry.uri, entry.size, dest, progress, cancel)
    return job


def _fail(exc):
    def job(progress, cancel):
        raise exc
    return job


def _to_stdout(client, src: str, args) -> int:
    entry = _stat_or_explain(client, src, False)
    with Progress(entry.size, "cp", enabled=args.progress) as progress:
        download_to_stream(client, entry.uri, entry.size, sys.stdout.buffer, progress,
                           CancelFlag())
    return 0


# -- local -> OSS -------------------------------------------------------------

def _join_key(prefix_uri: str, rel: str) -> str:
    bucket, key = split_oss(prefix_uri)
    if key and not key.endswith("/"):
        key += "/"
    return f"oss://{bucket}/{key}{rel}"


def _local_to_oss(client, src: str, dst: str, recursive: bool) -> List[Task]:
    if not os.path.exists(src):
        raise CommandError(f"{src}: no such file or directory")
    if os.path.isdir(src):
        if not recursive:
            raise UsageError(f"{src} is a directory: use -r to upload it")
        tasks = []
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, src).replace(os.sep, "/")
                uri = _join_key(dst, rel)
                tasks.append(Task(f"{path} -> {uri}", os.path.getsize(path),
                                  _upload_job(client, path, uri)))
        if not tasks:
            raise CommandError(f"{src}: no files to upload")
        return tasks
    bucket, key = split_oss(dst)
    uri = _join_key(dst, os.path.basename(src)) if (not key or key.endswith("/")) else dst
    return [Task(f"{src} -> {uri}", os.path.getsize(src), _upload_job(client, src, uri))]


def _upload_job(client, path, uri):
    def job(progress, cancel):
        upload(client, path, uri, progress, cancel)
    return job


def _from_stdin(client, dst: str, args) -> int:
    bucket, key = split_oss(dst)
    if not key or key.endswith("/"):
        raise UsageError(f"{dst}: give the object's full key when reading stdin")
    with Progress(0, "cp", enabled=args.progress) as progress:
        upload_from_stream(client, sys.stdin.buffer, dst, progress, CancelFlag())
    return 0


# -- OSS -> OSS ---------------------------------------------------------------

def _oss_to_oss(client, src: str, dst: str, recursive: bool) -> List[Task]:
    if not recursive:
        entry = _stat_or_explain(client, src, recursive)
        bucket, key = split_oss(dst)
        uri = _join_key(dst, posixpath.basename(entry.key)) if (not key or key.endswith("/")) \
            else dst
        return [Task(f"{src} -> {uri}", entry.size, _copy_job(client, entry, uri))]
    tasks = []
    for entry, rel in objects_under(client, src):
        uri = _join_key(dst, rel)
        tasks.append(Task(f"{entry.uri} -> {uri}", entry.size, _copy_job(client, entry, uri)))
    return tasks


def _copy_job(client, entry, uri):
    def job(progress, cancel):
        copy_object(client, entry.uri, uri, entry.size, progress, cancel)
    return job
