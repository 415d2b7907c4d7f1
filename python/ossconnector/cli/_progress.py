"""A one-line progress bar for long transfers, on stderr.

``Progress(total, label)`` is updated from any thread with ``advance(n)``
and ``file_done()``; it redraws at most every ``interval`` seconds, showing
percentage, bytes done and total, files done and total, the rate over the
last few seconds and the time left.  In a transfer of several files each
finished file gets a line of its own above the bar (``done  4.0 KiB
SRC -> DST``).  While uploads are being committed (the last parts in
flight, then the request that assembles a multipart upload) the bar says
``completing upload`` instead of an ETA, so 100% never looks like a stall.
Sizes and rates are binary units throughout (KiB, MiB/s).  It draws only when ``enabled``: by
default when the stream is a terminal, so logs and pipes stay clean; the
``--progress`` option forces it on (then each redraw is a plain line when
the stream is not a terminal), ``--no-progress`` off.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections import deque
from typing import Optional, TextIO

__all__ = ["Progress", "human_bytes", "human_duration"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; whole bytes below 1 KiB."""
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} {_UNITS[-1]}"  # not reached


def human_duration(seconds: float) -> str:
    """75 -> '1:15', 3725 -> '1:02:05'."""
    seconds = max(0, int(seconds + 0.5))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Bytes (and files) done out of a known total; see the module doc."""

    def __init__(self, total_bytes: int, label: str = "", *, total_files: int = 0,
                 enabled: Optional[bool] = None, stream: Optional[TextIO] = None,
                 interval: float = 0.2, window: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.tty if enabled is None else bool(enabled)
        self.total = max(0, int(total_bytes))
        self.total_files = total_files
        self.label = label
        self.done = 0
        self.files_done = 0
        self.interval = interval if self.tty else max(interval, 1.0)
        self._window = window
        self._start = time.monotonic()
        self._samples: deque = deque([(self._start, 0)])
        self._last_draw = self._start  # first drawing after one interval
        self._width = 0
        self._lock = threading.Lock()
        self._closed = False
        self._completing = 0

    # -- updates ------------------------------------------------------------

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.done += nbytes
            self._maybe_draw()

    def file_done(self, what: str = "", size: int = 0) -> None:
        """One file finished; ``what`` (e.g. ``SRC -> DST``) gets its own
        line when the transfer has several files."""
        with self._lock:
            self.files_done += 1
            if what and self.enabled and not self._closed and self.total_files > 1:
                self._print_above(f"done  {human_bytes(size):>10}  {what}")
            self._maybe_draw()

    def completing(self, delta: int) -> None:
        """``delta`` uploads start (+1) or end (-1) their commit; the bar
        is redrawn at once so that the note shows while nothing moves."""
        with self._lock:
            self._completing = max(0, self._completing + delta)
            if delta > 0 and self.enabled and not self._closed:
                self._last_draw = time.monotonic()
                self._draw()

    def add_total(self, nbytes: int, files: int = 0) -> None:
        """Grows the total (work discovered while running)."""
        with self._lock:
            self.total += nbytes
            self.total_files += files

    def close(self) -> None:
        """Draws the final state and ends the line (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.enabled:
                self._draw(final=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- rendering ----------------------------------------------------------

    def rate(self, now: Optional[float] = None) -> float:
        """Bytes per second over the last ``window`` seconds (overall rate
        until that much time has passed)."""
        now = time.monotonic() if now is None else now
        t0, d0 = self._samples[0]
        if now - t0 <= 0:
            return 0.0
        return (self.done - d0) / (now - t0)

    def line(self, now: Optional[float] = None, final: bool = False) -> str:
        now = time.monotonic() if now is None else now
        parts = [self.label] if self.label else []
        if final:
            elapsed = now - self._start
            rate = self.done / elapsed if elapsed > 0 else 0.0
        else:
            rate = self.rate(now)
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            parts.append(f"{pct:5.1f}%")
            parts.append(self._bar(pct))
            parts.append(f"{human_bytes(self.done)}/{human_bytes(self.total)}")
        else:
            parts.append(human_bytes(self.done))
        if self.total_files > 1:
            parts.append(f"{self.files_done}/{self.total_files} files")
        parts.append(f"{human_bytes(rate)}/s")
        if final:
            parts.append(f"in {human_duration(now - self._start)}")
        elif self._completing:
            parts.append("completing upload" if self._completing == 1
                         else f"completing {self._completing} uploads")
        elif self.total and rate > 0 and now - self._start >= 1.0:
            parts.append(f"ETA {human_duration((self.total - self.done) / rate)}")
        else:
            parts.append("ETA --:--")
        return "  ".join(parts)

    def _bar(self, pct: float, width: int = 20) -> str:
        filled = int(width * pct / 100)
        return "[" + "#" * filled + "." * (width - filled) + "]"

    def _maybe_draw(self) -> None:
        now = time.monotonic()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        if not self.enabled or self._closed or now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self._draw()

    def _print_above(self, text: str) -> None:
        """A line of its own; on a terminal it replaces the bar, which the
        next draw puts back below it."""
        try:
            if self.tty:
                pad = " " * max(0, self._width - len(text))
                self._width = 0
                self.stream.write("\r" + text + pad + "\n")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def _draw(self, final: bool = False) -> None:
        text = self.line(final=final)
        try:
            if self.tty:
                cols = shutil.get_terminal_size((100, 20)).columns - 1
                text = text[:cols]
                pad = " " * max(0, self._width - len(text))
                self._width = len(text)
                self.stream.write("\r" + text + pad + ("\n" if final else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr never fails the transfer
            self.enabled = False
