"""socketeer's client against the official socket.io@4 server (Node subprocess)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_peers import NodeServer, StartNodeServer, StartProxy

from socketeer import DisconnectReason
from socketeer.client import AsyncClient
from socketeer.exceptions import BufferFull, ConnectionRefused

FAST = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "randomization_factor": 0.0}


class Recorder:
    """Collects (event, args) and lets a test await the n-th occurrence of an event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self._changed = asyncio.Event()

    def handler(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.events.append((name, args))
            self._changed.set()

        return record

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for event, args in self.events if event == name]

    async def wait_for(self, name: str, count: int = 1, timeout: float = 10) -> list[tuple[Any, ...]]:
        async def wait() -> list[tuple[Any, ...]]:
            while len(self.of(name)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.of(name)

        return await asyncio.wait_for(wait(), timeout)

    def watch(self, target: Any, *names: str) -> None:
        for name in names:
            target.on(name, self.handler(name))


async def test_connect_emit_ack_binary(node_server: StartNodeServer, transports: tuple[str, ...]) -> None:
    server = await node_server()
    client = AsyncClient(server.url, transports=transports)
    rec = Recorder()
    rec.watch(client, "welcome", "echoed", "connect")
    client.on_any(rec.handler("any"))

    @client.on("question")
    async def answer(question: str) -> str:
        return question.upper()

    await asyncio.wait_for(client.connect(), 10)
    try:
        assert client.connected and client.id
        assert (await rec.wait_for("welcome"))[0] == (client.id, False)
        assert await client.emit_with_ack("echo", 1, {"bin": b"\x00\x01"}, [b"xyz"], "s", timeout=5) == (
            1,
            {"bin": b"\x00\x01"},
            [b"xyz"],
            "s",
        )
        assert await client.emit_with_ack("echo", timeout=5) is None
        client.emit("emit_back", {"payload": b"\xff" * 1000}, "two")
        assert (await rec.wait_for("echoed"))[0] == ({"payload": b"\xff" * 1000}, "two")
        assert await client.emit_with_ack("ask", "hello", timeout=5) == "HELLO"
        acked: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client.emit("echo", "cb", b"b", callback=lambda *args: acked.set_result(args))
        assert await asyncio.wait_for(acked, 5) == ("cb", b"b")
        assert ("welcome", client.id, False) in rec.of("any")
        if transports == ("polling", "websocket"):
            await asyncio.wait_for(client.io.engine.upgraded.wait(), 5)  # type: ignore[union-attr]
        described = await client.emit_with_ack("describe", timeout=5)
        assert described["transport"] == transports[-1]
        assert client.transport == transports[-1]
    finally:
        await client.close()
    assert not client.connected


async def test_namespaces_share_one_connection(
    node_server: StartNodeServer, transports: tuple[str, ...]
) -> None:
    server = await node_server()
    client = AsyncClient(server.url, transports=transports)
    chat = client.socket("/chat")
    assert client.socket("/chat") is chat and chat.io is client.io
    await asyncio.wait_for(client.connect(), 10)
    await asyncio.wait_for(chat.connect(), 10)
    try:
        engine = client.io.engine
        assert chat.id and client.id and chat.id != client.id
        assert await chat.emit_with_ack("echo", "to chat", b"\x01", timeout=5) == ("to chat", b"\x01")
        assert await client.emit_with_ack("echo", "to main", timeout=5) == "to main"
        rec = Recorder()
        rec.watch(chat, "disconnect")
        await chat.disconnect()
        assert rec.of("disconnect") == [(DisconnectReason.IO_CLIENT_DISCONNECT,)]
        assert client.connected and client.io.engine is engine
        assert await client.emit_with_ack("echo", "still here", timeout=5) == "still here"
    finally:
        await client.close()


async def test_connect_error_carries_message_and_data(node_server: StartNodeServer) -> None:
    server = await node_server()
    client = AsyncClient(server.url + "/admin", auth={"token": "wrong"}, **FAST)
    rec = Recorder()
    rec.watch(client, "connect_error")
    with pytest.raises(ConnectionRefused) as info:
        await asyncio.wait_for(client.connect(), 10)
    assert info.value.message == "not authorized"
    assert info.value.data == {"reason": "bad token", "code": 42}
    [(error,)] = rec.of("connect_error")
    assert error is info.value
    assert not client.connected and not client.active
    await asyncio.wait_for(client.wait(), 1)  # refused: no reconnection

    calls = 0

    async def auth() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"token": "secret", "call": calls}

    good = AsyncClient(
        server.url, namespace="/admin", auth=auth, query={"q": "1"}, headers={"X-Test": "yes"}, **FAST
    )
    await asyncio.wait_for(good.connect(), 10)
    try:
        described = await good.emit_with_ack("describe", timeout=5)
        assert described["auth"] == {"token": "secret", "call": 1}
        assert described["query"]["q"] == "1"
        assert described["header"] == "yes"
        good.emit("drop_me")
        await asyncio.wait_for(_reconnected(good), 10)
        described = await good.emit_with_ack("describe", timeout=5)
        assert described["auth"]["call"] == 2  # evaluated again at the reconnection
    finally:
        await good.close()
    await client.close()


async def _reconnected(sock: Any) -> None:
    """Wait for a disconnect followed by a connect."""
    loop = asyncio.get_running_loop()
    down: asyncio.Future[None] = loop.create_future()
    up: asyncio.Future[None] = loop.create_future()
    sock.once("disconnect", lambda *_: down.done() or down.set_result(None))
    await down
    sock.once("connect", lambda: up.done() or up.set_result(None))
    await up


async def test_server_and_client_disconnect_reasons(node_server: StartNodeServer) -> None:
    server = await node_server()
    client = AsyncClient(server.url, transports=("websocket",), **FAST)
    rec = Recorder()
    rec.watch(client, "disconnect")
    client.io.on("reconnect_attempt", rec.handler("reconnect_attempt"))
    await asyncio.wait_for(client.connect(), 10)
    client.emit("disconnect_me")
    await asyncio.wait_for(client.wait(), 5)
    assert rec.of("disconnect") == [(DisconnectReason.IO_SERVER_DISCONNECT,)]
    assert not client.connected and client.id is None
    assert client.io.engine is None  # the connection closed, and no reconnection follows
    assert rec.of("reconnect_attempt") == []

    await asyncio.wait_for(client.connect(), 10)  # a deliberate connect() works again
    await client.disconnect()
    assert rec.of("disconnect")[-1] == (DisconnectReason.IO_CLIENT_DISCONNECT,)
    await client.close()


async def test_reconnects_after_server_restart_and_flushes_buffer_in_order(
    node_server: StartNodeServer,
) -> None:
    server = await node_server()
    client = AsyncClient(server.url, transports=("polling", "websocket"), **FAST)
    rec = Recorder()
    rec.watch(client, "disconnect", "connect")
    for name in ("reconnect_attempt", "reconnect", "reconnect_error"):
        client.io.on(name, rec.handler(name))
    await asyncio.wait_for(client.connect(), 10)
    first_id = client.id
    await server.kill()
    await rec.wait_for("disconnect")
    assert rec.of("disconnect")[0][0] in (DisconnectReason.TRANSPORT_CLOSE, DisconnectReason.TRANSPORT_ERROR)
    await rec.wait_for("reconnect_error", 2)  # the server is down: attempts fail
    for i in range(5):
        client.emit("log", i, b"%d" % i)  # buffered while disconnected
    client.volatile.emit("log", "volatile: dropped")
    restarted: NodeServer | None = None
    try:
        restarted = await server.restart()
        await rec.wait_for("reconnect")
        await rec.wait_for("connect", 2)
        assert client.connected and client.id != first_id
        attempts = [args[0] for args in rec.of("reconnect_attempt")]
        assert attempts == list(range(1, len(attempts) + 1))
        assert rec.of("reconnect")[0] == (attempts[-1],)
        log = await client.emit_with_ack("get_log", timeout=5)
        assert log == [0, b"0", 1, b"1", 2, b"2", 3, b"3", 4, b"4"]
    finally:
        await client.close()
        if restarted is not None:
            await restarted.kill()


async def test_reconnects_after_proxy_cut(
    node_server: StartNodeServer, proxy: StartProxy, transports: tuple[str, ...]
) -> None:
    server = await node_server()
    p = await proxy(server.port)
    client = AsyncClient(p.url, transports=transports, **FAST)
    rec = Recorder()
    rec.watch(client, "disconnect", "connect")
    client.io.on("reconnect", rec.handler("reconnect"))
    await asyncio.wait_for(client.connect(), 10)
    if len(transports) == 2:
        await asyncio.wait_for(client.io.engine.upgraded.wait(), 5)  # type: ignore[union-attr]
    assert await client.emit_with_ack("log", "before", timeout=5) == 1
    p.cut()
    await rec.wait_for("disconnect")
    assert rec.of("disconnect")[0][0] in (DisconnectReason.TRANSPORT_CLOSE, DisconnectReason.TRANSPORT_ERROR)
    client.emit("log", "while down 1")
    client.emit("log", "while down 2")
    await rec.wait_for("reconnect")
    await rec.wait_for("connect", 2)
    # a new server-side socket: the log holds the buffered emits, in order
    assert await client.emit_with_ack("get_log", timeout=5) == ["while down 1", "while down 2"]
    await client.close()


async def test_ping_timeout_when_server_goes_silent(node_server: StartNodeServer, proxy: StartProxy) -> None:
    server = await node_server("--ping-interval", "100", "--ping-timeout", "100")
    p = await proxy(server.port)
    client = AsyncClient(p.url, transports=("websocket",), reconnection=False)
    rec = Recorder()
    rec.watch(client, "disconnect")
    client.io.on("ping", rec.handler("ping"))
    release = asyncio.Event()

    @client.on("welcome")
    async def slow(*_: Any) -> None:
        await release.wait()  # a slow async handler must not delay the heartbeat

    await asyncio.wait_for(client.connect(), 10)
    await rec.wait_for("ping", 3)
    assert client.connected
    release.set()
    p.freeze()
    await rec.wait_for("disconnect")
    assert rec.of("disconnect") == [(DisconnectReason.PING_TIMEOUT,)]
    await asyncio.wait_for(client.wait(), 5)
    await client.close()


async def test_offline_buffer_is_bounded_and_drops_volatile(node_server: StartNodeServer) -> None:
    server = await node_server()
    client = AsyncClient(server.url, max_buffer=2)
    client.emit("log", "a")
    client.volatile.emit("log", "volatile")
    client.emit("log", "b")
    with pytest.raises(BufferFull):
        client.emit("log", "c")
    await asyncio.wait_for(client.connect(), 10)
    try:
        assert await client.emit_with_ack("get_log", timeout=5) == ["a", "b"]
    finally:
        await client.close()


async def test_retries_deliver_once_to_idempotent_handler(node_server: StartNodeServer) -> None:
    server = await node_server()
    # the server acks the first receipt of each id after 400 ms: later than ack_timeout, so it is re-sent
    client = AsyncClient(server.url, transports=("websocket",), ack_timeout=0.15, retries=3)
    await asyncio.wait_for(client.connect(), 10)
    try:
        calls: list[tuple[Any, ...]] = []
        done = asyncio.Event()

        def on_ack(*args: Any) -> None:
            calls.append(args)
            done.set()

        client.emit("late", "m1", callback=on_ack)
        second = asyncio.ensure_future(client.emit_with_ack("late", "m2"))
        await asyncio.wait_for(done.wait(), 5)
        assert calls == [("ok", 2)]  # answered by the second delivery
        assert await asyncio.wait_for(second, 5) == ("ok", 2)  # sent after m1 was acknowledged: in order
        stats = await client.emit_with_ack("stats")
        assert stats == {"m1": 2, "m2": 2, "stats": 1} or stats == {"m1": 2, "m2": 2}
        await asyncio.sleep(0.5)  # the late first acks arrive now and must be ignored
        assert calls == [("ok", 2)]
    finally:
        await client.close()


async def test_connection_state_recovery(node_server: StartNodeServer) -> None:
    server = await node_server("--recovery")
    options = {"reconnection_delay": 0.5, "reconnection_delay_max": 0.5, "randomization_factor": 0.0}
    client = AsyncClient(server.url, transports=("websocket",), **options)  # type: ignore[arg-type]
    other = AsyncClient(server.url, transports=("websocket",))
    rec = Recorder()
    rec.watch(client, "news", "disconnect", "connect")
    await asyncio.wait_for(client.connect(), 10)
    await asyncio.wait_for(other.connect(), 10)
    try:
        assert not client.recovered
        assert "r" in await client.emit_with_ack("join", "r", timeout=5)
        assert await other.emit_with_ack("to_room", "r", "live", b"\x01", timeout=5) == "sent"
        assert (await rec.wait_for("news"))[0] == ("live", b"\x01")  # the offset is not an argument
        first_id = client.id
        client.emit("drop_me")
        await rec.wait_for("disconnect")
        assert await other.emit_with_ack("to_room", "r", "missed", timeout=5) == "sent"
        await rec.wait_for("connect", 2)
        assert client.recovered and client.id == first_id
        assert (await rec.wait_for("news", 2))[1] == ("missed",)
        assert "r" in await client.emit_with_ack("rooms", timeout=5)
    finally:
        await client.close()
        await other.close()
