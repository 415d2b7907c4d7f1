"""One fill, run in a fresh process by scenarios/fill_cpu.py.

    python fill_cpu_worker.py '<json spec>'

Reads the last byte of every file of ``spec["files"]`` (under LD_PRELOAD a
read of a large file of MODEL_DIR waits until the whole file has landed in
the node cache and was verified, so this lands every byte and does as
little else as a process can), then takes the clock and its own CPU time
(``getrusage(RUSAGE_SELF)``: every thread, the engine's I/O threads and
the prefetcher included).  Only then, off the clock, it hashes every file
(SHA-256, so the parent can check every byte against the source) and
prints one line ``RESULT {json}``; the last thing it does is take the
clock again (``t_exit``), so that the parent, which waits for it blocking
in ``wait4``, gets the time the process took to exit.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    spec = json.loads(sys.argv[1])
    t_start = time.monotonic()
    for path in spec["files"]:
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size and len(os.pread(fd, 1, size - 1)) != 1:
                raise SystemExit(f"{path}: short read at its last byte")
        finally:
            os.close(fd)
    t_done, cpu = time.monotonic(), cpu_s()
    digests = {os.path.basename(p): sha256(p) for p in spec["files"]}
    print("RESULT " + json.dumps({"t_start": t_start, "t_done": t_done, "cpu_done": cpu,
                                  "sha256": digests, "t_exit": time.monotonic()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
