"""Connection state recovery against the official JS client: id, rooms and missed broadcasts come back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import socketeer
from socketeer._types import Sid
from socketeer.adapters.base import BroadcastOptions, PersistedSession
from socketeer.adapters.memory import SessionAwareAdapter
from socketeer.protocol.socketio_packets import SocketPacket, SocketPacketType

HERE = Path(__file__).resolve().parent


async def _lines(proc: asyncio.subprocess.Process) -> Any:
    assert proc.stdout is not None
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 15)
        if not line:
            return
        yield json.loads(line)


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
async def test_official_client_recovers_id_rooms_and_missed_broadcasts(
    node_modules: Path, serve_socketeer: Any, transports: list[str]
) -> None:
    io = socketeer.Server(connection_state_recovery=True, ping_interval=5, ping_timeout=5)
    first_socket: asyncio.Future[socketeer.Socket] = asyncio.get_running_loop().create_future()
    recovered: asyncio.Future[socketeer.Socket] = asyncio.get_running_loop().create_future()

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        if socket.recovered:
            recovered.set_result(socket)
            return
        socket.join("team")
        socket.data["name"] = "ann"
        first_socket.set_result(socket)

    url = await serve_socketeer(io)
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "recovery_client.js"),
        url,
        json.dumps(transports),
        stdout=asyncio.subprocess.PIPE,
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
    )
    events = _lines(proc)
    try:
        first = await anext(events)
        assert first["event"] == "connect" and first["recovered"] is False
        socket = await asyncio.wait_for(first_socket, 10)
        assert first["id"] == socket.id
        io.to("team").emit("b", 1)
        assert await anext(events) == {"event": "b", "value": 1}
        socket.client.conn.close("transport error")  # cut the connection from the server side
        assert (await anext(events))["event"] == "disconnect"
        io.to("team").emit("b", 2)  # missed while disconnected
        io.emit("b", 3)
        again = await anext(events)
        assert again == {"event": "connect", "id": socket.id, "recovered": True}
        assert await anext(events) == {"event": "b", "value": 2}
        assert await anext(events) == {"event": "b", "value": 3}
        back = await asyncio.wait_for(recovered, 10)
        assert back.id == socket.id and back.recovered
        assert "team" in back.rooms and back.data == {"name": "ann"}
        io.to("team").emit("done")
        assert await anext(events) == {"event": "done"}
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


class _Recorder:
    def __init__(self) -> None:
        self.packets: list[SocketPacket] = []

    def deliver(self, packet: SocketPacket, sids: Any, flags: Any) -> None:
        self.packets.append(packet)

    def deliver_with_ack(self, *args: Any) -> None:
        raise AssertionError("not used")

    def has_socket(self, sid: Any) -> bool:
        return True


async def test_session_expiry_and_unknown_offsets() -> None:
    now = [0.0]
    adapter = SessionAwareAdapter(_Recorder(), max_disconnection_duration=10, clock=lambda: now[0])
    event = SocketPacket(SocketPacketType.EVENT, "/", ["x"])
    adapter.broadcast(event, BroadcastOptions())
    offset = adapter._packets[-1][0]
    adapter.persist_session(PersistedSession(Sid("s1"), "p1", frozenset({"s1"}), None))
    assert await adapter.restore_session("p1", "unknown") is None  # an unknown offset recovers nothing
    adapter.persist_session(PersistedSession(Sid("s1"), "p1", frozenset({"s1"}), None))
    adapter.broadcast(event, BroadcastOptions(frozenset({"other"})))
    adapter.broadcast(event, BroadcastOptions(except_=frozenset({"s1"})))
    adapter.broadcast(event, BroadcastOptions())
    restored = await adapter.restore_session("p1", offset)
    assert restored is not None and len(restored.missed_packets) == 1
    adapter.persist_session(PersistedSession(Sid("s1"), "p1", frozenset({"s1"}), None))
    now[0] = 11.0
    assert await adapter.restore_session("p1", offset) is None  # expired
