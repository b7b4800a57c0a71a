"""Connection state recovery with socketeer on both sides: id, rooms and missed broadcasts come back."""

from __future__ import annotations

import asyncio

import socketeer
from socketeer.exceptions import NotConnected


async def test_recovery_against_socketeer_server() -> None:
    io = socketeer.Server(connection_state_recovery=True)
    srv = await io.serve("127.0.0.1", 0)
    sockets: list[socketeer.Socket] = []

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        sockets.append(socket)
        if not socket.recovered:
            socket.join("team")
            socket.data["who"] = "me"

    client = socketeer.AsyncClient(
        f"http://127.0.0.1:{srv.port}", transports=["websocket"], reconnection_delay=0.05, reconnection_delay_max=0.1
    )
    got: asyncio.Queue[int] = asyncio.Queue()
    client.on("b", lambda value: got.put_nowait(value))
    reconnected = asyncio.Event()
    client.io.on("reconnect", lambda attempt: reconnected.set())
    try:
        await asyncio.wait_for(client.connect(), 10)
        first_id = client.id
        assert not client.recovered
        io.to("team").emit("b", 1)
        assert await asyncio.wait_for(got.get(), 5) == 1
        sockets[0].client.conn.close("transport error")  # cut from the server side
        io.to("team").emit("b", 2)  # missed while disconnected
        await asyncio.wait_for(reconnected.wait(), 10)
        assert await asyncio.wait_for(got.get(), 5) == 2
        assert client.recovered and client.id == first_id
        back = sockets[-1]
        assert back.recovered and back.id == first_id and "team" in back.rooms and back.data == {"who": "me"}
    finally:
        try:
            await client.disconnect()
        except NotConnected:
            pass
        await io.close()
