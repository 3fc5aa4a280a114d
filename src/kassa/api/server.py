"""The HTTP server's connection handling: uvicorn's httptools protocol with Nagle's algorithm
off, on an event loop that takes one new connection at a time.

asyncio turns Nagle off only on sockets it made itself. With `--workers`, uvicorn's parent
process makes the listening socket (protocol 0, not IPPROTO_TCP), so asyncio leaves Nagle on
for every connection a worker accepts: an answer written in two parts (headers, then body)
then waits for the client's delayed ACK, about 40 ms per request on Linux. Kassa sets
TCP_NODELAY on every connection it serves.

The worker processes of `kassa serve --workers N` share one listening socket. asyncio
accepts every pending connection at once when the socket becomes readable, so a burst of
connections (a load balancer or client opening its keep-alive pool) lands on whichever worker
woke first, often all of them: one process then serves everything on one core while the
others idle. Kassa's loop accepts one connection per wake-up, as nginx does by default
(`multi_accept off`): a worker busy with a request comes back later, and the idle one takes
the next connection.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "kassa.api.server:NoDelayHttpToolsProtocol"  # for uvicorn.run(http=...)
LOOP = "kassa.api.server:OneAcceptLoop"  # for uvicorn.run(loop=...)


def _no_delay(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _NoDelay:
    def connection_made(self, transport: asyncio.Transport) -> None:
        _no_delay(transport)
        super().connection_made(transport)  # type: ignore[misc]


class NoDelayHttpToolsProtocol(_NoDelay, HttpToolsProtocol):
    """uvicorn's protocol on httptools, its HTTP parser in C: a third less CPU per request
    than h11. What `kassa serve` uses."""


class NoDelayH11Protocol(_NoDelay, H11Protocol):
    """uvicorn's protocol on h11, its HTTP parser in Python."""


class OneAcceptLoop(asyncio.SelectorEventLoop):
    """An asyncio loop that accepts one pending connection each time a listening socket is
    readable (asyncio's own takes up to the listen backlog)."""

    def _accept_connection(self, protocol_factory: Any, sock: socket.socket,  # type: ignore[override]
                           sslcontext: Any = None, server: Any = None, backlog: int = 100,
                           *timeouts: Any) -> None:
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, 1, *timeouts)
