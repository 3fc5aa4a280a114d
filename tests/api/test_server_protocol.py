"""`kassa serve --workers N` answers without the 40 ms Nagle/delayed-ACK stall: every
connection accepted from the socket uvicorn's parent process shares has TCP_NODELAY on."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from kassa.api.server import PROTOCOL


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:  # never called
    raise AssertionError


async def _nodelay_of_accepted(http: Any) -> int:
    config = Config(app=_app, http=http, log_level="warning")
    config.load()
    listening = socket.socket(family=socket.AF_INET)  # as uvicorn's parent makes it: proto 0
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    made: list[Any] = []

    def protocol() -> Any:
        made.append(config.http_protocol_class(config=config, server_state=ServerState(),
                                               app_state={}))
        return made[-1]

    server = await asyncio.get_running_loop().create_server(protocol, sock=listening)
    _, writer = await asyncio.open_connection(*listening.getsockname())
    for _ in range(100):
        if made and made[0].transport is not None:
            break
        await asyncio.sleep(0.01)
    accepted = made[0].transport.get_extra_info("socket")
    value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    writer.close()
    server.close()
    await server.wait_closed()
    return int(value)


def test_uvicorns_own_protocol_leaves_nagle_on_for_a_shared_socket() -> None:
    # The premise: asyncio sets TCP_NODELAY only on sockets made with IPPROTO_TCP.
    assert asyncio.run(_nodelay_of_accepted(H11Protocol)) == 0


def test_kassas_protocol_turns_nagle_off_on_every_connection() -> None:
    assert asyncio.run(_nodelay_of_accepted(PROTOCOL)) == 1
