"""A third implementation as a peer: the python-socketio client against socketeer's server, and
socketeer's client against the python-socketio server (under uvicorn), in each transport mode."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import socketio
import uvicorn

import socketeer

MODES = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}


@pytest.mark.parametrize("mode", MODES)
async def test_python_socketio_client_against_socketeer(serve_socketeer: Any, mode: str) -> None:
    io = socketeer.Server()
    seen: list[Any] = []

    @io.on("connection")
    def on_connection(socket_: socketeer.Socket, auth: Any) -> None:
        socket_.emit("welcome", auth)

    @io.on("echo")
    def echo(socket_: socketeer.Socket, *args: Any) -> None:
        socket_.emit("echo", *args)

    @io.on("add")
    def add(socket_: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("disconnect")
    def on_disconnect(socket_: socketeer.Socket, reason: str) -> None:
        seen.append(reason)

    url = await serve_socketeer(io)
    client = socketio.AsyncClient(reconnection=False)
    queue: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
    client.on("welcome", lambda *args: queue.put_nowait(("welcome", args)))
    client.on("echo", lambda *args: queue.put_nowait(("echo", args)))
    await client.connect(url, transports=MODES[mode], auth={"token": "t"}, wait_timeout=5)
    assert await asyncio.wait_for(queue.get(), 5) == ("welcome", ({"token": "t"},))
    await client.emit("echo", {"n": 1, "blob": b"\x00\x01"})
    assert await asyncio.wait_for(queue.get(), 5) == ("echo", ({"n": 1, "blob": b"\x00\x01"},))
    assert await client.call("add", (2, 3), timeout=5) == 5
    if mode != "polling":
        assert client.transport() == "websocket"
    await client.disconnect()
    for _ in range(200):
        if seen:
            break
        await asyncio.sleep(0.01)
    # over WebSocket python-socketio queues its DISCONNECT packet and aborts the connection at once, so
    # the packet may never leave: then the server sees the transport close first
    assert seen in (["client namespace disconnect"], ["transport close"] if mode != "polling" else [])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", MODES)
async def test_socketeer_client_against_python_socketio_server(mode: str) -> None:
    sio = socketio.AsyncServer(async_mode="asgi")

    @sio.on("add")
    async def add(sid: str, a: int, b: int) -> int:
        return a + b

    @sio.on("echo")
    async def echo(sid: str, data: Any) -> None:
        await sio.emit("echo", data, to=sid)

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    client = socketeer.AsyncClient(f"http://127.0.0.1:{port}", transports=MODES[mode], reconnection=False)
    got: asyncio.Queue[Any] = asyncio.Queue()
    client.on("echo", lambda data: got.put_nowait(data))
    try:
        await asyncio.wait_for(client.connect(), 10)
        assert await client.emit_with_ack("add", 2, 3, timeout=5) == 5
        client.emit("echo", {"blob": b"\x02", "n": [1, 2]})
        assert await asyncio.wait_for(got.get(), 5) == {"blob": b"\x02", "n": [1, 2]}
    finally:
        await client.disconnect()
        server.should_exit = True
        # python-engineio holds a poll that the client abandoned until its ping timeout (45 s):
        # do not wait for it
        server.force_exit = True
        await task
