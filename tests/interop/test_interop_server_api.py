"""The single-process server API of socket.io 4 as the official ``socket.io-client`` sees it: dynamic
namespaces, per-packet middlewares, broadcast acknowledgements, flags, catch-all listeners, socket
management, adapter room events and the connect timeout.

Every client-visible outcome (disconnect reasons, connect errors, who gets what) is what the official
socket.io@4 server produces for the same calls.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import websockets
from interop_app import InteropApp
from interop_node import NodeClients, from_wire

from socketeer import ConnectionRefused, Socket
from socketeer.exceptions import AckTimeout

TEAM = re.compile(r"^/team-\d+$")


async def _connect(app: InteropApp, node: NodeClients, name: str, mode: str, **kwargs: Any) -> str:
    """Connect Node client ``name`` and wait until the server has its connection; its socket id."""
    result = await node.connect(name, mode, **kwargs)
    assert result["connected"], result
    await app.connection(result["id"], nsp=kwargs.get("nsp", "/"))
    return str(result["id"])


async def _marker(app: InteropApp, node: NodeClients, *names: str, nsp: str = "/") -> None:
    """A marker to every client of ``nsp``, awaited by each of ``names``: what was sent before arrived."""
    app.io.of(nsp).emit("marker")
    for name in names:
        await node.event(name, "marker")


# -- 1. dynamic namespaces ----------------------------------------------------------------------


async def test_dynamic_namespace_by_regex(start_app, start_node, mode):
    app, url = await start_app(cleanup_empty_child_namespaces=True)
    teams = app.io.of(TEAM)
    app._install(teams)  # the parent's handlers: every child has them

    @teams.use
    def gate(socket: Socket) -> None:
        if socket.handshake.auth.get("refuse"):
            raise ConnectionRefused("nope", {"why": 1})

    node = await start_node(url)
    a = await _connect(app, node, "a", mode, nsp="/team-7")
    await _connect(app, node, "b", mode, nsp="/team-8")
    child7 = app.io.namespaces["/team-7"]
    assert app.sockets[a].namespace is child7
    assert (await node.event("a", "welcome"))["args"] == [a, {}]
    assert await node.emit_with_ack("a", "echo", "hi") == ["hi"]
    assert await app.event("echo", a) == ["hi"]

    # the parent's middleware refuses, with the error's message and data
    refused = await node.connect("refused", mode, nsp="/team-9", auth={"refuse": True})
    assert (refused["connected"], refused["message"], refused["data"]) == (False, "nope", {"why": 1})
    # a name that matches no parent
    lost = await node.connect("lost", mode, nsp="/team-x")
    assert (lost["connected"], lost["message"]) == (False, "Invalid namespace")

    # emitting on the parent reaches the clients of every child; a child's emit only its own
    teams.emit("news", {"for": "all teams"})
    assert (await node.event("a", "news"))["args"] == [{"for": "all teams"}]
    assert (await node.event("b", "news"))["args"] == [{"for": "all teams"}]
    app.io.of("/team-7").emit("seven", 7)
    assert (await node.event("a", "seven"))["args"] == [7]
    await _marker(app, node, "b", nsp="/team-8")
    assert node.events("b", "seven") == []

    # the last client of a child leaves: the child is removed (the server's disconnect handler runs
    # after the removal), and the next client gets a new one
    await node.disconnect("a")
    assert await app.disconnect_reason(a) == "client namespace disconnect"
    assert "/team-7" not in app.io.namespaces
    assert "/team-8" in app.io.namespaces
    again = await _connect(app, node, "again", mode, nsp="/team-7")
    assert app.sockets[again].namespace is not child7
    assert app.io.namespaces["/team-7"] is app.sockets[again].namespace
    assert await node.emit_with_ack("again", "sum", 3, 4) == [7]


async def test_dynamic_namespace_by_async_predicate(start_app, start_node, mode):
    app, url = await start_app()
    asked: list[tuple[str, dict[str, Any]]] = []

    async def vip_only(name: str, auth: dict[str, Any]) -> bool:
        asked.append((name, auth))
        await asyncio.sleep(0)  # really asynchronous
        return name.startswith("/vip-") and auth.get("token") == "ok"

    vips = app.io.of(vip_only)
    app._install(vips)
    node = await start_node(url)

    denied = await node.connect("denied", mode, nsp="/vip-1", auth={"token": "no"})
    assert (denied["connected"], denied["message"]) == (False, "Invalid namespace")
    vip = await _connect(app, node, "vip", mode, nsp="/vip-1", auth={"token": "ok"})
    assert asked == [("/vip-1", {"token": "no"}), ("/vip-1", {"token": "ok"})]
    assert await node.emit_with_ack("vip", "sum", 1, 2) == [3]
    vips.emit("vip-news", "x")
    assert (await node.event("vip", "vip-news"))["args"] == ["x"]
    assert app.sockets[vip].namespace.name == "/vip-1"
    # static namespaces are looked up first: "/" and "/chat" never ask the predicate
    await _connect(app, node, "main", mode)
    await _connect(app, node, "chat", mode, nsp="/chat")
    assert len(asked) == 2


# -- 2. per-packet middleware -------------------------------------------------------------------


async def test_socket_middleware_refuses_packets(start_app, start_node, mode):
    app, url = await start_app()
    ran: list[tuple[str, tuple[Any, ...]]] = []

    @app.io.on("connection")
    def guard(socket: Socket, auth: Any) -> None:
        @socket.use
        async def no_forbidden(event: str, args: list[Any]) -> None:
            await asyncio.sleep(0)
            if event == "forbidden":
                raise PermissionError("forbidden event")
            if event == "stamp":
                args.append("stamped")  # a middleware may change the arguments

    @app.io.on("forbidden")
    def forbidden(socket: Socket, *args: Any) -> str:
        ran.append(("forbidden", args))
        return "should not run"

    @app.io.on("stamp")
    def stamp(socket: Socket, *args: Any) -> list[Any]:
        return list(args)

    node = await start_node(url)
    a = await _connect(app, node, "a", mode)

    # with an acknowledgement: the client learns why
    assert await node.emit_with_ack("a", "forbidden", 1) == [{"message": "forbidden event"}]
    # without: the packet is dropped
    await node.emit("a", "forbidden", 2)
    # other events go through, after the middleware
    assert await node.emit_with_ack("a", "stamp", "x") == [["x", "stamped"]]
    assert await node.emit_with_ack("a", "echo", "still", style="callback") == ["still"]
    assert await app.event("stamp", a) == ["x", "stamped"]
    assert await app.event("echo", a) == ["still"]
    assert ran == []
    assert [s.data[0] for s in app.seen if s.kind == "event"] == ["stamp", "echo"]
    await _marker(app, node, "a")
    assert node.events("a", "error") == []  # as the official server: nothing is sent for a dropped packet


# -- 3. broadcast with acknowledgements ---------------------------------------------------------


async def test_broadcast_acks(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    ids = {}
    for name in ("a", "b", "c"):
        acks = {"q": {"reply": [name, {"n": ord(name)}]}}
        if name != "c":
            acks["q2"] = {"echo": True}
        ids[name] = await _connect(app, node, name, mode, acks=acks)

    answers = await app.io.timeout(2).emit_with_ack("q", {"data": [1, 2]})
    assert sorted(answers) == [("a", {"n": 97}), ("b", {"n": 98}), ("c", {"n": 99})]
    for name in ("a", "b", "c"):
        received = await node.event(name, "q")
        assert (received["args"], received["ack"]) == ([{"data": [1, 2]}], True)

    # c never answers q2: the timeout carries the two answers that came
    with pytest.raises(AckTimeout) as info:
        await app.io.timeout(0.5).emit_with_ack("q2", "echo me")
    assert info.value.responses == ["echo me", "echo me"]

    # to a room
    for name in ("b", "c"):
        assert await node.emit_with_ack(name, "join", "r") == [True]
    assert sorted(await app.io.to("r").timeout(2).emit_with_ack("q", 0)) == [
        ("b", {"n": 98}),
        ("c", {"n": 99}),
    ]
    # to an empty room: no answer to wait for
    assert await app.io.to("nobody").timeout(2).emit_with_ack("q", 0) == []
    # from a socket, to the others
    socket_a = app.sockets[ids["a"]]
    assert sorted(await socket_a.broadcast.timeout(2).emit_with_ack("q", 0)) == [
        ("b", {"n": 98}),
        ("c", {"n": 99}),
    ]

    # to another namespace
    await _connect(app, node, "d", mode, nsp="/chat", acks={"q": {"reply": ["d in chat"]}})
    assert await app.io.of("/chat").timeout(2).emit_with_ack("q", 1) == ["d in chat"]
    assert sorted(await app.io.timeout(2).emit_with_ack("q", 2)) == [
        ("a", {"n": 97}),
        ("b", {"n": 98}),
        ("c", {"n": 99}),
    ]


# -- 4. flags -----------------------------------------------------------------------------------


async def test_volatile_local_and_compress_flags(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    a = await _connect(app, node, "a", mode)
    await _connect(app, node, "b", mode)
    assert await node.emit_with_ack("a", "join", "r") == [True]

    app.io.local.emit("local", 2)
    app.io.compress(False).emit("uncompressed", b"\x00" * 100)
    app.io.to("r").local.compress(False).emit("room-flags", 3)
    for name in ("a", "b"):
        assert (await node.event(name, "local"))["args"] == [2]
        assert (await node.event(name, "uncompressed"))["args"] == [b"\x00" * 100]
    assert (await node.event("a", "room-flags"))["args"] == [3]

    # A volatile message may be dropped when the transport cannot take it at once (as in the official
    # server: a WebSocket still sending, or no poll request waiting). So each try is sent when client a
    # pokes the server (its poll request is waiting by then), and a plain marker follows it: the
    # marker's arrival tells whether the volatile message was delivered or dropped.
    sender: list[Any] = []

    @app.io.on("poke")
    def poke(socket: Socket, attempt: int) -> None:
        sender[0](attempt)
        app.io.emit("after", attempt)

    async def delivered(send, names: tuple[str, ...], event: str) -> None:
        sender[:] = [send]
        missing = set(names)
        for attempt in range(20):
            await node.emit("a", "poke", attempt)
            for name in names:
                await node.event(name, "after")
                if [attempt] in node.events(name, event):
                    missing.discard(name)
            if not missing:
                return
        raise AssertionError(f"{event} never reached {missing}")

    await delivered(lambda n: app.io.volatile.emit("volatile", n), ("a", "b"), "volatile")
    await delivered(
        lambda n: app.io.to("r").volatile.compress(False).emit("room-volatile", n), ("a",), "room-volatile"
    )
    await delivered(lambda n: app.sockets[a].volatile.emit("socket-volatile", n), ("a",), "socket-volatile")
    await _marker(app, node, "a", "b")
    for event in ("room-flags", "room-volatile", "socket-volatile"):
        assert node.events("b", event) == []


# -- 5. catch-all listeners ---------------------------------------------------------------------


async def test_catch_all_listeners_both_sides(start_app, start_node, mode):
    app, url = await start_app()
    incoming: list[tuple[Any, ...]] = []
    outgoing: list[tuple[Any, ...]] = []

    @app.io.on("connection")
    def listen(socket: Socket, auth: Any) -> None:
        if socket.handshake.auth.get("watch"):
            socket.on_any(lambda event, *args: incoming.append((event, *args)))
            socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))

    node = await start_node(url)
    a = await _connect(app, node, "a", mode, auth={"watch": True}, acks={"ask": {"reply": ["told"]}})
    await _connect(app, node, "b", mode)
    await node.call("anyOutgoing", client="a")
    assert (await node.event("a", "welcome"))["args"] == [a, {"watch": True}]
    assert outgoing == []  # the welcome left before this handler (registered after the app's) ran

    # client -> server: every event, whatever its handler, acknowledgement or attachments
    await node.emit("a", "unhandled", 1, {"two": 2})
    assert await node.emit_with_ack("a", "sum", 1, 2) == [3]
    await node.emit("a", "blob", b"\x01\x02")
    await node.emit("a", "bare")  # no arguments: the listener gets the event name alone
    assert await node.emit_with_ack("a", "echo", "e") == ["e"]
    assert (await node.event("a", "echoed"))["args"] == ["e"]
    assert incoming == [
        ("unhandled", 1, {"two": 2}),
        ("sum", 1, 2),
        ("blob", b"\x01\x02"),
        ("bare",),
        ("echo", "e"),
    ]
    for name, args in [
        ("unhandled", [1, {"two": 2}]),
        ("sum", [1, 2]),
        ("blob", [b"\x01\x02"]),
        ("bare", []),
        ("echo", ["e"]),
    ]:
        seen = await node.expect(ev="outgoing", client="a", name=name)
        assert from_wire(seen["args"]) == args

    # server -> client: direct emits, broadcasts (to all, to a room, from another socket), with acks
    socket_a = app.sockets[a]
    socket_a.emit("direct", 1)
    app.io.emit("to-all", 2)
    app.io.to(a).emit("to-room", 3)
    assert await socket_a.emit_with_ack("ask", "q", timeout=5) == "told"
    assert await app.io.to(a).timeout(5).emit_with_ack("ask", "broadcast q") == ["told"]
    await node.emit("b", "broadcast", "from b")  # socket b's broadcast reaches a
    for name in ("direct", "to-all", "to-room", "ask", "ask", "broadcast"):
        await node.event("a", name)
    assert outgoing == [
        ("echoed", "e"),
        ("direct", 1),
        ("to-all", 2),
        ("to-room", 3),
        ("ask", "q"),
        ("ask", "broadcast q"),
        ("broadcast", "from b"),
    ]
    # acks are not events: neither side lists them
    assert not any(event == "told" for event, *_ in incoming)
    assert [m["name"] for m in node.observed if m.get("ev") == "outgoing"] == [
        "unhandled",
        "sum",
        "blob",
        "bare",
        "echo",
    ]


# -- 6. socket management -----------------------------------------------------------------------


async def test_fetch_sockets_and_remote_operations(start_app, start_node, mode):
    app, url = await start_app()

    @app.io.on("connection")
    def tag(socket: Socket, auth: Any) -> None:
        socket.data["name"] = auth.get("name")

    node = await start_node(url)
    ids = {name: await _connect(app, node, name, mode, auth={"name": name}) for name in ("a", "b", "c")}

    remotes = await app.io.fetch_sockets()
    by_name = {r.data["name"]: r for r in remotes}
    assert sorted(by_name) == ["a", "b", "c"]
    for name, remote in by_name.items():
        assert remote.id == ids[name]
        assert remote.rooms == {ids[name]}
        assert remote.handshake.auth == {"name": name}
        assert remote.handshake.query["EIO"] == "4"

    # a proxy emits to its own client only
    by_name["b"].emit("direct", "to b")
    assert (await node.event("b", "direct"))["args"] == ["to b"]
    # joining and leaving through a proxy
    await by_name["c"].join("x")
    assert app.sockets[ids["c"]].rooms == {ids["c"], "x"}
    app.io.to("x").emit("in-x", 1)
    assert (await node.event("c", "in-x"))["args"] == [1]
    await by_name["c"].leave("x")
    assert app.sockets[ids["c"]].rooms == {ids["c"]}
    app.io.to("x").emit("in-x", 2)
    await _marker(app, node, "a", "b", "c")
    assert node.events("a", "direct") == [] and node.events("c", "direct") == []
    assert node.events("c", "in-x") == [[1]]

    # the sockets of a room join and leave other rooms together
    for name in ("a", "b"):
        assert await node.emit_with_ack(name, "join", "r") == [True]
    await app.io.in_("r").sockets_join("s")
    assert sorted(r.id for r in await app.io.in_("s").fetch_sockets()) == sorted([ids["a"], ids["b"]])
    assert app.sockets[ids["a"]].rooms == {ids["a"], "r", "s"}
    await app.io.in_("s").sockets_leave("r")
    assert await app.io.in_("r").fetch_sockets() == []
    assert [r.id for r in await app.io.in_(ids["c"]).fetch_sockets()] == [ids["c"]]
    # except_ and several rooms
    assert [r.id for r in await app.io.in_("s").except_(ids["a"]).fetch_sockets()] == [ids["b"]]


async def test_disconnect_sockets_reasons(start_app, start_node, mode):
    app, url = await start_app()
    node = await start_node(url)
    a = await _connect(app, node, "a", mode)
    b = await _connect(app, node, "b", mode)
    c = await _connect(app, node, "c", mode, manager="shared")
    c_chat = await _connect(app, node, "c-chat", mode, nsp="/chat", manager="shared")
    for name in ("a", "b"):
        assert await node.emit_with_ack(name, "join", "r") == [True]

    # leaving the namespace: the connection stays
    await app.io.in_("r").disconnect_sockets()
    for name, sid in (("a", a), ("b", b)):
        assert await node.disconnected(name) == "io server disconnect"
        assert await app.disconnect_reason(sid) == "server namespace disconnect"
    assert sorted(app.io.sockets.sockets) == [c]
    assert await node.emit_with_ack("c", "sum", 1, 1) == [2]
    # (a's and b's clients close their connections themselves: no namespace is left on them)
    await node.expect(ev="engine_close", manager="a")
    await node.expect(ev="engine_close", manager="b")
    assert not [m for m in node.observed if m.get("ev") == "engine_close" and m["manager"] == "shared"]

    # close=True: every namespace of the connection, then the connection itself (the official server
    # sends each namespace's DISCONNECT before closing, so the client sees "io server disconnect")
    await app.io.in_(c).disconnect_sockets(close=True)
    assert await node.disconnected("c") == "io server disconnect"
    assert await node.disconnected("c-chat") == "io server disconnect"
    assert await app.disconnect_reason(c) == "server namespace disconnect"
    assert await app.disconnect_reason(c_chat) == "server namespace disconnect"
    await node.expect(ev="engine_close", manager="shared")
    assert app.io.sockets.sockets == {} and app.io.of("/chat").sockets == {}


# -- 7. adapter room events ---------------------------------------------------------------------


async def test_adapter_room_events(start_app, start_node, mode):
    app, url = await start_app()
    events: list[tuple[str, str, str | None]] = []
    app.io.sockets.adapter.on_room_event(lambda event, room, sid: events.append((event, room, sid)))
    node = await start_node(url)

    a = await _connect(app, node, "a", mode)
    assert events == [("create-room", a, None), ("join-room", a, a)]
    b = await _connect(app, node, "b", mode)
    events.clear()

    assert await node.emit_with_ack("a", "join", "r") == [True]
    assert await node.emit_with_ack("b", "join", "r") == [True]
    assert events == [("create-room", "r", None), ("join-room", "r", a), ("join-room", "r", b)]
    events.clear()

    app.sockets[a].leave("r")
    assert events == [("leave-room", "r", a)]
    events.clear()

    await node.disconnect("b")
    await app.disconnect_reason(b)
    assert sorted(events) == sorted(
        [("leave-room", "r", b), ("delete-room", "r", None), ("leave-room", b, b), ("delete-room", b, None)]
    )
    assert events.index(("leave-room", "r", b)) < events.index(("delete-room", "r", None))
    assert events.index(("leave-room", b, b)) < events.index(("delete-room", b, None))
    assert "r" not in app.io.sockets.adapter.rooms()


# -- 8. connect timeout -------------------------------------------------------------------------


async def test_connect_timeout_closes_connections_without_a_namespace(start_app, start_node):
    app, url = await start_app(connect_timeout=0.3)
    node = await start_node(url)
    a = await _connect(app, node, "a", "websocket")  # a client that joins in time is not affected

    loop = asyncio.get_running_loop()
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(ws_url) as ws:
        opened_at = loop.time()
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
        with pytest.raises(websockets.ConnectionClosed):
            while True:  # pings may come first; the close comes after the connect timeout
                message = await asyncio.wait_for(ws.recv(), 5)
                assert message == "2", message
        elapsed = loop.time() - opened_at
    assert 0.25 <= elapsed < 3, elapsed
    assert len(app.io.engine.connections) == 1

    # the client that connected in time is still there, past the timeout
    assert await node.emit_with_ack("a", "sum", 2, 2) == [4]
    assert app.sockets[a].connected
    assert not [m for m in node.observed if m.get("ev") == "disconnect"]
