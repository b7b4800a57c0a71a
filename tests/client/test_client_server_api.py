"""socketeer's client against the single-process server API of socketeer's own server, in process:
dynamic namespaces, per-packet middlewares, broadcast acknowledgements, flags, catch-all listeners,
socket management and adapter room events (the same features as tests/interop/test_interop_server_api.py,
seen from the Python client)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from socketeer import ConnectionRefused, DisconnectReason, Server, Socket
from socketeer.client import AsyncClient
from socketeer.client.client import NamespaceSocket
from socketeer.exceptions import AckTimeout

ServeSocketeer = Callable[[Server], Awaitable[str]]
TIMEOUT = 5.0


class Inbox:
    """Every event a client socket receives (through ``on_any``), and its disconnect reasons."""

    def __init__(self, sock: NamespaceSocket) -> None:
        self.sock = sock
        self.items: list[tuple[str, tuple[Any, ...]]] = []
        self.reasons: list[str] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        sock.on_any(self._add)
        sock.on("disconnect", self._disconnected)

    def _add(self, event: str, *args: Any) -> None:
        self.items.append((event, args))
        self._poke()

    def _disconnected(self, reason: Any) -> None:
        self.reasons.append(str(reason))
        self._poke()

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, check: Callable[[], Any], label: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while True:
            found = check()
            if found is not None:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.sock.namespace} never got {label}; it got {self.items[-20:]}")
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def next(self, event: str) -> tuple[Any, ...]:
        """The arguments of the next not yet awaited ``event``."""

        def check() -> tuple[Any, ...] | None:
            for index, (name, args) in enumerate(self.items):
                if index not in self._consumed and name == event:
                    self._consumed.add(index)
                    return args
            return None

        return await self._until(check, event)  # type: ignore[no-any-return]

    async def disconnected(self) -> str:
        return await self._until(lambda: self.reasons[0] if self.reasons else None, "a disconnect")  # type: ignore[no-any-return]

    def all(self, event: str) -> list[tuple[Any, ...]]:
        return [args for name, args in self.items if name == event]


Connect = Callable[..., Awaitable[tuple[AsyncClient, Inbox]]]


@pytest.fixture
async def connect(transports: tuple[str, ...]) -> AsyncIterator[Callable[[str], Connect]]:
    """``client, inbox = await connect(url)(namespace=..., auth=...)``; clients closed after the test."""
    clients: list[AsyncClient] = []

    def for_url(url: str) -> Connect:
        async def start(*, namespace: str = "/", auth: dict[str, Any] | None = None, **handlers: Any):
            client = AsyncClient(
                url, namespace=namespace, auth=auth, transports=transports, reconnection=False
            )
            clients.append(client)
            inbox = Inbox(client)
            for event, handler in handlers.items():
                client.on(event, handler)
            await asyncio.wait_for(client.connect(), TIMEOUT)
            return client, inbox

        return start

    yield for_url
    for client in clients:
        await client.close()


class ServerLog:
    """What the server saw: connections and disconnect reasons, awaitable by socket id."""

    def __init__(self, *namespaces: Any) -> None:
        self.sockets: dict[str, Socket] = {}
        self.reasons: dict[str, asyncio.Future[str]] = {}
        for nsp in namespaces:
            nsp.on("connection", self._connected)
            nsp.on("disconnect", self._gone)

    def _future(self, sid: str) -> asyncio.Future[str]:
        return self.reasons.setdefault(sid, asyncio.get_running_loop().create_future())

    def _connected(self, socket: Socket) -> None:
        self.sockets[socket.id] = socket
        self._future(socket.id)

    def _gone(self, socket: Socket, reason: str) -> None:
        self._future(socket.id).set_result(reason)

    async def reason(self, sid: str) -> str:
        return await asyncio.wait_for(self._future(sid), TIMEOUT)


async def marker(io: Server, *inboxes: Inbox, nsp: str = "/") -> None:
    """A plain message to every client of ``nsp``, awaited by each inbox: what was sent before arrived."""
    io.of(nsp).emit("marker")
    for inbox in inboxes:
        await inbox.next("marker")


# -- dynamic namespaces -------------------------------------------------------------------------


async def test_dynamic_namespaces(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server(cleanup_empty_child_namespaces=True)
    teams = io.of(re.compile(r"^/team-\d+$"))
    log = ServerLog(teams)

    @teams.use
    def gate(socket: Socket) -> None:
        if socket.handshake.auth.get("refuse"):
            raise ConnectionRefused("nope", {"why": 1})

    @teams.on("hello")
    def hello(socket: Socket, who: str) -> str:
        return f"{socket.namespace.name} says hi to {who}"

    async def vip_only(name: str, auth: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return name.startswith("/vip-") and auth.get("token") == "ok"

    vips = io.of(vip_only)

    @vips.on("whoami")
    def whoami(socket: Socket) -> str:
        return socket.namespace.name

    start = connect(await serve_socketeer(io))
    seven, seven_inbox = await start(namespace="/team-7")
    eight, eight_inbox = await start(namespace="/team-8")
    assert await seven.emit_with_ack("hello", "bob", timeout=TIMEOUT) == "/team-7 says hi to bob"
    assert await eight.emit_with_ack("hello", "ann", timeout=TIMEOUT) == "/team-8 says hi to ann"

    with pytest.raises(ConnectionRefused) as refused:
        await start(namespace="/team-9", auth={"refuse": True})
    assert (refused.value.message, refused.value.data) == ("nope", {"why": 1})
    with pytest.raises(ConnectionRefused) as lost:
        await start(namespace="/team-x")
    assert lost.value.message == "Invalid namespace"

    # the predicate: asynchronous, and given the auth; on the same connection as /team-7
    with pytest.raises(ConnectionRefused) as denied:
        await asyncio.wait_for(seven.socket("/vip-1", auth={"token": "no"}).connect(), TIMEOUT)
    assert denied.value.message == "Invalid namespace"
    vip = seven.socket("/vip-2", auth={"token": "ok"})
    await asyncio.wait_for(vip.connect(), TIMEOUT)
    assert await vip.emit_with_ack("whoami", timeout=TIMEOUT) == "/vip-2"

    # the parent's emit reaches every child's clients, a child's only its own
    teams.emit("news", 1)
    assert await seven_inbox.next("news") == (1,)
    assert await eight_inbox.next("news") == (1,)
    io.of("/team-8").emit("eight", 8)
    assert await eight_inbox.next("eight") == (8,)
    await marker(io, seven_inbox, nsp="/team-7")
    assert seven_inbox.all("eight") == []

    # the last client of a child leaves: the child is gone (before the disconnect handlers run)
    sid = seven.id
    assert sid is not None
    child = io.namespaces["/team-7"]
    await seven.disconnect()
    assert await log.reason(sid) == "client namespace disconnect"
    assert "/team-7" not in io.namespaces and "/team-8" in io.namespaces
    again, _ = await start(namespace="/team-7")
    assert again.id is not None
    assert log.sockets[again.id].namespace is io.namespaces["/team-7"] is not child


# -- per-packet middleware ----------------------------------------------------------------------


async def test_socket_middleware(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server()
    ran: list[Any] = []
    seen: list[str] = []

    @io.on("connection")
    def guard(socket: Socket) -> None:
        socket.on_any(lambda event, *args: seen.append(event))

        @socket.use
        def no_forbidden(event: str, args: list[Any]) -> None:
            if event == "forbidden":
                raise PermissionError("forbidden event")

    @io.on("forbidden")
    def forbidden(socket: Socket, *args: Any) -> None:
        ran.append(args)

    @io.on("echo")
    def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    client, inbox = await connect(await serve_socketeer(io))()
    assert await client.emit_with_ack("forbidden", 1, timeout=TIMEOUT) == {"message": "forbidden event"}
    client.emit("forbidden", 2)
    assert await client.emit_with_ack("echo", "ok", b"\x01", timeout=TIMEOUT) == ("ok", b"\x01")
    assert ran == [] and seen == ["echo"]
    await marker(io, inbox)
    assert inbox.items == [("marker", ())]  # nothing was sent for the dropped packet


# -- broadcast acknowledgements -----------------------------------------------------------------


async def test_broadcast_acks(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server()
    chat_nsp = io.of("/chat")
    start = connect(await serve_socketeer(io))
    clients = {}
    for name in ("a", "b", "c"):
        handlers: dict[str, Any] = {"q": lambda data, name=name: (name, data)}
        if name != "c":
            handlers["q2"] = lambda data, name=name: name
        clients[name], _ = await start(auth={"name": name}, **handlers)
    sockets = {s.handshake.auth["name"]: s for s in io.sockets.sockets.values()}

    answers = await io.timeout(2).emit_with_ack("q", {"n": [1]})
    assert sorted(answers) == [("a", {"n": [1]}), ("b", {"n": [1]}), ("c", {"n": [1]})]
    with pytest.raises(AckTimeout) as info:
        await io.timeout(0.3).emit_with_ack("q2", 0)
    assert sorted(info.value.responses) == ["a", "b"]

    for name in ("a", "c"):
        sockets[name].join("r")
    assert sorted(await io.to("r").timeout(2).emit_with_ack("q", 1)) == [("a", 1), ("c", 1)]
    assert await io.to("r").except_(sockets["a"].id).timeout(2).emit_with_ack("q", 2) == [("c", 2)]
    assert await io.to("nobody").timeout(2).emit_with_ack("q", 3) == []
    assert sorted(await sockets["b"].broadcast.timeout(2).emit_with_ack("q", 4)) == [("a", 4), ("c", 4)]

    chat = clients["b"].socket("/chat")
    chat.on("q", lambda data: ("chat", data))
    await asyncio.wait_for(chat.connect(), TIMEOUT)
    assert await chat_nsp.timeout(2).emit_with_ack("q", 5) == [("chat", 5)]


# -- flags --------------------------------------------------------------------------------------


async def test_flags(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server()
    sender: list[Callable[[int], None]] = []

    @io.on("poke")
    def poke(socket: Socket, attempt: int) -> None:
        sender[0](attempt)
        io.emit("after", attempt)

    start = connect(await serve_socketeer(io))
    a, a_inbox = await start()
    b, b_inbox = await start()
    assert a.id is not None
    socket_a = io.sockets.sockets[a.id]
    socket_a.join("r")

    io.local.emit("local", 1)
    io.compress(False).emit("uncompressed", b"\x00" * 64)
    io.to("r").local.compress(False).emit("room-flags", 2)
    for inbox in (a_inbox, b_inbox):
        assert await inbox.next("local") == (1,)
        assert await inbox.next("uncompressed") == (b"\x00" * 64,)
    assert await a_inbox.next("room-flags") == (2,)

    # volatile messages may be dropped when the transport cannot take them at once; each try leaves
    # when client a pokes the server, followed by a plain "after" that tells whether it came
    async def delivered(send: Callable[[int], None], inboxes: tuple[Inbox, ...], event: str) -> None:
        sender[:] = [send]
        missing = set(inboxes)
        for attempt in range(20):
            a.emit("poke", attempt)
            for inbox in inboxes:
                await inbox.next("after")
                if (attempt,) in inbox.all(event):
                    missing.discard(inbox)
            if not missing:
                return
        raise AssertionError(f"{event} never delivered")

    await delivered(lambda n: io.volatile.emit("volatile", n), (a_inbox, b_inbox), "volatile")
    await delivered(lambda n: io.to("r").volatile.emit("room-volatile", n), (a_inbox,), "room-volatile")
    await delivered(lambda n: socket_a.volatile.emit("socket-volatile", n), (a_inbox,), "socket-volatile")
    await marker(io, a_inbox, b_inbox)
    for event in ("room-flags", "room-volatile", "socket-volatile"):
        assert b_inbox.all(event) == []


# -- catch-all listeners ------------------------------------------------------------------------


async def test_catch_all(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server()
    incoming: list[tuple[Any, ...]] = []
    outgoing: list[tuple[Any, ...]] = []

    @io.on("connection")
    def listen(socket: Socket) -> None:
        if socket.handshake.auth.get("watch"):
            socket.on_any(lambda event, *args: incoming.append((event, *args)))
            socket.on_any_outgoing(lambda event, *args: outgoing.append((event, *args)))

    @io.on("sum")
    def sum_(socket: Socket, *numbers: int) -> int:
        return sum(numbers)

    @io.on("shout")
    def shout(socket: Socket, message: str) -> None:
        socket.broadcast.emit("shout", message)

    start = connect(await serve_socketeer(io))
    a, a_inbox = await start(auth={"watch": True}, ask=lambda q: "told " + q)
    b, _ = await start()
    assert a.id is not None
    socket_a = io.sockets.sockets[a.id]

    a.emit("unhandled", 1, {"two": 2})
    a.emit("blob", b"\x01\x02")
    a.emit("bare")  # no arguments: the listener gets the event name alone
    assert await a.emit_with_ack("sum", 1, 2, timeout=TIMEOUT) == 3
    assert incoming == [("unhandled", 1, {"two": 2}), ("blob", b"\x01\x02"), ("bare",), ("sum", 1, 2)]

    socket_a.emit("bare")
    socket_a.emit("direct", 1)
    io.emit("to-all", 2)
    io.to(a.id).emit("to-room", b"\x03")
    assert await socket_a.emit_with_ack("ask", "q1", timeout=TIMEOUT) == "told q1"
    assert await io.to(a.id).timeout(TIMEOUT).emit_with_ack("ask", "q2") == ["told q2"]
    b.emit("shout", "from b")
    assert await a_inbox.next("shout") == ("from b",)
    expected = [
        ("bare",),
        ("direct", 1),
        ("to-all", 2),
        ("to-room", b"\x03"),
        ("ask", "q1"),
        ("ask", "q2"),
        ("shout", "from b"),
    ]
    assert outgoing == expected
    # the client's catch-all saw the same events, in the same order
    assert [(event, *args) for event, args in a_inbox.items] == expected


# -- socket management --------------------------------------------------------------------------


async def test_socket_management(serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]) -> None:
    io = Server()
    log = ServerLog(io.sockets, io.of("/chat"))

    @io.on("connection")
    def tag(socket: Socket, auth: dict[str, Any]) -> None:
        socket.data["name"] = auth.get("name")

    start = connect(await serve_socketeer(io))
    clients: dict[str, AsyncClient] = {}
    inboxes: dict[str, Inbox] = {}
    for name in ("a", "b", "c"):
        clients[name], inboxes[name] = await start(auth={"name": name})
    ids = {name: str(client.id) for name, client in clients.items()}

    remotes = {r.data["name"]: r for r in await io.fetch_sockets()}
    assert sorted(remotes) == ["a", "b", "c"]
    for name, remote in remotes.items():
        assert (remote.id, remote.rooms, remote.handshake.auth) == (ids[name], {ids[name]}, {"name": name})

    remotes["b"].emit("direct", "to b")
    assert await inboxes["b"].next("direct") == ("to b",)
    await remotes["c"].join("x")
    assert log.sockets[ids["c"]].rooms == {ids["c"], "x"}
    io.to("x").emit("in-x", 1)
    assert await inboxes["c"].next("in-x") == (1,)
    await remotes["c"].leave("x")
    io.to("x").emit("in-x", 2)
    await marker(io, *inboxes.values())
    assert inboxes["a"].all("direct") == [] and inboxes["c"].all("direct") == []
    assert inboxes["c"].all("in-x") == [(1,)]

    for name in ("a", "b"):
        log.sockets[ids[name]].join("r")
    await io.in_("r").sockets_join("s")
    assert sorted(r.id for r in await io.in_("s").fetch_sockets()) == sorted([ids["a"], ids["b"]])
    await io.in_("s").sockets_leave("r")
    assert await io.in_("r").fetch_sockets() == []
    assert log.sockets[ids["a"]].rooms == {ids["a"], "s"}

    # out of the namespace: the client sees "io server disconnect" and does not come back
    await io.in_("s").disconnect_sockets()
    for name in ("a", "b"):
        assert await inboxes[name].disconnected() == DisconnectReason.IO_SERVER_DISCONNECT
        assert await log.reason(ids[name]) == "server namespace disconnect"
        await asyncio.wait_for(clients[name].wait(), TIMEOUT)
        assert not clients[name].connected
    assert list(io.sockets.sockets) == [ids["c"]]

    # close=True: every namespace of the connection gets its DISCONNECT, then the connection closes
    chat = clients["c"].socket("/chat")
    chat_inbox = Inbox(chat)
    await asyncio.wait_for(chat.connect(), TIMEOUT)
    chat_id = str(chat.id)
    await io.in_(ids["c"]).disconnect_sockets(close=True)
    assert await inboxes["c"].disconnected() == DisconnectReason.IO_SERVER_DISCONNECT
    assert await chat_inbox.disconnected() == DisconnectReason.IO_SERVER_DISCONNECT
    assert await log.reason(ids["c"]) == "server namespace disconnect"
    assert await log.reason(chat_id) == "server namespace disconnect"
    await asyncio.wait_for(clients["c"].wait(), TIMEOUT)
    assert io.sockets.sockets == {} and io.of("/chat").sockets == {}


# -- adapter room events ------------------------------------------------------------------------


async def test_adapter_room_events(
    serve_socketeer: ServeSocketeer, connect: Callable[[str], Connect]
) -> None:
    io = Server()
    log = ServerLog(io.sockets)
    events: list[tuple[str, str, str | None]] = []
    io.sockets.adapter.on_room_event(lambda event, room, sid: events.append((event, room, sid)))

    @io.on("join")
    def join(socket: Socket, room: str) -> bool:
        socket.join(room)
        return True

    start = connect(await serve_socketeer(io))
    a, _ = await start()
    a_id = str(a.id)
    assert events == [("create-room", a_id, None), ("join-room", a_id, a_id)]
    b, _ = await start()
    b_id = str(b.id)
    events.clear()

    assert await a.emit_with_ack("join", "r", timeout=TIMEOUT) is True
    assert await b.emit_with_ack("join", "r", timeout=TIMEOUT) is True
    assert events == [("create-room", "r", None), ("join-room", "r", a_id), ("join-room", "r", b_id)]
    events.clear()

    log.sockets[a_id].leave("r")
    assert events == [("leave-room", "r", a_id)]
    events.clear()

    await b.disconnect()
    await log.reason(b_id)
    assert sorted(events) == sorted(
        [
            ("leave-room", "r", b_id),
            ("delete-room", "r", None),
            ("leave-room", b_id, b_id),
            ("delete-room", b_id, None),
        ]
    )
    assert events.index(("leave-room", "r", b_id)) < events.index(("delete-room", "r", None))
