"""The demo's chat handlers and static files, in-process: a real server on loopback and a bare-bones
Socket.IO client written here over the ``websockets`` package (Engine.IO 4 on WebSocket, no polling)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets

from socketeer.demo.app import CLIENT_JS_RELATIVE, StaticSite, create_app, find_client_js
from socketeer.transports.ports import HttpRequest

TIMEOUT = 5.0


class RawClient:
    """Just enough Socket.IO: connect to ``/``, emit with acks, collect events, answer pings."""

    def __init__(self, ws: Any, sid: str) -> None:
        self.ws = ws
        self.id = sid
        self.events: dict[str, asyncio.Queue[Any]] = {}
        self.acks: dict[int, asyncio.Future[list[Any]]] = {}
        self.next_ack = 0
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        opened = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(opened, str) and opened.startswith("0{")
        await ws.send("40")
        connected = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(connected, str) and connected.startswith("40{")
        return cls(ws, json.loads(connected[2:])["sid"])

    def queue(self, event: str) -> asyncio.Queue[Any]:
        return self.events.setdefault(event, asyncio.Queue())

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                assert isinstance(frame, str)
                if frame == "2":
                    await self.ws.send("3")
                elif frame.startswith("42"):
                    event, *args = json.loads(frame[2:])
                    self.queue(event).put_nowait(args[0] if len(args) == 1 else args)
                elif frame.startswith("43"):
                    body = frame[2:]
                    start = body.index("[")
                    future = self.acks.pop(int(body[:start]), None)
                    if future is not None:
                        future.set_result(json.loads(body[start:]))
        except websockets.ConnectionClosed:
            pass

    async def call(self, event: str, *args: Any) -> Any:
        """Emit with an acknowledgement and return its (single) value."""
        self.next_ack += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = future
        await self.ws.send(f"42{self.next_ack}" + json.dumps([event, *args]))
        result = await asyncio.wait_for(future, TIMEOUT)
        return result[0] if result else None

    async def emit(self, event: str, *args: Any) -> None:
        await self.ws.send("42" + json.dumps([event, *args]))

    async def next(self, event: str) -> Any:
        return await asyncio.wait_for(self.queue(event).get(), TIMEOUT)

    async def until(self, event: str, predicate: Callable[[Any], bool]) -> Any:
        """The first ``event`` whose payload satisfies ``predicate`` (earlier ones are dropped)."""
        while True:
            value = await self.next(event)
            if predicate(value):
                return value

    def drain(self, event: str) -> list[Any]:
        queue = self.queue(event)
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def close(self) -> None:
        await self.ws.close()
        await self.reader


Connect = Callable[[], Awaitable[RawClient]]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    io, site = create_app()
    server = await io.serve("127.0.0.1", 0, http_handler=site)
    clients: list[RawClient] = []

    async def open_client() -> RawClient:
        client = await RawClient.connect(server.port)
        clients.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            await client.close()
        await io.close()


async def _in_room(client: RawClient, room: str) -> None:
    assert await client.call("join", room) == {"ok": True, "room": room}


async def test_welcome_online_count_rooms_and_users(connect: Connect) -> None:
    alice = await connect()
    welcome = await alice.next("welcome")
    assert welcome == {
        "id": alice.id,
        "nick": f"guest-{alice.id[:4]}",
        "room": "lobby",
        "transport": "websocket",
    }
    assert await alice.next("online") == 1
    assert await alice.next("rooms") == [{"name": "lobby", "count": 1}]

    bob = await connect()
    assert await alice.until("online", lambda n: n == 2) == 2
    assert await bob.next("online") == 2
    users = await alice.until("users", lambda u: len(u) == 2)
    assert {u["id"] for u in users} == {alice.id, bob.id}

    await bob.close()
    assert await alice.until("online", lambda n: n == 1) == 1
    assert [u["id"] for u in await alice.until("users", lambda u: len(u) == 1)] == [alice.id]


async def test_nicknames_are_cleaned_and_checked(connect: Connect) -> None:
    alice = await connect()
    assert await alice.call("nick", "  Alice \n  Liddell ") == {"ok": True, "nick": "Alice Liddell"}
    assert (await alice.call("nick", "x" * 100))["nick"] == "x" * 24
    for bad in ("   ", 42, None, ["alice"]):
        reply = await alice.call("nick", bad)
        assert reply["ok"] is False and "nickname" in reply["error"]
    assert (await alice.until("users", lambda u: u[0]["nick"] == "x" * 24))[0]["id"] == alice.id


async def test_messages_reach_the_room_but_not_the_sender_nor_other_rooms(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    await alice.call("nick", "alice")
    await _in_room(alice, "blue")
    await _in_room(bob, "blue")  # carol stays in the lobby

    reply = await alice.call("chat", "  hi <b>blue</b>  ")
    assert reply["ok"] is True
    message = await bob.next("chat")
    assert message == {
        "id": alice.id,
        "nick": "alice",
        "room": "blue",
        "text": "hi <b>blue</b>",
        "ts": reply["ts"],
    }

    # a lobby message proves (by ordering on each connection) that nothing from "blue" reached carol
    # and nothing reached alice herself
    await _in_room(bob, "lobby")
    await bob.call("chat", "lobby only")
    assert (await carol.next("chat"))["text"] == "lobby only"
    await carol.call("nick", "carol")  # to everyone: a barrier for alice
    await alice.until("users", lambda users: any(u["nick"] == "carol" for u in users))
    assert alice.drain("chat") == []
    assert (await alice.call("chat", "   "))["ok"] is False


async def test_private_messages_go_to_one_socket(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    await alice.call("nick", "alice")
    await bob.call("nick", "bob")
    reply = await alice.call("private", bob.id, "psst")
    assert reply == {"ok": True, "ts": reply["ts"], "to": bob.id, "nick": "bob"}
    assert await bob.next("private") == {
        "id": alice.id,
        "nick": "alice",
        "to": bob.id,
        "text": "psst",
        "ts": reply["ts"],
    }
    assert (await alice.call("private", "nobody", "hello")) == {"ok": False, "error": "no such user"}
    assert (await alice.call("private", bob.id, ""))["ok"] is False
    await carol.call("chat", "barrier")  # reaches alice and bob after anything sent before it
    await alice.next("chat")
    assert carol.drain("private") == [] and alice.drain("private") == []


async def test_a_room_named_like_a_socket_id_does_not_receive_its_private_messages(connect: Connect) -> None:
    alice = await connect()
    while alice.id.startswith("-"):  # ids are base64url; room names may not start with "-"
        alice = await connect()
    mallory = await connect()
    await _in_room(mallory, alice.id)
    assert (await alice.call("private", alice.id, "note to self"))["ok"] is True
    assert (await alice.next("private"))["text"] == "note to self"
    await alice.call("join", alice.id)
    await alice.call("chat", "barrier")
    assert (await mallory.next("chat"))["text"] == "barrier"
    assert mallory.drain("private") == []


async def test_room_names_are_checked_and_empty_rooms_go_away(connect: Connect) -> None:
    alice, bob = await connect(), await connect()
    for bad in ("", "   ", "<script>", "-leading-dash", 7):
        assert (await alice.call("join", bad))["ok"] is False
    await _in_room(alice, "red team")
    rooms = await bob.until("rooms", lambda r: len(r) == 2)
    assert rooms == [{"name": "lobby", "count": 1}, {"name": "red team", "count": 1}]
    await _in_room(alice, "lobby")
    assert await bob.until("rooms", lambda r: len(r) == 1) == [{"name": "lobby", "count": 2}]


async def test_typing_goes_to_the_room_only(connect: Connect) -> None:
    alice, bob, carol = await connect(), await connect(), await connect()
    await alice.call("nick", "alice")
    await _in_room(alice, "green")
    await _in_room(bob, "green")
    await alice.emit("typing", True)
    # (bob may first see alice stop typing in the lobby she left)
    assert await bob.until("typing", lambda t: t["typing"]) == {
        "id": alice.id,
        "nick": "alice",
        "typing": True,
    }
    await alice.emit("typing", False)
    assert await bob.next("typing") == {"id": alice.id, "nick": "alice", "typing": False}
    # a broadcast to everyone, sent after the typing events, is a barrier on each connection
    await bob.call("nick", "bob")
    for client in (alice, carol):
        await client.until("users", lambda users: any(u["nick"] == "bob" for u in users))
    assert alice.drain("typing") == []
    # carol (lobby) only saw alice and bob stop typing there when they left it
    assert [t["typing"] for t in carol.drain("typing")] == [False, False]


async def test_the_transport_report_uses_what_the_server_sees(connect: Connect) -> None:
    alice = await connect()
    await alice.next("welcome")
    await alice.emit("transport", "polling")  # a lie: the server knows it is a WebSocket
    await alice.call("nick", "alice")
    users = await alice.until("users", lambda u: u[0]["nick"] == "alice")
    assert users[0]["transport"] == "websocket"


# -- static files -------------------------------------------------------------------------------


def _get(path: str, method: str = "GET") -> HttpRequest:
    return HttpRequest(method=method, path=path, query={}, headers={})


async def test_the_page_and_its_assets(tmp_path: Path) -> None:
    client_js = tmp_path / "socket.io.min.js"
    client_js.write_text("window.io = function () {};")
    site = StaticSite(client_js)
    page = await site(_get("/"))
    headers = dict(page.headers)
    assert page.status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/app.js"></script>' in page.body
    assert "script-src 'self' https://cdn.socket.io" in headers["Content-Security-Policy"]
    assert (await site(_get("/index.html"))).body == page.body
    for path, content_type in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        response = await site(_get(path))
        assert response.status == 200 and dict(response.headers)["Content-Type"].startswith(content_type)
    script = await site(_get("/socket.io.min.js"))
    assert script.body == b"window.io = function () {};"
    head = await site(_get("/app.js", "HEAD"))
    assert head.status == 200 and head.body == b"" and int(dict(head.headers)["Content-Length"]) > 1000
    assert (await site(_get("/", "POST"))).status == 405


@pytest.mark.parametrize(
    "path",
    ["/../pyproject.toml", "/static/app.js", "/app.py", "/..%2fapp.py", "//etc/passwd", "/index.html/", "/x"],
)
async def test_anything_else_is_404(path: str) -> None:
    response = await StaticSite(None)(_get(path))
    assert response.status == 404


async def test_without_a_local_client_there_is_no_fallback_route() -> None:
    assert (await StaticSite(None)(_get("/socket.io.min.js"))).status == 404


def test_find_client_js(tmp_path: Path) -> None:
    assert find_client_js(search_from=[tmp_path]) is None
    found = tmp_path / "b" / CLIENT_JS_RELATIVE
    found.parent.mkdir(parents=True)
    found.write_text("//")
    assert find_client_js(search_from=[tmp_path / "a", tmp_path / "b"]) == found.resolve()
    assert find_client_js(str(found)) == found.resolve()
    with pytest.raises(FileNotFoundError):
        find_client_js(str(tmp_path / "missing.js"))
