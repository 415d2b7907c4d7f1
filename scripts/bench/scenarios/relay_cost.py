#!/usr/bin/env python3
"""Scenario relay_cost: what forwarding a model costs the node that sends it,
when the "nodes" are processes on one machine (issue 16's benchmark).

A node of a broadcast chain serves each chunk from its cache file with
``sendfile`` (broadcast/server.c).  Over loopback (or a veth pair) the
kernel runs the receiving side's TCP input in the sender's context, so the
sender pays for both ends of the wire except the receiver's final copy;
between machines a NIC and the receiver's CPU take that part.  This
scenario measures it: ``--size-gib`` of a file in /dev/shm sent over one
127.0.0.x TCP connection to a receiving process that reads it into a
512 KiB buffer (as the peer client's curl does), with

* ``sendfile``  the file to the socket, as the chunk server sends;
* ``send``      ``send()`` from a read-only mapping of the file (a copy into
                the socket buffers), for comparison.

Printed per mode: the sender's and the receiver's CPU seconds per GiB
(``getrusage``, user + system), median with min and max over ``--runs``.
Compare them with a node's CPU per GiB for landing from OSS (the broadcast
scenario's "alone" case): on a CPU quota the head of a chain pays for
landing and for serving from one budget.

    python3 scripts/bench/run.py --scenario relay_cost --size-gib 1 --runs 5
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import resource
import socket
import statistics
import sys
import tempfile
import time

GiB = 1 << 30
RECV_BUFFER = 512 << 10   # the engine's CURLOPT_BUFFERSIZE (engine/http_setup.c)
MODES = ("sendfile", "send")


def cpu_seconds(r: resource.struct_rusage) -> float:
    return r.ru_utime + r.ru_stime


def receive(port: int, size: int) -> None:
    """The receiving process: read ``size`` bytes, then exit (its CPU is
    collected by the parent with RUSAGE_CHILDREN)."""
    conn = socket.create_connection(("127.0.0.2", port))
    view = memoryview(bytearray(RECV_BUFFER))
    got = 0
    while got < size:
        n = conn.recv_into(view)
        if n == 0:
            os._exit(1)
        got += n
    os._exit(0)


def one_run(path: str, size: int, mode: str) -> dict:
    """Sends the file once; {"sender_cpu", "receiver_cpu", "seconds"}."""
    listener = socket.socket()
    listener.bind(("127.0.0.2", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    children_before = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN))
    pid = os.fork()
    if pid == 0:
        receive(port, size)
    conn, _ = listener.accept()
    listener.close()
    fd = os.open(path, os.O_RDONLY)
    mapping = mmap.mmap(fd, size, prot=mmap.PROT_READ) if mode == "send" else None
    try:
        before, t0 = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)), time.monotonic()
        sent = 0
        if mode == "sendfile":
            while sent < size:
                sent += os.sendfile(conn.fileno(), fd, sent, size - sent)
        else:
            view = memoryview(mapping)
            while sent < size:
                sent += conn.send(view[sent:sent + (1 << 20)])
            view.release()
        seconds = time.monotonic() - t0
        sender = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - before
    finally:
        if mapping is not None:
            mapping.close()
        os.close(fd)
        conn.close()
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"relay_cost: the receiver failed ({mode}, status {status})")
    receiver = cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - children_before
    return {"sender_cpu": sender, "receiver_cpu": receiver, "seconds": seconds}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None, command: str = "") -> int:
    p = argparse.ArgumentParser(prog="run.py --scenario relay_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-gib", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=5, help="rounds (every mode once per round)")
    p.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    a = p.parse_args(argv)
    size = int(a.size_gib * GiB)
    fd, path = tempfile.mkstemp(prefix="bench-relay-", dir="/dev/shm")
    try:
        block = os.urandom(1 << 20)
        with os.fdopen(fd, "wb") as f:
            for _ in range(size // len(block)):
                f.write(block)
            f.write(block[:size % len(block)])
        runs: dict[str, list[dict]] = {m: [] for m in MODES}
        for _ in range(a.runs):
            for mode in MODES:
                runs[mode].append(one_run(path, size, mode))
    finally:
        os.unlink(path)
    gib = size / GiB
    print(f"{gib:.2f} GiB over one loopback TCP connection, {a.runs} runs, "
          f"load average {[round(x, 2) for x in os.getloadavg()]}")
    out = {"command": command, "size_bytes": size, "runs": runs, "summary": {}}
    for mode in MODES:
        s = {k: summary([r[k] / gib for r in runs[mode]]) for k in ("sender_cpu", "receiver_cpu")}
        out["summary"][mode] = s
        print(f"  {mode:9s} sender {s['sender_cpu']['median']:.3f} CPU s/GiB "
              f"(min {s['sender_cpu']['min']:.3f}, max {s['sender_cpu']['max']:.3f}), "
              f"receiver {s['receiver_cpu']['median']:.3f} "
              f"(min {s['receiver_cpu']['min']:.3f}, max {s['receiver_cpu']['max']:.3f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
