#!/usr/bin/env python3
"""A TCP proxy that makes loopback look more like the network path to a
cloud object store: run.py's ``--variant cloud``.

    python3 delay_proxy.py --port 9000 --upstream 127.0.0.1:8000 --delay-ms 5 --rate-mbit 1000
    python3 delay_proxy.py --port 9000 --upstream 127.0.0.1:8000 --rate-mbit 0 --total-rate-mbit 1000

For every connection accepted on ``--port`` it opens one to
``--upstream`` and copies bytes both ways, with two changes:

* **first-byte latency**: the first bytes the server sends after the
  client's last bytes (the start of a response) are held until
  ``--delay-ms`` after those client bytes, so every request/response
  exchange costs at least that long, like a round trip to a remote
  endpoint (HTTP/1.1 clients do not pipeline, so one exchange at a time
  per connection);
* **per-connection bandwidth**: each direction of each connection is paced
  to ``--rate-mbit`` megabits per second (a token bucket that does not
  save up credit while idle), like a per-flow cap; many connections
  together get many times that, up to what this process can copy
  (``--rate-mbit 0``: no per-connection cap);
* **total egress** (``--total-rate-mbit``, off by default): the server's
  bytes to all clients together are paced to that rate, like the one link
  of a bucket's endpoint that many nodes share (the broadcast scenario's
  "egress limited to 1 Gbit/s").  Every response chunk of every connection
  waits its turn on one token bucket, so the connections share the rate.

Its own ceiling: one Python process (asyncio, 256 KiB reads) copies about
1-2 GB/s on one core; the curl ceiling that run.py measures through the
proxy shows it.  Not a network emulator: no loss, no jitter, no slow
start, no shared bottleneck.  :class:`DelayProxy` runs it in front of one
of infra/servers.py's servers and stands in for it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

CHUNK = 256 << 10


class _Exchange:
    """Request/response timing of one connection: when the client last
    sent, and whether the server has answered since."""

    def __init__(self):
        self.last_request = 0.0
        self.awaiting = False

    def client_sent(self) -> None:
        self.last_request = time.monotonic()
        self.awaiting = True

    async def before_response(self, delay: float) -> None:
        if self.awaiting:
            self.awaiting = False
            wait = self.last_request + delay - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)


class _Pacer:
    """Paces what is sent through it to ``rate`` bytes/s (0: not at all):
    one direction of one connection, or -- one instance shared -- all of
    them."""

    def __init__(self, rate: float):
        self.rate, self.free_at = rate, 0.0

    async def sent(self, n: int) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic()
        self.free_at = max(self.free_at, now) + n / self.rate
        if self.free_at > now:
            await asyncio.sleep(self.free_at - now)


async def _pump(reader, writer, pacer: _Pacer, before=None, after=None,
                total: _Pacer | None = None) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if before:
                await before()
            writer.write(data)
            if after:
                after()
            await writer.drain()
            await pacer.sent(len(data))
            if total:
                await total.sent(len(data))
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def _serve_one(client_r, client_w, upstream: tuple[str, int], delay: float,
                     rate: float, total: _Pacer | None = None) -> None:
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    ex = _Exchange()
    await asyncio.gather(
        _pump(client_r, up_w, _Pacer(rate), after=ex.client_sent),
        _pump(up_r, client_w, _Pacer(rate), before=lambda: ex.before_response(delay),
              total=total))
    for w in (up_w, client_w):
        w.close()


async def serve(port: int, upstream: tuple[str, int], delay: float, rate: float,
                total_rate: float = 0.0) -> None:
    total = _Pacer(total_rate) if total_rate > 0 else None
    server = await asyncio.start_server(
        lambda r, w: _serve_one(r, w, upstream, delay, rate, total), "127.0.0.1", port,
        backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


# ------------------------------------------------------------------ for run.py

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # scripts/bench, for infra
from infra.servers import ServerProcess, free_port  # noqa: E402


class DelayProxy(ServerProcess):
    """This proxy in its own process in front of ``upstream`` (a started
    servers.py server), standing in for it: same buckets, its own port."""

    name = "delay-proxy"

    def __init__(self, upstream, delay_ms: float = 5.0, rate_mbit: float = 1000.0,
                 total_rate_mbit: float = 0.0):
        super().__init__()
        self.upstream, self.delay_ms, self.rate_mbit = upstream, delay_ms, rate_mbit
        self.total_rate_mbit = total_rate_mbit

    def label(self) -> str:
        def rate(mbit):
            return f"{mbit / 1000:g}Gbit/s" if mbit >= 1000 else f"{mbit:g}Mbit/s"

        parts = [f"{self.delay_ms:g}ms"]
        if self.rate_mbit > 0:
            parts.append(rate(self.rate_mbit))
        if self.total_rate_mbit > 0:
            parts.append(f"{rate(self.total_rate_mbit)} in total")
        return f"delay({','.join(parts)})"

    def version(self) -> str:
        return f"{self.upstream.version()}+{self.label()}"

    def create_bucket(self, bucket: str) -> None:
        self.upstream.create_bucket(bucket)

    def start(self, timeout: float = 30.0) -> "DelayProxy":
        self.port = free_port()
        self._spawn([sys.executable, str(Path(__file__).resolve()), "--port", str(self.port),
                     "--upstream", f"127.0.0.1:{self.upstream.port}",
                     "--delay-ms", str(self.delay_ms), "--rate-mbit", str(self.rate_mbit),
                    "--total-rate-mbit", str(self.total_rate_mbit)],
                    self.endpoint + "/", timeout)
        return self


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="host:port")
    p.add_argument("--delay-ms", type=float, default=5.0)
    p.add_argument("--rate-mbit", type=float, default=1000.0,
                   help="per connection and direction (0: no cap)")
    p.add_argument("--total-rate-mbit", type=float, default=0.0,
                   help="the server's bytes to all clients together (0: no cap)")
    a = p.parse_args(argv)
    host, port = a.upstream.rsplit(":", 1)
    try:
        asyncio.run(serve(a.port, (host, int(port)), a.delay_ms / 1000, a.rate_mbit * 1e6 / 8,
                          a.total_rate_mbit * 1e6 / 8))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
