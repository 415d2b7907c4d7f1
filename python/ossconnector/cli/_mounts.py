"""The mount a path lives on, from ``/proc/self/mountinfo``: what ``ossc
doctor`` says about the node cache's root (its file system and, for a
tmpfs, whether it may give huge pages: its ``huge=`` option)."""

from __future__ import annotations

import os
from typing import NamedTuple, Optional


class Mount(NamedTuple):
    point: str
    fstype: str
    options: dict  # the super block's options: {"size": "24g", "huge": "within_size", ...}


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit() and len(field[i + 1:i + 4]) == 3:
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list:
    """Every mount of a mountinfo text, in its order (a later mount on the
    same point hides an earlier one)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 6 or len(fields) < sep + 4:
            continue
        opts = {}
        for item in fields[sep + 3].split(","):
            key, _, value = item.partition("=")
            opts[key] = value
        mounts.append(Mount(_unescape(fields[4]), fields[sep + 1], opts))
    return mounts


def mount_of(path: str, mountinfo: str = "/proc/self/mountinfo") -> Optional[Mount]:
    """The mount ``path`` (resolved) is on, or None when mountinfo cannot be
    read."""
    try:
        with open(mountinfo) as f:
            mounts = parse_mountinfo(f.read())
    except OSError:
        return None
    real = os.path.realpath(path)
    best = None
    for m in mounts:
        inside = real == m.point or real.startswith(m.point.rstrip("/") + "/")
        if inside and (best is None or len(m.point) >= len(best.point)):
            best = m
    return best
