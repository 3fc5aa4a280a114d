"""The HTTP server's connection handling: uvicorn's h11 protocol with Nagle's algorithm off.

asyncio turns Nagle off only on sockets it made itself. With `--workers`, uvicorn's parent
process makes the listening socket (protocol 0, not IPPROTO_TCP), so asyncio leaves Nagle on
for every connection a worker accepts: an answer written in two parts (headers, then body)
then waits for the client's delayed ACK, about 40 ms per request on Linux. Kassa sets
TCP_NODELAY on every connection it serves.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

PROTOCOL = "kassa.api.server:NoDelayH11Protocol"  # for uvicorn.run(http=...)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
