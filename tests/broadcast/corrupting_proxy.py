#!/usr/bin/env python3
"""A TCP proxy in front of a node's chunk server that corrupts what it
serves: a peer sending bad bytes, for the broadcast tests.

    python3 corrupting_proxy.py --host 127.0.0.9 --upstream 127.0.0.2:7070 --state FILE

Requests go through unchanged.  Replies are parsed as HTTP/1.1 (status
line, headers, a ``Content-Length`` body; keep-alive: one reply after
another): in every ``--every``-th ``206 Partial Content`` reply one body byte
(the middle one) is flipped (XOR 0xFF); status, headers and length stay
right, so only a check of the bytes themselves (the CRC-64) can tell.  The
``--state`` file gets ``<port> <206 replies> <corrupted>`` (replaced
atomically) once listening and after every reply it corrupts."""

from __future__ import annotations

import argparse
import asyncio
import os

from proxy_relay import start_relay


class Counts:
    def __init__(self, path: str, every: int):
        self.path, self.every = path, every
        self.port = self.partial = self.corrupted = 0

    def write(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.port} {self.partial} {self.corrupted}\n")
        os.replace(tmp, self.path)


async def relay_replies(reader, writer, counts: Counts) -> None:
    """Server to client, reply by reply, corrupting the chosen 206 bodies."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length)
            if status == 206 and length:
                counts.partial += 1
                if counts.partial % counts.every == 0:
                    body = bytearray(body)
                    body[length // 2] ^= 0xFF
                    counts.corrupted += 1
                    counts.write()
            writer.write(head + bytes(body))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, IndexError):
        pass
    finally:
        writer.close()


async def serve(args) -> None:
    counts = Counts(args.state, args.every)
    server = await start_relay(args.host, args.port, args.upstream,
                               lambda reader, writer: relay_replies(reader, writer, counts),
                               limit=1 << 20)
    counts.port = server.sockets[0].getsockname()[1]
    counts.write()
    async with server:
        await server.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="listen address")
    p.add_argument("--port", type=int, default=0, help="listen port (0: a free one)")
    p.add_argument("--upstream", required=True, help="host:port of the chunk server")
    p.add_argument("--every", type=int, default=1, help="corrupt every N-th 206 reply")
    p.add_argument("--state", required=True, help="file: '<port> <206 replies> <corrupted>'")
    asyncio.run(serve(p.parse_args()))


if __name__ == "__main__":
    main()
