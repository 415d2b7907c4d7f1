"""Moving bytes for ``cp`` and ``prepare``: one function per direction and a
small runner that does many transfers at once.

Each transfer runs the engine at full concurrency on its own (a download
is a series of large ``readinto`` calls, each split into concurrent ranged
GETs), and ``jobs`` transfers run side by side so that directories of
small files are not fetched one round trip at a time.  Downloads land in a
hidden temporary file next to the destination, renamed into place only
when complete; a failed or interrupted upload leaves no object.

Ctrl-C is one decision taken at one moment: ``run_tasks`` holds SIGINT
back while it drives the transfers (a KeyboardInterrupt landing inside the
thread pool's own bookkeeping could skip the cancellation or leave its
locks held) and sets the :class:`CancelFlag` when it arrives.  Every step
that publishes a result (the rename of a finished download, the commit of
an upload or copy) runs under that flag's lock after checking it, so each
transfer either finished before Ctrl-C took effect or left nothing.
"""

from __future__ import annotations

import errno
import mmap
import os
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional

from .._interrupts import deferred_interrupts
from ._common import explain, warn

__all__ = ["Cancelled", "CancelFlag", "Task", "run_tasks", "download", "upload", "copy_object",
           "download_to_stream", "upload_from_stream"]

# OSS CopyObject takes objects up to 1 GiB; larger ones are streamed through.
SERVER_COPY_LIMIT = 1 << 30
_MIN_STEP_PARTS = 2
_MAX_STEP = 512 << 20         # into a file mapping: page cache, no heap memory
_MAX_BUFFERED_STEP = 64 << 20  # through a buffer of our own (stdout, streamed copies)


class Cancelled(Exception):
    """The user interrupted the command."""


class CancelFlag:
    """Set once when the user interrupts; transfers check it at every step.

    ``unless_cancelled()`` is the last check before a transfer publishes
    its result (renames a download into place, commits an upload): it
    holds the lock that ``set()`` takes, so a result is published either
    before the cancellation or not at all.  Cost: ``set()`` waits for a
    publication under way (a rename, or the one request that commits an
    upload or a server-side copy)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()

    def set(self) -> None:
        with self._lock:
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    @contextmanager
    def unless_cancelled(self) -> Iterator[None]:
        """Runs the block only when not cancelled (raises Cancelled
        otherwise); set() waits for the block."""
        with self._lock:
            if self._event.is_set():
                raise Cancelled()
            yield


@dataclass
class Task:
    """One transfer: ``run(progress, cancel)`` does it; ``what`` names it in
    messages."""

    what: str
    size: int
    run: Callable


class _Stepper:
    """Bytes per readinto/write call: starts at a few parts and adapts so
    that each step takes about half a second (steady progress on slow links,
    the engine's full concurrency on fast ones)."""

    def __init__(self, client, cap: int = _MAX_STEP):
        self.part = max(1 << 20, client.part_size)
        self.step = self.part * _MIN_STEP_PARTS
        self.max_step = min(cap, max(self.step, self.part * max(1, client.concurrency)))

    def update(self, seconds: float) -> None:
        if seconds < 0.25 and self.step < self.max_step:
            self.step = min(self.max_step, self.step * 2)
        elif seconds > 1.0 and self.step > self.part * _MIN_STEP_PARTS:
            self.step = max(self.part * _MIN_STEP_PARTS, self.step // 2)


def _temp_path(dest: str) -> str:
    head, tail = os.path.split(dest)
    return os.path.join(head, f".{tail}.ossc-part-{os.getpid()}-{threading.get_ident()}")


def download(client, uri: str, size: int, dest: str, progress, cancel: CancelFlag,
             mtime: int = 0) -> None:
    """``uri`` (``size`` bytes) into the local file ``dest`` (parent
    directories created).  Space is reserved up front (ENOSPC is reported
    before any byte is fetched), the bytes are read straight into a shared
    mapping of the file, and the file is renamed into place when complete
    and not cancelled (Cancelled otherwise, the temporary file removed).
    ``mtime`` (Unix seconds), when given, becomes the file's mtime."""
    parent = os.path.dirname(dest) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = _temp_path(dest)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        if size > 0:
            try:
                os.posix_fallocate(fd, 0, size)
            except OSError as exc:
                if exc.errno != errno.EOPNOTSUPP:  # the file system cannot reserve space
                    raise
                os.ftruncate(fd, size)
            with client.open(uri, size=size) as reader:
                _fill_mapped(reader, fd, size, _Stepper(client), progress, cancel, uri)
        os.close(fd)
        fd = -1
        if mtime:
            os.utime(tmp, (mtime, mtime))
        with cancel.unless_cancelled():
            os.replace(tmp, dest)
            tmp = None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def _fill_mapped(reader, fd, size, stepper, progress, cancel, uri) -> None:
    """Fills the file through a shared mapping.  On failure the frames of
    the traceback are cleared first: they hold views of the mapping, and a
    mapping with live views cannot be closed."""
    mm = mmap.mmap(fd, size)
    view = memoryview(mm)
    try:
        _fill(reader, view, size, stepper, progress, cancel, uri)
    except BaseException as exc:
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        try:
            view.release()
            mm.close()
        except BufferError:  # still referenced somewhere: the collector closes it
            pass


def _timed_readinto(reader, dst, stepper, cancel) -> int:
    """One step of a download: ``reader.readinto(dst)``, timed for the
    stepper (which sizes the next step); raises Cancelled first when the
    transfer was asked to stop."""
    if cancel.is_set():
        raise Cancelled()
    t0 = time.monotonic()
    got = reader.readinto(dst)
    stepper.update(time.monotonic() - t0)
    return got


def _fill(reader, view, size, stepper, progress, cancel, uri) -> None:
    pos = 0
    while pos < size:
        n = min(stepper.step, size - pos)
        got = _timed_readinto(reader, view[pos:pos + n], stepper, cancel)
        if got <= 0:
            raise OSError(5, f"{uri}: object ended at byte {pos} of {size} (changed in OSS?)")
        pos += got
        progress.advance(got)


def download_to_stream(client, uri: str, size: int, out, progress, cancel) -> None:
    """``uri`` written to a binary stream (``cp oss://... -``)."""
    stepper = _Stepper(client, _MAX_BUFFERED_STEP)
    buf = bytearray(min(stepper.max_step, max(size, 1)))
    with client.open(uri, size=size) as reader:
        while True:
            n = min(stepper.step, len(buf))
            got = _timed_readinto(reader, memoryview(buf)[:n], stepper, cancel)
            if got <= 0:
                break
            out.write(memoryview(buf)[:got])
            progress.advance(got)
    out.flush()


def upload(client, path: str, uri: str, progress, cancel: CancelFlag) -> None:
    """The local file ``path`` to ``uri``; the object appears only when all
    of it arrived.  A file smaller than one part is read whole and sent as
    one PUT (memory: the file's size; a PUT already under way when Ctrl-C
    arrives completes, it is one request); larger files are multipart."""
    with open(path, "rb", buffering=0) as src:
        size = os.fstat(src.fileno()).st_size
        if size < client.part_size:
            data = src.readall()
            if len(data) != size:
                raise OSError(errno.EAGAIN, f"{path} changed size while it was read "
                                            f"({size} then {len(data)} bytes); try again")
            if cancel.is_set():
                raise Cancelled()
            client.put(uri, data)
            progress.advance(len(data))
            return
        upload_from_stream(client, src, uri, progress, cancel, size_hint=size)


def upload_from_stream(client, src, uri: str, progress, cancel: CancelFlag,
                       size_hint: int = -1) -> None:
    """A multipart upload of what ``src`` yields; while the last parts are
    in flight and the upload is assembled, ``progress`` says so."""
    stepper = _Stepper(client)
    cap = stepper.part * 4
    buf = bytearray(cap if size_hint < 0 else max(1, min(cap, size_hint)))
    view = memoryview(buf)
    with client.create(uri) as writer:
        while True:
            if cancel.is_set():
                raise Cancelled()  # leaving the with block by an exception aborts
            n = src.readinto(view)
            if not n:
                break
            writer.write(view[:n])
            progress.advance(n)
        progress.completing(+1)
        try:
            with cancel.unless_cancelled():
                writer.close()  # the commit: the object appears
        finally:
            progress.completing(-1)


def copy_object(client, src_uri: str, dst_uri: str, size: int, progress,
                cancel: CancelFlag) -> None:
    """Server-side copy up to 1 GiB; larger objects are streamed through this
    machine (read with ranged GETs, written as a multipart upload)."""
    if size <= SERVER_COPY_LIMIT:
        with cancel.unless_cancelled():
            client.copy(src_uri, dst_uri)
        progress.advance(size)
        return
    stepper = _Stepper(client, _MAX_BUFFERED_STEP)
    buf = bytearray(stepper.max_step)
    view = memoryview(buf)
    with client.open(src_uri, size=size) as reader, client.create(dst_uri) as writer:
        pos = 0
        while pos < size:
            n = min(stepper.step, size - pos)
            got = _timed_readinto(reader, view[:n], stepper, cancel)
            if got <= 0:
                raise OSError(5, f"{src_uri}: object ended at byte {pos} of {size}")
            writer.write(view[:got])
            pos += got
            progress.advance(got)
        with cancel.unless_cancelled():
            writer.close()


def run_tasks(tasks: List[Task], jobs: int, progress, command: str,
              cancel: Optional[CancelFlag] = None) -> int:
    """Runs the tasks, ``jobs`` at a time; reports each failure on stderr as
    it happens and returns how many failed.  Ctrl-C (noticed within 0.2 s)
    stops every transfer at its next step (temporary files removed, uploads
    aborted, nothing renamed or committed after it) and raises
    KeyboardInterrupt once they have all stopped; so does any other error
    leaving this function."""
    cancel = cancel or CancelFlag()
    failures = 0

    def one(task: Task):
        task.run(progress, cancel)
        progress.file_done(task.what, task.size)

    with deferred_interrupts() as held:  # KeyboardInterrupt raised on leaving, if any
        pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="ossc-cp")
        pending = {}
        try:
            for task in tasks:
                if held.interrupted:
                    break
                pending[pool.submit(one, task)] = task
            while pending and not held.interrupted:
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = pending.pop(fut)
                    exc = fut.exception()
                    if exc is None or isinstance(exc, Cancelled):
                        continue
                    failures += 1
                    _report(command, task.what, exc)
        except BaseException:
            cancel.set()
            raise
        finally:
            if held.interrupted:
                cancel.set()
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True)
    return failures


def _report(command: str, what: str, exc: BaseException) -> None:
    progress_safe_newline()
    warn(f"{command}: {what}: {explain(exc)}")


def progress_safe_newline() -> None:
    """Starts a fresh line on a terminal (a progress bar may be drawn)."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")
