"""The single-process server API of socket.io 4: dynamic namespaces, middlewares, broadcast acks,
flags, catch-all listeners, socket management and adapter events."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from rawclient import RawClient

import socketeer
from socketeer.exceptions import AckTimeout, ConnectionRefused, LocalProtocolError


@pytest.fixture
async def server() -> AsyncIterator[tuple[socketeer.Server, int]]:
    io = socketeer.Server()
    srv = await io.serve("127.0.0.1", 0)
    yield io, srv.port
    await io.close()


async def test_dynamic_namespaces_by_regex_and_predicate(server: tuple[socketeer.Server, int]) -> None:
    io, port = server
    teams = io.of(re.compile(r"^/team-\d+$"))
    seen: list[str] = []
    teams.use(lambda socket: seen.append("mw " + socket.namespace.name))

    @teams.on("connection")
    def on_team(socket: socketeer.Socket) -> None:
        seen.append("conn " + socket.namespace.name)

    @teams.on("hello")
    def hello(socket: socketeer.Socket, who: str) -> str:
        return f"{socket.namespace.name} says hi to {who}"

    async def allow_vip(name: str, auth: dict[str, Any]) -> bool:
        return name.startswith("/vip-") and auth.get("token") == "ok"

    io.of(allow_vip)
    client = await RawClient.connect(port)
    assert (await client.join("/team-7")).startswith('40/team-7,{"sid":')
    assert seen == ["mw /team-7", "conn /team-7"]
    await client.send('42/team-7,1["hello","bob"]')
    assert await client.recv() == '43/team-7,1["/team-7 says hi to bob"]'
    assert await client.join("/team-x") == '44/team-x,{"message":"Invalid namespace"}'
    assert await client.join("/vip-1", {"token": "no"}) == '44/vip-1,{"message":"Invalid namespace"}'
    assert (await client.join("/vip-1", {"token": "ok"})).startswith('40/vip-1,{"sid":')
    teams.emit("news", 1)  # emitting on the parent reaches every child
    assert await client.recv() == '42/team-7,["news",1]'
    await client.close()


async def test_empty_children_are_cleaned_up_when_asked() -> None:
    io = socketeer.Server(cleanup_empty_child_namespaces=True)
    srv = await io.serve("127.0.0.1", 0)
    io.of(re.compile(r"^/room-\d+$"))
    client = await RawClient.connect(srv.port)
    await client.join("/room-1")
    assert "/room-1" in io.namespaces
    await client.send("41/room-1,")
    for _ in range(100):
        if "/room-1" not in io.namespaces:
            break
        await asyncio.sleep(0.01)
    assert "/room-1" not in io.namespaces
    await client.close()
    await io.close()


async def test_connection_middleware_refusal_and_socket_middleware(
    server: tuple[socketeer.Server, int],
) -> None:
    io, port = server
    order: list[str] = []

    async def first(socket: socketeer.Socket) -> None:
        order.append("first")
        if socket.handshake.auth.get("token") != "secret":
            raise ConnectionRefused("not authorized", {"code": 42})

    io.use(first)
    io.use(lambda socket: order.append("second"))

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        @socket.use
        def no_forbidden(event: str, args: list[Any]) -> None:
            if event == "forbidden":
                raise PermissionError("forbidden event")

    ws_client = RawClient(
        await websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
    )
    await ws_client.recv()
    assert (
        await ws_client.join("/", {"token": "wrong"}) == '44{"message":"not authorized","data":{"code":42}}'
    )
    assert order == ["first"]
    assert (await ws_client.join("/", {"token": "secret"})).startswith('40{"sid":')
    assert order == ["first", "first", "second"]
    await ws_client.send('421["forbidden"]')
    assert await ws_client.recv() == '431[{"message":"forbidden event"}]'
    await ws_client.close()


async def test_broadcast_with_acks_collects_every_answer_or_times_out(
    server: tuple[socketeer.Server, int],
) -> None:
    io, port = server
    clients = [await RawClient.connect(port) for _ in range(3)]

    async def answer(client: RawClient, value: Any) -> None:
        message = await client.recv()
        ack_id = re.match(r"^42(\d+)\[", message)
        assert ack_id, message
        if value is not None:
            await client.send(f"43{ack_id.group(1)}[{json.dumps(value)}]")

    results = asyncio.gather(*(answer(c, i) for i, c in enumerate(clients)))
    responses = await io.timeout(2).emit_with_ack("question", "q")
    await results
    assert sorted(responses) == [0, 1, 2]

    results = asyncio.gather(answer(clients[0], "a"), answer(clients[1], None), answer(clients[2], None))
    with pytest.raises(AckTimeout) as info:
        await io.timeout(0.3).emit_with_ack("question", "q")
    await results
    assert info.value.responses == ["a"]
    for client in clients:
        await client.close()


async def test_flags_catch_all_and_reserved_names(server: tuple[socketeer.Server, int]) -> None:
    io, port = server
    incoming: list[tuple[Any, ...]] = []
    outgoing: list[tuple[Any, ...]] = []

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.on_any(lambda event, *args: incoming.append((event, *args)))
        socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))

    client = await RawClient.connect(port)
    await client.send('42["anything",1,2]')
    io.local.compress(False).emit("to-all", 3)
    assert await client.recv() == '42["to-all",3]'
    assert incoming == [("anything", 1, 2)]
    assert outgoing == [("to-all", 3)]
    with pytest.raises(LocalProtocolError):
        io.emit("connect")
    with pytest.raises(LocalProtocolError):
        next(iter(io.sockets.sockets.values())).emit("disconnecting")
    io.volatile.emit("v", 1)  # nothing queued ahead of it: delivered
    assert await client.recv() == '42["v",1]'
    await client.close()


async def test_socket_management_through_the_adapter(server: tuple[socketeer.Server, int]) -> None:
    io, port = server
    room_events: list[tuple[str, str]] = []
    io.sockets.adapter.on_room_event(lambda event, room, sid: room_events.append((event, room)))

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.data["n"] = len(io.sockets.sockets)

    a = await RawClient.connect(port)
    b = await RawClient.connect(port)
    await io.sockets_join("everyone")
    await io.in_("everyone").sockets_join("blue")
    sockets = await io.in_("blue").fetch_sockets()
    assert len(sockets) == 2
    assert all({"everyone", "blue", s.id} == s.rooms for s in sockets)
    assert sorted(s.data["n"] for s in sockets) == [1, 2]
    first = sorted(sockets, key=lambda s: s.data["n"])[0]
    first.emit("direct", "hi")
    assert await a.recv() == '42["direct","hi"]'
    await first.leave("blue")
    assert len(await io.in_("blue").fetch_sockets()) == 1
    io.to("blue").emit("only-b", 1)
    assert await b.recv() == '42["only-b",1]'
    await io.in_("everyone").sockets_leave("everyone")
    assert await io.in_("everyone").fetch_sockets() == []
    assert ("create-room", "blue") in room_events and ("delete-room", "everyone") in room_events
    await io.in_(first.id).disconnect_sockets()
    assert await a.recv() == "41"
    assert len(io.sockets.sockets) == 1
    await b.close()
    await a.close()


async def test_connect_timeout_closes_idle_engine_connections() -> None:
    io = socketeer.Server(connect_timeout=0.2)
    srv = await io.serve("127.0.0.1", 0)
    ws = await websockets.connect(f"ws://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=websocket")
    await ws.recv()
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 3)
    assert not io.engine.connections
    await io.close()


async def test_handler_errors_are_logged_and_the_connection_goes_on(
    server: tuple[socketeer.Server, int], caplog: pytest.LogCaptureFixture
) -> None:
    io, port = server

    @io.on("boom")
    def boom(socket: socketeer.Socket) -> None:
        raise ValueError("kaput")

    @io.on("ping-me")
    async def ping_me(socket: socketeer.Socket, value: int) -> int:
        await asyncio.sleep(0)
        return value + 1

    client = await RawClient.connect(port)
    await client.send('42["boom"]')
    await client.send('427["ping-me",1]')
    assert await client.recv() == "437[2]"
    assert any(
        "boom" in r.getMessage() and "kaput" in (r.exc_text or str(r.exc_info)) for r in caplog.records
    )
    await client.close()


async def test_server_side_emit_without_other_servers(server: tuple[socketeer.Server, int]) -> None:
    io, _ = server
    await io.server_side_emit("hello", 1)
    assert await io.server_side_emit_with_ack("question", timeout=0.1) == []


async def test_incoming_event_rate_limit() -> None:
    io = socketeer.Server(limits=socketeer.Limits(max_events_per_second=5, max_events_burst=3))
    srv = await io.serve("127.0.0.1", 0)
    reasons: list[str] = []
    seen: list[int] = []

    @io.on("tick")
    def tick(socket: socketeer.Socket, n: int) -> None:
        seen.append(n)

    @io.on("disconnect")
    def gone(socket: socketeer.Socket, reason: str) -> None:
        reasons.append(reason)

    client = await RawClient.connect(srv.port)
    other = await RawClient.connect(srv.port)
    for n in range(4):
        await client.send(f'42["tick",{n}]')
    assert await client.recv() == '44{"message":"rate limit exceeded"}'
    assert seen == [0, 1, 2]
    assert reasons == ["server namespace disconnect"]
    await other.send('42["tick",99]')  # others are not affected
    for _ in range(100):
        if 99 in seen:
            break
        await asyncio.sleep(0.01)
    assert seen[-1] == 99
    await client.close()
    await other.close()
    await io.close()


def test_token_bucket_refills_at_its_rate() -> None:
    from socketeer.server.socket import TokenBucket

    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert not bucket.take(0.4)
    assert bucket.take(0.6)
    assert bucket.take(10.0) and bucket.take(10.0) and not bucket.take(10.0)


async def test_once_and_off(server: tuple[socketeer.Server, int]) -> None:
    io, port = server
    got: list[tuple[str, int]] = []

    def first(n: int) -> None:
        got.append(("once", n))

    def always(n: int) -> None:
        got.append(("on", n))

    def removed(n: int) -> None:
        got.append(("removed", n))

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.once("n", first)
        socket.on("n", always)
        socket.once("n", removed)
        socket.off("n", removed)  # off() also takes back a once() listener

    client = await RawClient.connect(port)
    await client.send('42["n",1]')
    await client.send('42["n",2]')
    await client.send('421["n",3]')  # a marker: its (empty) ack comes after both events ran
    assert await client.recv() == "431[]"
    assert got == [("once", 1), ("on", 1), ("on", 2), ("on", 3)]
    await client.close()
