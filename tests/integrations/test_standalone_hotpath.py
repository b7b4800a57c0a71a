"""Regression guards for the broadcast hot path. They count work, they never time anything.

A broadcast must be encoded once, framed once (the very same bytes object handed to every WebSocket
connection) and flushed with one write per connection per event-loop iteration.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any

import websockets

import socketeer
from socketeer.integrations.standalone import HttpProtocol
from socketeer.protocol.parser import JsonParser
from socketeer.protocol.socketio_packets import SocketPacket
from socketeer.protocol.wire import WireMessage

CLIENTS = 50


class CountingParser(JsonParser):
    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, packet: SocketPacket, volatile: bool = False) -> WireMessage:
        self.encoded += 1
        return super().encode(packet, volatile)


class CountingTransportWrites:
    """Counts ``transport.write`` calls made by the standalone server's connections."""

    def __init__(self, protocols: list[HttpProtocol]) -> None:
        self.count = 0
        self.payloads: list[bytes] = []
        for proto in protocols:
            transport = proto.transport
            assert transport is not None
            original = transport.write

            def write(data: Any, original: Any = original) -> None:
                self.count += 1
                self.payloads.append(bytes(data))
                original(data)

            proto.transport = _TransportProxy(transport, write)  # type: ignore[assignment]


class _TransportProxy:
    def __init__(self, inner: Any, write: Any) -> None:
        self._inner = inner
        self.write = write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def _connected_clients(url: str, count: int) -> list[Any]:
    clients = []
    for _ in range(count):
        ws = await websockets.connect(url)
        await ws.recv()  # open packet
        await ws.send("40")
        await ws.recv()  # CONNECT reply
        clients.append(ws)
    return clients


async def test_broadcast_is_encoded_once_framed_once_and_written_once_per_client() -> None:
    parser = CountingParser()
    io = socketeer.Server(parser=parser)
    server = await io.serve("127.0.0.1", 0)
    clients = await _connected_clients(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", CLIENTS
    )
    try:
        assert len(io.sockets.sockets) == CLIENTS
        protocols = [p for p in server._connections if p._reader is not None]
        assert len(protocols) == CLIENTS
        counter = CountingTransportWrites(protocols)
        parser.encoded = 0
        frames_seen: set[int] = set()
        original = WireMessage.ws_frames

        io.emit("news", {"n": 1, "text": "x" * 100})
        for proto in protocols:
            assert len(proto._wbuf) == 1
            frames_seen.add(id(proto._wbuf[0]))
        assert parser.encoded == 1, "a broadcast must be serialised once"
        assert len(frames_seen) == 1, "every connection must get the same frame bytes object"
        assert WireMessage.ws_frames is original
        received = await asyncio.gather(*(asyncio.wait_for(ws.recv(), 5) for ws in clients))
        assert set(received) == {'42["news",{"n":1,"text":"' + "x" * 100 + '"}]'}
        assert counter.count == CLIENTS, "one write per connection"

        # Three broadcasts in one event-loop iteration: still one write per connection.
        counter.count = 0
        for n in range(3):
            io.emit("news", n)
        for ws in clients:
            for n in range(3):
                assert await asyncio.wait_for(ws.recv(), 5) == f'42["news",{n}]'
        assert counter.count == CLIENTS
        assert parser.encoded == 4
    finally:
        for ws in clients:
            await ws.close()
        await io.close()


async def test_broadcast_allocates_little_per_client() -> None:
    io = socketeer.Server()
    server = await io.serve("127.0.0.1", 0)
    clients = await _connected_clients(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket", CLIENTS
    )
    try:
        protocols = [p for p in server._connections if p._reader is not None]
        io.emit("warm", 0)
        for proto in protocols:
            proto._flush()
        tracemalloc.start()
        snapshot_before = tracemalloc.take_snapshot()
        io.emit("news", {"text": "y" * 1000})
        snapshot_after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        diff = sum(stat.size_diff for stat in snapshot_after.compare_to(snapshot_before, "filename"))
        # one ~1 KB frame shared by all; per client only a list slot and a scheduled flush
        assert diff < 2048 + CLIENTS * 200, f"broadcast allocated {diff} bytes for {CLIENTS} clients"
        await asyncio.gather(*(asyncio.wait_for(ws.recv(), 5) for ws in clients[:1]))
    finally:
        for ws in clients:
            await ws.close()
        await io.close()
