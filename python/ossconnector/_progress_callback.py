"""ProgressSink: the one shape every ``progress=`` argument of the Python
API is turned into.

A caller passes either a callable ``progress(bytes_done, total)`` or a
tqdm-like object with ``update(n)`` (``tqdm(total=size, unit="B",
unit_scale=True)`` works as is).  The callable sees ``bytes_done`` grow
monotonically and end at ``total`` on success; ``total`` is ``None`` when
the size is not known in advance (a writer opened without ``size=``).  A
tqdm-like object gets the increments, which add up to the bytes moved.
Calls come from the thread doing the transfer; an exception raised by the
callback stops the transfer (an upload is aborted, nothing is created).
"""

from __future__ import annotations

from typing import Optional

__all__ = ["ProgressSink", "progress_sink"]


class ProgressSink:
    """Counts bytes moved and reports them to the caller's progress."""

    __slots__ = ("_target", "_update", "done", "total")

    def __init__(self, target, total: Optional[int]):
        update = getattr(target, "update", None)
        if callable(update):
            self._update = update
        elif callable(target):
            self._update = None
        else:
            raise TypeError("progress must be a callable (bytes_done, total) or have "
                            f"update(n), not {type(target).__name__}")
        self._target = target
        self.done = 0
        self.total = total

    def advance(self, nbytes: int) -> None:
        if nbytes < 0 or (nbytes == 0 and self.done):
            return  # (an empty transfer reports 0 once: it ended at its total)
        self.done += nbytes
        if self._update is not None:
            self._update(nbytes)
        else:
            self._target(self.done, self.total)


def progress_sink(progress, total: Optional[int]) -> Optional[ProgressSink]:
    """None when no progress was asked for, else a ProgressSink."""
    return None if progress is None else ProgressSink(progress, total)
