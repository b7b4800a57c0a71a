"""Fairness between connections in the standalone server (tail latency under a fan-out storm).

A fan-out's writes leave in bounded batches, after the replies to other connections, with the other
connections' input read in between. These tests count work (writes); they never time anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets

import socketeer
from socketeer.integrations import standalone
from socketeer.integrations.standalone import HttpProtocol

CLIENTS = 20
BATCH = 8


class _CountingTransport:
    """A connection's transport, with its writes recorded (in order, across all connections)."""

    def __init__(self, inner: Any, log: list[tuple[HttpProtocol, bytes]], proto: HttpProtocol) -> None:
        self._inner = inner
        self._log = log
        self._proto = proto

    def write(self, data: Any) -> None:
        self._log.append((self._proto, bytes(data)))
        self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _connected(url: str, count: int) -> list[Any]:
    clients = []
    for _ in range(count):
        ws = await websockets.connect(url)
        await ws.recv()  # open packet
        await ws.send("40")
        await ws.recv()  # CONNECT reply
        clients.append(ws)
    # a round trip, so that every connection is past the short hold after its CONNECT reply
    await asyncio.gather(*(ws.send('42["warm"]') for ws in clients))
    return clients


async def test_fanout_writes_leave_in_batches_after_a_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standalone, "_FLUSH_BATCH", BATCH)
    io = socketeer.Server()

    @io.on("warm")
    def warm(socket: socketeer.Socket) -> None:
        socket.emit("warm")

    server = await io.serve("127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    clients = await _connected(url, CLIENTS)
    for ws in clients:
        assert await asyncio.wait_for(ws.recv(), 5) == '42["warm"]'
    try:
        sockets = list(io.sockets.sockets.values())
        assert len(sockets) == CLIENTS
        lone, members = sockets[0], sockets[1:]
        for socket in members:
            socket.join("storm")
        protocols = [socket.client.conn.ws for socket in sockets]
        assert all(isinstance(proto, HttpProtocol) for proto in protocols)
        log: list[tuple[HttpProtocol, bytes]] = []
        for proto in protocols:
            assert isinstance(proto, HttpProtocol)
            proto.transport = _CountingTransport(proto.transport, log, proto)  # type: ignore[assignment]
        lone_proto = protocols[0]

        io.to("storm").emit("news", "x" * 100)  # one fan-out to 19 connections
        lone.emit("reply", 1)  # then a reply to another connection, in the same iteration
        assert server._flush_handle is not None
        server._flush_handle.cancel()
        server._flush_all()  # the pass the loop would run

        # the fan-out's first receiver and the reply, then one batch of the other receivers
        assert len(log) == 2 + BATCH
        assert lone_proto in [proto for proto, _ in log[:2]]
        assert len(server._bulk) == CLIENTS - 1 - 1 - BATCH
        assert server._flush_handle is not None, "the rest leaves on the next iterations by itself"

        news = '42["news","' + "x" * 100 + '"]'
        lone_ws, member_ws = clients[0], clients[1:]
        assert await asyncio.wait_for(lone_ws.recv(), 5) == '42["reply",1]'
        assert await asyncio.gather(*(asyncio.wait_for(ws.recv(), 5) for ws in member_ws)) == [news] * (
            CLIENTS - 1
        )
        assert len(log) == CLIENTS, "still one write per connection"
        assert len({proto for proto, _ in log}) == CLIENTS
        assert not server._bulk
    finally:
        for ws in clients:
            await ws.close()
        await io.close()


async def test_a_fanout_under_the_batch_size_leaves_in_one_pass() -> None:
    io = socketeer.Server()

    @io.on("warm")
    def warm(socket: socketeer.Socket) -> None:
        socket.emit("warm")

    server = await io.serve("127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    clients = await _connected(url, CLIENTS)
    for ws in clients:
        assert await asyncio.wait_for(ws.recv(), 5) == '42["warm"]'
    try:
        io.emit("news", 1)
        io.emit("news", 2)
        assert server._flush_handle is not None
        server._flush_handle.cancel()
        server._flush_all()
        assert not server._bulk and not server._dirty
        assert all(not p._wbuf for p in server._connections)
        assert server._flush_handle is None, "nothing left for another pass"
        for ws in clients:
            assert await asyncio.wait_for(ws.recv(), 5) == '42["news",1]'
            assert await asyncio.wait_for(ws.recv(), 5) == '42["news",2]'
    finally:
        for ws in clients:
            await ws.close()
        await io.close()
