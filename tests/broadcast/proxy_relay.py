"""The TCP relay the broadcast tests' proxies share (throttle_proxy.py,
corrupting_proxy.py): every accepted connection is joined to a new
connection to the upstream; the client's bytes go up as they are, the
upstream's come back through the proxy's own reply pump (paced, or parsed
and corrupted).  The proxies are run as scripts from this directory, which
is how they import it."""

from __future__ import annotations

import asyncio

READ = 64 << 10


async def relay(reader, writer, admit=None) -> None:
    """Copies reader to writer until end of stream or a connection error,
    then closes writer; awaits admit(n) before passing on each piece of n
    bytes (None: no pacing)."""
    try:
        while data := await reader.read(READ):
            if admit:
                await admit(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def start_relay(host: str, port: int, upstream: str, reply_pump,
                      limit: int = READ) -> asyncio.AbstractServer:
    """A server listening on host:port (0: a free port) that relays each
    client to upstream ("host:port"): requests through relay(), replies
    through reply_pump(upstream_reader, client_writer).  A client whose
    upstream connection is refused is closed.  ``limit``: the upstream
    reader's buffer (a pump that reads whole bodies needs them to fit)."""
    up_host, up_port = upstream.rsplit(":", 1)

    async def on_client(c_reader, c_writer):
        try:
            s_reader, s_writer = await asyncio.open_connection(up_host, int(up_port),
                                                               limit=limit)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(relay(c_reader, s_writer), reply_pump(s_reader, c_writer))

    return await asyncio.start_server(on_client, host, port)
