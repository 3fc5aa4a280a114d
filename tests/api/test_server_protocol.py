"""`kassa serve --workers N` answers without the 40 ms Nagle/delayed-ACK stall (every
connection accepted from the socket uvicorn's parent process shares has TCP_NODELAY on), and
its workers share a burst of new connections instead of one worker taking them all."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from kassa.api.server import (
    LOOP,
    PROTOCOL,
    NoDelayH11Protocol,
    NoDelayHttpToolsProtocol,
    OneAcceptLoop,
)


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


@pytest.mark.parametrize("protocol", [PROTOCOL, NoDelayH11Protocol, NoDelayHttpToolsProtocol])
def test_kassas_protocols_turn_nagle_off_on_every_connection(protocol: Any) -> None:
    assert asyncio.run(_nodelay_of_accepted(protocol)) == 1


def test_kassa_serves_with_the_c_parser_and_the_one_accept_loop() -> None:
    assert PROTOCOL == "kassa.api.server:NoDelayHttpToolsProtocol"
    config = Config(app=_app, http=PROTOCOL, loop=LOOP)
    config.load()
    assert config.http_protocol_class is NoDelayHttpToolsProtocol
    assert config.get_loop_factory() is OneAcceptLoop


def _accepted_in_one_wakeup(new_loop: Callable[[], asyncio.AbstractEventLoop],
                            waiting: int) -> int:
    """How many of `waiting` queued connections the loop takes when the listening socket
    reports readable once (the call asyncio's selector makes for that event)."""
    loop = new_loop()
    listening = socket.socket(family=socket.AF_INET)
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    listening.setblocking(False)
    clients = [socket.create_connection(listening.getsockname()) for _ in range(waiting)]
    made: list[asyncio.BaseTransport] = []

    class Counting(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)

    try:
        loop._accept_connection(Counting, listening)  # type: ignore[attr-defined]
        loop.run_until_complete(asyncio.sleep(0.05))  # the accepted ones get their protocol
        return len(made)
    finally:
        for transport in made:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        for client in clients:
            client.close()
        listening.close()


def test_asyncio_takes_every_waiting_connection_at_once() -> None:
    # The premise: one worker that wakes first takes a whole burst of connections.
    assert _accepted_in_one_wakeup(asyncio.SelectorEventLoop, 3) == 3


def test_kassas_loop_takes_one_connection_per_wakeup() -> None:
    assert _accepted_in_one_wakeup(OneAcceptLoop, 3) == 1


async def _echo_each(clients: int) -> list[bytes]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]

    async def one(n: int) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"%d\n" % n)
        answer = await reader.readline()
        writer.close()
        return answer

    try:
        return list(await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(clients))),
                                           timeout=10))
    finally:
        server.close()
        await server.wait_closed()


def test_kassas_loop_still_serves_a_burst_of_connections() -> None:
    # One accept per wake-up must not starve the rest: the listening socket stays readable
    # while connections wait, so the loop comes back for each of them.
    with asyncio.Runner(loop_factory=OneAcceptLoop) as runner:
        answers = runner.run(_echo_each(50))
    assert answers == [b"%d\n" % n for n in range(50)]
