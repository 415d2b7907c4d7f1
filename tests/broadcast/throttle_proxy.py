#!/usr/bin/env python3
"""A TCP proxy in front of the emulator that makes the object store slow and,
on demand, silent: the broadcast tests catch a transfer mid-way with it.

    python3 throttle_proxy.py --upstream 127.0.0.1:8000 --rate-mib 8 --state FILE

* **rate**: the bytes the server sends, over all connections together, are
  paced to ``--rate-mib`` MiB/s (one token bucket, no credit saved while
  idle): a 72 MiB model takes about 9 s at 8 MiB/s, long enough to act
  while it flows; requests pass unpaced.
* **hold**: SIGUSR1 stops every server-to-client byte (the proxy stops
  reading from the server; connections stay open), SIGUSR2 lets them go
  again.  SIGHUP arms a hold: it comes by itself once ``--budget`` more
  bytes have passed, so however slow the test is to look, the transfer
  cannot end before it acts.  Each change is acknowledged in the
  ``--state`` file (``open``, ``armed`` or ``held``, replaced atomically),
  which also gets the port once listening (``open <port>``), so a test
  waits for a file, never a fixed time.

Runs until killed.  A few MiB may still reach a client after a hold: what
the kernel's socket buffers held already."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time

from proxy_relay import relay, start_relay  # reads of 64 KiB: the pacing granularity


class Gate:
    """The shared pacing and the hold switch."""

    def __init__(self, rate: float, budget: int, state_path: str):
        self.rate, self.free_at = rate, 0.0
        self.budget = budget
        self.left = None  # bytes until the armed hold; None: not armed
        self.open = asyncio.Event()
        self.open.set()
        self.state_path = state_path
        self.port = 0

    def write_state(self) -> None:
        state = "held" if not self.open.is_set() else "open" if self.left is None else "armed"
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{state} {self.port}\n")
        os.replace(tmp, self.state_path)

    def hold(self) -> None:
        self.left = None
        self.open.clear()
        self.write_state()

    def release(self) -> None:
        self.left = None
        self.open.set()
        self.write_state()

    def arm(self) -> None:
        self.left = self.budget
        self.write_state()

    async def admit(self, n: int) -> None:
        await self.open.wait()
        if self.left is not None:
            if self.left < n:
                self.hold()
                await self.open.wait()
            else:
                self.left -= n
        now = time.monotonic()
        self.free_at = max(self.free_at, now) + n / self.rate
        if self.free_at > now:
            await asyncio.sleep(self.free_at - now)
        await self.open.wait()  # a hold that came while this was paced


async def serve(args) -> None:
    gate = Gate(args.rate_mib * (1 << 20), int(args.budget_mib * (1 << 20)), args.state)
    server = await start_relay(args.host, 0, args.upstream,
                               lambda reader, writer: relay(reader, writer, gate.admit))
    gate.port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, gate.hold)
    loop.add_signal_handler(signal.SIGUSR2, gate.release)
    loop.add_signal_handler(signal.SIGHUP, gate.arm)
    gate.write_state()
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="listen address (port: a free one)")
    p.add_argument("--upstream", required=True, help="host:port of the server")
    p.add_argument("--rate-mib", type=float, required=True, help="MiB/s, all connections")
    p.add_argument("--budget-mib", type=float, default=24,
                   help="MiB that pass after SIGHUP before the hold comes")
    p.add_argument("--state", required=True, help="file: 'open|armed|held <port>'")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
