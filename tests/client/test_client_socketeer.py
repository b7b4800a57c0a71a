"""socketeer's client against socketeer's own server, in process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_peers import StartProxy

from socketeer import ConnectionRefused, DisconnectReason, Server
from socketeer.client import AsyncClient
from socketeer.exceptions import NotConnected
from socketeer.protocol.websocket_frames import build_handshake_response, build_text_frame

ServeSocketeer = Callable[[Server], Awaitable[str]]
FAST = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "randomization_factor": 0.0}


def make_server() -> tuple[Server, dict[str, Any]]:
    io = Server()
    state: dict[str, Any] = {"log": [], "late": {}, "sockets": {}}

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        state["sockets"][socket.id] = socket
        socket.emit("welcome", socket.id)

    @io.on("echo")
    def echo(socket: Any, *args: Any) -> Any:
        return tuple(args)

    @io.on("ask")
    async def ask(socket: Any, question: str) -> Any:
        return await socket.emit_with_ack("question", question, timeout=5)

    @io.on("log")
    def log(socket: Any, *args: Any) -> int:
        state["log"].extend(args)
        return len(state["log"])

    @io.on("late")
    async def late(socket: Any, key: str) -> Any:
        count = state["late"][key] = state["late"].get(key, 0) + 1
        if count == 1:
            await asyncio.sleep(0.4)  # later than the client's ack_timeout: it re-sends
        return "ok", count

    @io.on("disconnect_me")
    def disconnect_me(socket: Any) -> None:
        socket.disconnect()

    chat = io.of("/chat")

    @chat.on("echo")
    def chat_echo(socket: Any, *args: Any) -> Any:
        return ("chat", *args)

    admin = io.of("/admin")

    @admin.use
    def check_token(socket: Any) -> None:
        if socket.handshake.auth.get("token") != "secret":
            raise ConnectionRefused("not authorized", {"reason": "bad token"})

    @admin.on("whoami")
    def whoami(socket: Any) -> Any:
        return socket.handshake.auth

    return io, state


async def test_emit_ack_binary_namespaces(
    serve_socketeer: ServeSocketeer, transports: tuple[str, ...]
) -> None:
    io, state = make_server()
    url = await serve_socketeer(io)
    client = AsyncClient(url, transports=transports)
    welcome: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("welcome", lambda sid: welcome.set_result(sid))

    @client.on("question")
    def answer(question: str) -> Any:
        return question[::-1], b"\x02"

    await asyncio.wait_for(client.connect(), 10)
    try:
        assert await asyncio.wait_for(welcome, 5) == client.id
        payload = {"nested": [b"\x00" * 10, {"deep": b"\xff"}], "text": "é"}
        assert await client.emit_with_ack("echo", payload, 7, timeout=5) == (payload, 7)
        assert await client.emit_with_ack("ask", "abc", timeout=5) == ("cba", b"\x02")
        chat = client.socket("/chat")
        await asyncio.wait_for(chat.connect(), 10)
        assert chat.io.engine is client.io.engine
        assert await chat.emit_with_ack("echo", b"bin", timeout=5) == ("chat", b"bin")
        if len(transports) == 2:
            await asyncio.wait_for(client.io.engine.upgraded.wait(), 5)  # type: ignore[union-attr]
        assert client.transport == transports[-1]
        disconnected: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        chat.on("disconnect", lambda reason: disconnected.set_result(reason))
        client.emit("disconnect_me")  # only the main namespace is disconnected by the server
        await asyncio.wait_for(client.wait(), 5)
        assert not client.connected and chat.connected
        assert await chat.emit_with_ack("echo", 1, timeout=5) == ("chat", 1)
        await chat.disconnect()
        assert await asyncio.wait_for(disconnected, 5) == DisconnectReason.IO_CLIENT_DISCONNECT
    finally:
        await client.close()


async def test_connect_error_from_middleware(serve_socketeer: ServeSocketeer) -> None:
    io, _ = make_server()
    url = await serve_socketeer(io)
    client = AsyncClient(url, namespace="/admin", auth={"token": "nope"})
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    with pytest.raises(ConnectionRefused) as info:
        await asyncio.wait_for(client.connect(), 10)
    assert (info.value.message, info.value.data) == ("not authorized", {"reason": "bad token"})
    assert errors == [info.value]
    await client.close()

    good = AsyncClient(url, namespace="/admin", auth=lambda: {"token": "secret"})
    await asyncio.wait_for(good.connect(), 10)
    assert await good.emit_with_ack("whoami", timeout=5) == {"token": "secret"}
    await good.close()


async def test_reconnect_after_cut_flushes_buffer(
    serve_socketeer: ServeSocketeer, proxy: StartProxy, transports: tuple[str, ...]
) -> None:
    io, state = make_server()
    url = await serve_socketeer(io)
    p = await proxy(int(url.rsplit(":", 1)[1]))
    client = AsyncClient(p.url, transports=transports, **FAST)  # type: ignore[arg-type]
    reasons: list[Any] = []
    reconnected = asyncio.Event()
    disconnected = asyncio.Event()
    client.on("disconnect", lambda reason: (reasons.append(reason), disconnected.set()))
    client.io.on("reconnect", lambda attempt: reconnected.set())
    await asyncio.wait_for(client.connect(), 10)
    try:
        assert await client.emit_with_ack("log", "first", timeout=5) == 1
        p.cut()
        await asyncio.wait_for(disconnected.wait(), 10)
        assert reasons[0] in (DisconnectReason.TRANSPORT_CLOSE, DisconnectReason.TRANSPORT_ERROR)
        for i in range(3):
            client.emit("log", i)
        await asyncio.wait_for(reconnected.wait(), 10)
        assert await client.emit_with_ack("log", "last", timeout=5) == 5
        assert state["log"] == ["first", 0, 1, 2, "last"]
    finally:
        await client.close()


async def test_retries_with_late_acks(serve_socketeer: ServeSocketeer) -> None:
    io, state = make_server()
    url = await serve_socketeer(io)
    client = AsyncClient(url, transports=("websocket",), ack_timeout=0.15, retries=2)
    await asyncio.wait_for(client.connect(), 10)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(client.emit_with_ack("late", "a"), client.emit_with_ack("late", "b")), 10
        )
        assert results == [("ok", 2), ("ok", 2)]
        assert state["late"] == {"a": 2, "b": 2}
    finally:
        await client.close()


async def test_concurrent_emits_from_many_tasks(
    serve_socketeer: ServeSocketeer, transports: tuple[str, ...]
) -> None:
    io, state = make_server()
    url = await serve_socketeer(io)
    client = AsyncClient(url, transports=transports)
    await asyncio.wait_for(client.connect(), 10)
    try:

        async def worker(n: int) -> list[Any]:
            return [await client.emit_with_ack("echo", n, i, b"%d" % i, timeout=5) for i in range(5)]

        results = await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(40))), 20)
        assert results == [[(n, i, b"%d" % i) for i in range(5)] for n in range(40)]
    finally:
        await client.close()


async def test_reconnect_failed_after_the_attempts(unused_tcp_port: int) -> None:
    client = AsyncClient(f"http://127.0.0.1:{unused_tcp_port}", reconnection_attempts=2, **FAST)  # type: ignore[arg-type]
    events: list[tuple[str, Any]] = []
    client.on("connect_error", lambda error: events.append(("connect_error", type(error).__name__)))
    client.io.on("reconnect_attempt", lambda attempt: events.append(("reconnect_attempt", attempt)))
    client.io.on("reconnect_error", lambda error: events.append(("reconnect_error", None)))
    client.io.on("reconnect_failed", lambda: events.append(("reconnect_failed", None)))
    with pytest.raises(NotConnected):
        await asyncio.wait_for(client.connect(), 10)
    assert events == [
        ("connect_error", "ConnectionRefusedError"),
        ("reconnect_attempt", 1),
        ("connect_error", "ConnectionRefusedError"),
        ("reconnect_error", None),
        ("reconnect_attempt", 2),
        ("connect_error", "ConnectionRefusedError"),
        ("reconnect_error", None),
        ("reconnect_failed", None),
    ]
    await asyncio.wait_for(client.wait(), 1)
    await client.close()


async def test_undecodable_packet_closes_with_parse_error() -> None:
    """A raw WebSocket peer that completes the handshakes, then sends a broken Socket.IO packet."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        key = next(
            line.split(":", 1)[1].strip()
            for line in head.split("\r\n")
            if line.lower().startswith("sec-websocket-key")
        )
        writer.write(build_handshake_response(key))
        open_packet = (
            '0{"sid":"raw","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
        )
        writer.write(build_text_frame(open_packet.encode()))
        await reader.read(1024)  # the client's CONNECT
        writer.write(build_text_frame(b'40{"sid":"s1"}') + build_text_frame(b"42[broken"))
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AsyncClient(f"http://127.0.0.1:{port}", transports=("websocket",), reconnection=False)
    reasons: list[Any] = []
    client.on("disconnect", reasons.append)
    try:
        await asyncio.wait_for(client.connect(), 5)
        await asyncio.wait_for(client.wait(), 5)
        assert reasons == [DisconnectReason.PARSE_ERROR]
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
