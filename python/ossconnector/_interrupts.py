"""Ctrl-C held back across steps that must happen together.

CPython raises KeyboardInterrupt in the main thread at almost any bytecode
boundary, notably right after a C call returns: a native session that was
just opened, a lock that was just taken or a file that was just renamed is
then lost with nobody to undo it.  :func:`deferred_interrupts` makes such a
block whole: while it runs, SIGINT is only recorded (a list append, no lock
taken, so it is safe whatever the interrupted code holds), and the previous
handler gets it when the block ends, where the caller's cleanup is ready
for it.

Only the main thread runs Python signal handlers, so in any other thread
(and when SIGINT is ignored, left at its default or handled by C code) the
block runs unchanged: no KeyboardInterrupt can land there anyway, or
deferring it would change what the user asked for.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, List

__all__ = ["HeldInterrupts", "deferred_interrupts"]


class HeldInterrupts:
    """What arrived while the block ran; ``interrupted`` lets a long block
    (a loop waiting for transfers) stop early on its own terms."""

    def __init__(self) -> None:
        self.signals: List[int] = []

    @property
    def interrupted(self) -> bool:
        return bool(self.signals)


@contextmanager
def deferred_interrupts() -> Iterator[HeldInterrupts]:
    """Holds SIGINT back for the block and delivers it to the previous
    handler at its end (``signal.default_int_handler`` then raises
    KeyboardInterrupt from the ``with`` statement).  Nests: an inner block
    hands what it held to the outer one."""
    held = HeldInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):  # SIG_IGN, SIG_DFL, or a handler installed from C
        yield held
        return

    def record(signum, _frame):
        held.signals.append(signum)

    signal.signal(signal.SIGINT, record)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, previous)
        if held.signals:
            previous(signal.SIGINT, None)
