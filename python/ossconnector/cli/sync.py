"""``ossc sync SRC DST``: make DST hold what SRC holds, copying only what
differs.

- local -> OSS: ``ossc sync ./model oss://b/models/m/``
- OSS -> local: ``ossc sync oss://b/models/m/ ./model``

A file and an object with the same relative path are the same when their
sizes are equal and their CRC-64 are equal: the object's CRC-64 is the
``x-oss-hash-crc64ecma`` of a HEAD, the file's is computed here.  When the
server gives no CRC-64, a plain-MD5 ETag (32 hex digits: a simple PUT) is
compared with the file's MD5; anything else (a multipart ETag, no ETag)
counts as different and is copied.  Listings give sizes only, so a HEAD
and a read of the local file happen only for pairs of equal size.

``--delete`` also removes what DST has and SRC does not (objects under the
prefix, or files under the directory); it runs only when every copy
succeeded.  ``--dry-run`` prints what would be copied and deleted, and why.
Downloads land under a temporary name in the destination directory and are
renamed when complete; an upload is one object that appears whole or not
at all.  Ctrl-C stops it with exit status 130 and nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

from ._checksum import file_crc64, file_md5
from ._common import (
    CommandError,
    UsageError,
    add_progress_options,
    describe,
    is_oss,
    make_client,
    positive_int,
    prefix_of,
    safe_join,
    split_oss,
)
from ._progress import Progress
from ._transfer import Task, download, run_tasks, upload

NAME = "sync"
HELP = "copy only what differs between a directory and a prefix (--delete: remove extras)"
DEFAULT_JOBS = 8
_PLAIN_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_TEMP_MARK = ".ossc-part-"  # downloads in progress (see _transfer._temp_path)


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help="local directory or oss://bucket/prefix/")
    p.add_argument("dst", metavar="DST", help="oss://bucket/prefix/ or local directory")
    p.add_argument("--delete", action="store_true",
                   help="also delete what DST has and SRC does not")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be copied or deleted; change nothing")
    p.add_argument("-j", "--jobs", type=positive_int, default=DEFAULT_JOBS,
                   help="transfers at once (default %(default)s)")
    add_progress_options(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    src, dst = args.src, args.dst
    if is_oss(src) == is_oss(dst):
        raise UsageError("one of SRC and DST must be a local directory and the other an "
                         "oss:// prefix")
    upward = is_oss(dst)
    local, remote = (src, dst) if upward else (dst, src)
    split_oss(remote)
    remote = prefix_of(remote)
    if upward and not os.path.isdir(local):
        raise UsageError(f"{local}: not a directory" if os.path.exists(local)
                         else f"{local}: no such directory")
    if not upward and os.path.exists(local) and not os.path.isdir(local):
        raise UsageError(f"{local} exists and is not a directory")
    client = make_client(args)
    try:
        files = _local_files(local)
        objects = _remote_objects(client, remote)
        plan = _plan(client, files, objects, upward, args.jobs)
        extras = sorted(set(objects) - set(files)) if upward else \
            sorted(set(files) - set(objects))
        if args.dry_run:
            return _print_plan(plan, extras if args.delete else [], local, remote, upward)
        copied = _copy(client, plan, objects, local, remote, upward, args)
        deleted = _delete(client, extras, local, remote, upward) if args.delete else 0
    finally:
        client.close()
    print(f"ossc sync: {copied} copied, {len(files if upward else objects) - copied} "
          f"unchanged, {deleted} deleted", file=sys.stderr)
    return 0


# -- what is there -------------------------------------------------------------

def _local_files(root: str) -> Dict[str, Tuple[str, int]]:
    """relative path ('/'-separated) -> (path, size) of every regular file
    under root, our own temporary downloads left out."""
    out = {}
    if not os.path.isdir(root):
        return out
    for top, dirs, names in os.walk(root):
        dirs.sort()
        for name in names:
            if _TEMP_MARK in name:
                continue
            path = os.path.join(top, name)
            if os.path.isfile(path) and not os.path.islink(path):
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                out[rel] = (path, os.path.getsize(path))
    return out


def _remote_objects(client, prefix: str) -> Dict[str, object]:
    """relative key -> ObjectEntry of every object under the prefix
    (directory markers left out)."""
    strip = len(split_oss(prefix)[1])
    out = {}
    for entry in client.list(prefix):
        rel = entry.key[strip:]
        if rel and not rel.endswith("/"):
            out[rel] = entry
    return out


# -- what differs --------------------------------------------------------------

def _plan(client, files, objects, upward: bool, jobs: int) -> List[Tuple[str, str]]:
    """(relative path, reason) of everything to copy, in path order."""
    names = sorted(set(files) if upward else set(objects))
    missing = set(objects) if upward else set(files)
    same_size = [rel for rel in names if rel in missing and files[rel][1] == objects[rel].size]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="ossc-sync") as pool:
        equal = dict(zip(same_size, pool.map(
            lambda rel: _same_content(client, files[rel][0], objects[rel]), same_size)))
    plan = []
    for rel in names:
        if rel not in missing:
            plan.append((rel, "new"))
        elif rel not in equal:
            plan.append((rel, "size differs"))
        elif not equal[rel]:
            plan.append((rel, "content differs"))
    return plan


def _same_content(client, path: str, entry) -> bool:
    """The comparison rule of the module doc, for a file and an object of
    equal size."""
    head = client.stat(entry.uri)
    if head.size != os.path.getsize(path):
        return False
    if head.crc64 is not None:
        return file_crc64(path) == head.crc64
    etag = head.etag.strip('"')
    if _PLAIN_MD5.match(etag):
        return file_md5(path) == etag.lower()
    return False


def _print_plan(plan, extras, local: str, remote: str, upward: bool) -> int:
    verb = "upload" if upward else "download"
    for rel, reason in plan:
        a, b = (os.path.join(local, rel), remote + rel) if upward else \
            (remote + rel, os.path.join(local, rel))
        print(f"would {verb} {a} -> {b} ({reason})")
    for rel in extras:
        print(f"would delete {remote + rel if upward else os.path.join(local, rel)}")
    print(f"ossc sync: {len(plan)} would be copied, {len(extras)} deleted (dry run)",
          file=sys.stderr)
    return 0


# -- doing it ------------------------------------------------------------------

def _copy(client, plan, objects, local: str, remote: str, upward: bool, args) -> int:
    if not plan:
        return 0
    tasks = []
    for rel, _ in plan:
        uri = remote + rel
        if upward:
            path = os.path.join(local, *rel.split("/"))
            tasks.append(Task(f"{path} -> {uri}", os.path.getsize(path),
                              _upload_job(client, path, uri)))
        else:
            try:
                path = safe_join(local, rel)
            except CommandError as exc:
                raise CommandError(f"{uri}: {exc}") from None
            size = objects[rel].size
            tasks.append(Task(f"{uri} -> {path}", size, _download_job(client, uri, size, path)))
    with Progress(sum(t.size for t in tasks), "sync", total_files=len(tasks),
                  enabled=args.progress) as progress:
        failures = run_tasks(tasks, args.jobs, progress, NAME)
    if failures:
        raise CommandError(f"{failures} of {len(tasks)} transfers failed"
                           + (" (nothing deleted)" if args.delete else ""))
    return len(tasks)


def _upload_job(client, path, uri):
    def job(progress, cancel):
        upload(client, path, uri, progress, cancel)
    return job


def _download_job(client, uri, size, path):
    def job(progress, cancel):
        download(client, uri, size, path, progress, cancel)
    return job


def _delete(client, extras, local: str, remote: str, upward: bool) -> int:
    for rel in extras:
        if upward:
            client.delete(remote + rel)
            print(f"deleted {remote + rel}")
        else:
            path = os.path.join(local, *rel.split("/"))
            os.unlink(path)
            print(f"deleted {path}")
    return len(extras)
