#!/usr/bin/env python3
"""One node's application in the broadcast scenario (scenarios/broadcast.py),
run under LD_PRELOAD with the node's environment.

    broadcast_worker.py '{"dir": MODEL_DIR, "files": [...]}'

Reads every listed file of MODEL_DIR whole, in 8 MiB ``readinto`` calls into
one reused buffer (a cheap read: the bytes are touched once, nothing is
kept), and prints ``DONE <wall clock> <bytes>`` when the last byte is in
hand.  The files stay open (a loader keeps its model mapped; a closed file
could be released from the node cache while downstream nodes still read
from this one).  Then it waits on stdin: ``verify`` hashes every file with
SHA-256 (outside the timing, once every node is done) and prints ``SHA
{json}``; end of input exits.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time

BUF = 8 << 20


def main() -> int:
    spec = json.loads(sys.argv[1])
    buf = bytearray(BUF)
    view = memoryview(buf)
    files, total = [], 0
    for name in spec["files"]:
        f = open(os.path.join(spec["dir"], name), "rb", buffering=0)
        while True:
            n = f.readinto(view)
            if not n:
                break
            total += n
        files.append((name, f))
    print(f"DONE {time.time():.6f} {total}", flush=True)
    for line in sys.stdin:
        if line.strip() == "verify":
            sums = {}
            for name, f in files:
                f.seek(0)
                h = hashlib.sha256()
                while True:
                    n = f.readinto(view)
                    if not n:
                        break
                    h.update(view[:n])
                sums[name] = h.hexdigest()
            print("SHA " + json.dumps(sums), flush=True)
    for _, f in files:
        f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
