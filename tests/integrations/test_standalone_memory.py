"""Guards for the memory of idle connections. They count (bytes allocated, timers held), never time.

An idle WebSocket connection with the default namespace joined must not keep a timer of its own (the
server's heartbeat wheel serves every session; the connect timeout is cleared once a namespace is
joined), must share the empty defaults of its socket, and must stay under a bound of bytes allocated by
socketeer's own code (what the interpreter allocates for it, traced with ``tracemalloc``).
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
from typing import Any

import socketeer
from socketeer.integrations import standalone
from socketeer.server import socket as socket_module

CLIENTS = 200
#: bytes allocated by socketeer's code per idle WebSocket connection, on the test's event loop: 3192
#: measured, 4761 before the heartbeat wheel, the cleared connect timer, the shared empty defaults, the
#: HTTP request state dropped on the upgrade and one copy of the request strings that repeat (on uvloop
#: the timers saved weighed more: ~545 bytes each)
BOUND = 3450

_UPGRADE = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
_CONNECT = b"\x81\x82\x00\x00\x00\x0040"  # "40", masked with a zero key


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_UPGRADE)
    await reader.readuntil(b"\r\n\r\n")
    await reader.readuntil(b"}")  # the Engine.IO open packet
    writer.write(_CONNECT)
    await reader.readuntil(b"}")  # the CONNECT reply
    return reader, writer


async def _connect_many(port: int, count: int) -> list[Any]:
    return [await _open(port) for _ in range(count)]


async def test_idle_connections_hold_no_timer_of_their_own_and_share_empty_defaults() -> None:
    io = socketeer.Server()
    server = await io.serve("127.0.0.1", 0)
    clients = await _connect_many(server.port, 20)
    try:
        sockets = list(io.sockets.sockets.values())
        assert len(sockets) == 20
        for socket in sockets:
            assert socket.client._connect_timer is None
            assert socket.client._connecting == ()
            assert socket._handlers is socket_module._NO_HANDLERS
            assert socket._acks is socket_module._NO_ACKS
            assert socket._any == () and socket._any_outgoing == () and socket._middlewares == ()
            assert socket.client.conn._timer is None
        for proto in server._connections:  # a WebSocket keeps nothing of the HTTP request phase
            assert proto._body is standalone._NO_DATA and proto._pending is standalone._NO_DATA
            assert proto._queued is standalone._NO_REQUESTS and proto._url == b""
        engine = io.engine
        assert engine._wakeup_timer is not None  # one timer for all of them
        assert len(engine._wakeups) - engine._wakeups_stale == 20  # one live wakeup each
        # a socket that gets handlers and acks gets its own containers; the shared ones stay empty
        sockets[0].on("x", lambda *args: None)
        sockets[0].emit("y", callback=lambda *args: None)
        sockets[0].on_any(lambda *args: None)
        assert sockets[0]._handlers and sockets[0]._acks and sockets[0]._any
        assert not socket_module._NO_HANDLERS and not socket_module._NO_ACKS
        assert sockets[1]._handlers is socket_module._NO_HANDLERS
        assert not standalone._NO_DATA and not standalone._NO_REQUESTS
    finally:
        for _, writer in clients:
            writer.close()
        await io.close()


async def test_bytes_allocated_per_idle_connection_stay_under_the_bound() -> None:
    io = socketeer.Server()
    server = await io.serve("127.0.0.1", 0)
    package = os.path.dirname(socketeer.__file__)
    warm = await _connect_many(server.port, 10)  # one-off allocations (caches, first-use state) first
    clients: list[Any] = []
    try:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            clients = await _connect_many(server.port, CLIENTS)
            gc.collect()
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        only_ours = [tracemalloc.Filter(True, os.path.join(package, "*"))]
        grown = sum(
            stat.size_diff
            for stat in after.filter_traces(only_ours).compare_to(before.filter_traces(only_ours), "filename")
        )
        assert len(io.sockets.sockets) == CLIENTS + 10
        assert grown / CLIENTS < BOUND, f"{grown / CLIENTS:.0f} bytes per idle connection"
    finally:
        for _, writer in warm + clients:
            writer.close()
        await io.close()


async def test_one_heartbeat_timer_wakes_every_session() -> None:
    """Heartbeats through a few intervals wake the shared timer about once per distinct deadline: the
    wheel never arms a second timer beside the first (each would fire again and again)."""
    from socketeer.transports.engine_server import EngineServer

    calls = 0
    original = EngineServer._on_wakeups

    def counting(self: EngineServer) -> None:
        nonlocal calls
        calls += 1
        original(self)

    EngineServer._on_wakeups = counting  # type: ignore[method-assign]
    io = socketeer.Server(ping_interval=0.02, ping_timeout=0.5)
    server = await io.serve("127.0.0.1", 0)
    try:
        clients = await _connect_many(server.port, 10)
        rounds = 40
        pongs = 0

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal pongs
            for _ in range(rounds):
                assert await reader.readexactly(3) == b"\x81\x012"  # a PING
                writer.write(b"\x81\x81\x00\x00\x00\x003")  # its PONG
                pongs += 1

        await asyncio.wait_for(asyncio.gather(*(answer(r, w) for r, w in clients)), 10)
        assert pongs == 10 * rounds
        # at most one wakeup per PING and per PONG deadline, and a few early ones
        assert calls <= 3 * 10 * rounds, calls
        for _, writer in clients:
            writer.close()
    finally:
        EngineServer._on_wakeups = original  # type: ignore[method-assign]
        await io.close()
