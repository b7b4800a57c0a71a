"""The admin namespace's protocol, as the official Admin UI speaks it, over real connections.

A socketeer ``AsyncClient`` plays the UI on ``/admin``; other clients play the watched application.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from socketeer import ConnectionRefused, DisconnectReason, Server
from socketeer.admin import BasicAuth, Feature, instrument
from socketeer.admin.instrument import _filter_rooms
from socketeer.admin.stats import EventBuffer, plain
from socketeer.client import AsyncClient

ServeSocketeer = Callable[[Server], Awaitable[str]]
TIMEOUT = 5.0
ALL_FEATURES = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"]
# bcryptjs.hashSync("admin", 4), as the official package's users make them ($2a$)
BCRYPTJS_HASH_OF_ADMIN = "$2a$04$8JH90xZOxQebd8ISTSoHLeRjhYH/o8z9YArzJxot92P3WxzJUgiVy"
ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class EventLog:
    """Every event a client receives, in order, with waits for the next matching one."""

    def __init__(self, client: Any) -> None:
        self.events: list[tuple[str, list[Any]]] = []
        self._changed = asyncio.Event()
        client.on_any(self._record)

    def _record(self, *args: Any) -> None:
        self.events.append((args[0], list(args[1:])))
        self._changed.set()

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    async def next(
        self, name: str, where: Callable[[list[Any]], bool] = lambda args: True, after: int = 0
    ) -> list[Any]:
        """The args of the first ``name`` event at index >= ``after`` that satisfies ``where``."""
        index = after

        async def scan() -> list[Any]:
            nonlocal index
            while True:
                while index < len(self.events):
                    event, args = self.events[index]
                    index += 1
                    if event == name and where(args):
                        return args
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), TIMEOUT)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {name!r} event; got {self.names()}") from None

    def index_of(self, name: str, where: Callable[[list[Any]], bool] = lambda args: True) -> int:
        for i, (event, args) in enumerate(self.events):
            if event == name and where(args):
                return i
        raise AssertionError(f"no {name!r} event; got {self.names()}")


def make_app(**options: Any) -> tuple[Server, dict[str, Any]]:
    io = Server()
    state: dict[str, Any] = {"sockets": {}}

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        state["sockets"][socket.id] = socket

    @io.on("hello")
    def hello(socket: Any, *args: Any) -> Any:
        socket.emit("hi", *args)
        return "ok"

    @io.on("enter")
    def enter(socket: Any, room: str) -> None:
        socket.join(room)

    @io.on("nick")
    def nick(socket: Any, name: str) -> None:
        socket.data["nick"] = name

    options.setdefault("auth", False)
    options.setdefault("stats_interval", 0.1)
    state["admin"] = instrument(io, **options)
    return io, state


async def connect(url: str, namespace: str = "/", **options: Any) -> tuple[AsyncClient, EventLog]:
    options.setdefault("transports", ("websocket",))
    client = AsyncClient(url, namespace=namespace, reconnection=False, **options)
    log = EventLog(client)
    await asyncio.wait_for(client.connect(), TIMEOUT)
    return client, log


async def test_config_all_sockets_and_stats(serve_socketeer: ServeSocketeer) -> None:
    io, state = make_app(server_id="test-server")
    url = await serve_socketeer(io)
    user, _ = await connect(url, query={"room": "lobby"}, transports=("polling",))
    admin, log = await connect(url, "/admin")
    try:
        config = await log.next("config")
        assert config == [{"supportedFeatures": [*ALL_FEATURES, "AGGREGATED_EVENTS", "ALL_EVENTS"]}]
        (sockets,) = await log.next("all_sockets")
        by_id = {s["id"]: s for s in sockets}
        assert set(by_id) == {user.id, admin.id}
        entry = by_id[user.id]
        server_socket = state["sockets"][user.id]
        assert entry["nsp"] == "/"
        assert entry["transport"] == "polling"
        assert entry["clientId"] == server_socket.client.conn.sid[:12]
        assert entry["rooms"] == [user.id]
        assert entry["data"] == {}
        handshake = entry["handshake"]
        assert handshake["address"] == "127.0.0.1"
        assert handshake["query"]["room"] == "lobby"
        assert handshake["url"].startswith("/socket.io/?")
        assert isinstance(handshake["issued"], int) and isinstance(handshake["time"], str)
        assert handshake["secure"] is False and "host" in handshake["headers"]
        assert "auth" not in handshake
        assert by_id[admin.id]["nsp"] == "/admin" and by_id[admin.id]["transport"] == "websocket"

        # the first server_stats comes at once, then one per interval with the aggregated engine events
        (first,) = await log.next("server_stats")
        assert first["serverId"] == "test-server"
        assert isinstance(first["hostname"], str) and isinstance(first["pid"], int)
        assert first["uptime"] > 0
        assert first["clientsCount"] == 2 and first["pollingClientsCount"] == 1
        assert sorted(first["namespaces"], key=lambda n: n["name"]) == [
            {"name": "/", "socketsCount": 1},
            {"name": "/admin", "socketsCount": 1},
        ]
        aggregated: list[dict[str, Any]] = []
        after = log.index_of("server_stats") + 1
        while not any(e["type"] == "rawConnection" for e in aggregated):
            (stats,) = await log.next("server_stats", after=after)
            after = log.index_of("server_stats", lambda a, s=stats: a[0] is s) + 1
            aggregated.extend(stats["aggregatedEvents"])
        raw = [e for e in aggregated if e["type"] == "rawConnection"]
        assert sum(e["count"] for e in raw) == 2
        assert all(e["timestamp"] % 1000 == 0 for e in aggregated)
        assert any(e["type"] == "packetsIn" for e in aggregated)
        assert any(e["type"] == "bytesIn" and e["count"] > 0 for e in aggregated)
        while not any(e["type"] == "packetsOut" for e in aggregated):
            (stats,) = await log.next("server_stats", after=after)
            after = log.index_of("server_stats", lambda a, s=stats: a[0] is s) + 1
            aggregated.extend(stats["aggregatedEvents"])
        assert any(e["type"] == "bytesOut" and e["count"] > 0 for e in aggregated)
    finally:
        await user.close()
        await admin.close()


async def test_live_socket_room_and_event_updates(serve_socketeer: ServeSocketeer) -> None:
    io, state = make_app()
    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    try:
        await log.next("all_sockets")
        user, _ = await connect(url)
        (serialized, timestamp) = await log.next("socket_connected", lambda a: a[0]["id"] == user.id)
        assert serialized["nsp"] == "/" and serialized["rooms"] == [user.id]
        assert ISO_DATE.match(timestamp)

        assert await user.emit_with_ack("hello", "world", b"\x01", timeout=TIMEOUT) == "ok"
        received = await log.next("event_received", lambda a: a[1] == user.id)
        assert received[0] == "/" and received[2] == ["hello", "world", b"\x01"]
        assert ISO_DATE.match(received[3])
        sent = await log.next("event_sent", lambda a: a[1] == user.id)
        assert sent[0] == "/" and sent[2] == ["hi", "world", b"\x01"]

        user.emit("enter", "room-1")
        joined = await log.next("room_joined", lambda a: a[1] == "room-1")
        assert joined[:3] == ["/", "room-1", user.id]

        user.emit("nick", "alice")
        updated = await log.next("socket_updated", lambda a: "data" in a[0])
        assert updated == [{"id": user.id, "nsp": "/", "data": {"nick": "alice"}}]
        assert state["sockets"][user.id].data == {"nick": "alice"}

        user_id = user.id
        await user.disconnect()
        gone = await log.next("socket_disconnected", lambda a: a[1] == user_id)
        assert gone[:3] == ["/", user_id, "client namespace disconnect"]
        left = await log.next("room_left", lambda a: a[1] == "room-1")
        assert left[:3] == ["/", "room-1", user_id]
        # as with the official server: the UI hears of the disconnection before the rooms it left
        assert log.index_of("socket_disconnected", lambda a: a[1] == user_id) < log.index_of(
            "room_left", lambda a: a[1] == "room-1"
        )
    finally:
        await admin.close()


async def test_upgrade_is_reported(serve_socketeer: ServeSocketeer) -> None:
    # no statistics tick during the test: the update comes from the upgrade itself
    io, _ = make_app(stats_interval=60)
    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    user, _ = await connect(url, transports=("polling", "websocket"))
    try:
        await log.next("socket_connected", lambda a: a[0]["id"] == user.id and a[0]["transport"] == "polling")
        update = await log.next("socket_updated", lambda a: a[0].get("id") == user.id)
        assert update == [{"id": user.id, "nsp": "/", "transport": "websocket"}]
    finally:
        await user.close()
        await admin.close()


@pytest.mark.parametrize("transports", [("websocket",), ("polling",), ("polling", "websocket")])
async def test_outgoing_packets_and_bytes_are_counted_as_the_official_server(
    serve_socketeer: ServeSocketeer, transports: tuple[str, ...]
) -> None:
    io, state = make_app(stats_interval=60)
    buffer = state["admin"].buffer
    url = await serve_socketeer(io)
    user, log = await connect(url, transports=transports)
    try:
        assert await user.emit_with_ack("hello", "world", b"\x01", timeout=TIMEOUT) == "ok"
        await log.next("hi")
        sid = user.id
        counted: dict[str, int] = {}
        for entry in buffer.take():
            counted[entry["type"]] = counted.get(entry["type"], 0) + entry["count"]
    finally:
        await user.close()
    # what the official server's packetCreate sees: each MESSAGE's data, each attachment (no heartbeats)
    sent = [f'0{{"sid":"{sid}"}}', '51-["hi","world",{"_placeholder":true,"num":0}]', '30["ok"]']
    assert counted["packetsOut"] == 4
    assert counted["bytesOut"] == sum(len(p) for p in sent) + 1
    assert counted["packetsIn"] >= 3


async def test_dynamic_and_later_namespaces_are_watched(serve_socketeer: ServeSocketeer) -> None:
    io, _ = make_app()
    teams = io.of(re.compile(r"^/team-\d+$"))  # made after instrument()
    chat = io.of("/chat")

    @teams.on("connection")
    def join_team(socket: Any) -> None:
        socket.join("members")

    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    team, _ = await connect(url, "/team-7")
    chatter, _ = await connect(url, "/chat")
    try:
        connected = await log.next("socket_connected", lambda a: a[0]["nsp"] == "/team-7")
        assert connected[0]["id"] == team.id
        await log.next("socket_connected", lambda a: a[0]["nsp"] == "/chat")
        team.emit("ping-team", 1)
        await log.next("event_received", lambda a: a[0] == "/team-7" and a[2] == ["ping-team", 1])
        # the child namespace's rooms are watched too (its adapter is hooked when first seen)
        assert (await log.next("room_joined", lambda a: a[1] == "members"))[:3] == [
            "/team-7",
            "members",
            team.id,
        ]
        assert chat.name == "/chat"
        team_connections = [a for n, a in log.events if n == "socket_connected" and a[0]["nsp"] == "/team-7"]
        assert len(team_connections) == 1
    finally:
        await team.close()
        await chatter.close()
        await admin.close()


async def test_commands_act_on_the_target_socket(serve_socketeer: ServeSocketeer) -> None:
    io, state = make_app()
    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    target, target_log = await connect(url)
    other, other_log = await connect(url)
    try:
        server_target = state["sockets"][target.id]
        server_other = state["sockets"][other.id]

        # emit to one socket (the UI's filter is the socket id, a room) and to the whole namespace
        await admin.emit_with_ack("emit", "/", target.id, "notice", {"a": 1}, timeout=TIMEOUT)
        assert await target_log.next("notice") == [{"a": 1}]
        await admin.emit_with_ack("emit", "/", None, "everyone", 2, timeout=TIMEOUT)
        await target_log.next("everyone")
        await other_log.next("everyone")
        assert "notice" not in other_log.names()

        # join and leave
        await admin.emit_with_ack("join", "/", "vip", target.id, timeout=TIMEOUT)
        assert "vip" in server_target.rooms and "vip" not in server_other.rooms
        await log.next("room_joined", lambda a: a[1:3] == ["vip", target.id])
        await admin.emit_with_ack("join", "/", "all", timeout=TIMEOUT)
        assert "all" in server_target.rooms and "all" in server_other.rooms
        await admin.emit_with_ack("leave", "/", "vip", {"id": target.id}, timeout=TIMEOUT)
        assert "vip" not in server_target.rooms
        await log.next("room_left", lambda a: a[1:3] == ["vip", target.id])
        await admin.emit_with_ack("emit", "/", "all", "in-all", timeout=TIMEOUT)
        await other_log.next("in-all")

        # unknown namespaces and reserved events are ignored, not created
        await admin.emit_with_ack("emit", "/nowhere", None, "x", timeout=TIMEOUT)
        await admin.emit_with_ack("emit", "/", None, "connect", timeout=TIMEOUT)
        assert "/nowhere" not in io.namespaces

        # disconnect one socket from the namespace, then close another client's connection
        reasons: list[Any] = []
        target.on("disconnect", reasons.append)
        await admin.emit_with_ack("_disconnect", "/", False, target.id, timeout=TIMEOUT)
        await asyncio.wait_for(target.wait(), TIMEOUT)
        assert reasons == [DisconnectReason.IO_SERVER_DISCONNECT]
        assert other.connected
        await admin.emit_with_ack("_disconnect", "/", True, other.id, timeout=TIMEOUT)
        await asyncio.wait_for(other.wait(), TIMEOUT)
        gone = await log.next("socket_disconnected", lambda a: a[1] == server_other.id)
        assert gone[2] in ("server namespace disconnect", "forced close")
        assert admin.connected
    finally:
        await target.close()
        await other.close()
        await admin.close()


async def test_readonly_refuses_commands(serve_socketeer: ServeSocketeer) -> None:
    io, state = make_app(readonly=True)
    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    target, target_log = await connect(url)
    try:
        assert await log.next("config") == [{"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}]
        refusal = {"message": "the admin namespace is read-only"}
        assert await admin.emit_with_ack("emit", "/", target.id, "notice", timeout=TIMEOUT) == refusal
        assert await admin.emit_with_ack("join", "/", "vip", target.id, timeout=TIMEOUT) == refusal
        assert await admin.emit_with_ack("_disconnect", "/", True, None, timeout=TIMEOUT) == refusal
        # the target saw nothing: an echo through it arrives with no notice before it
        assert await target.emit_with_ack("hello", timeout=TIMEOUT) == "ok"
        await target_log.next("hi")
        assert "notice" not in target_log.names()
        assert target.connected and "vip" not in state["sockets"][target.id].rooms
    finally:
        await target.close()
        await admin.close()


async def test_production_mode_sends_only_statistics(serve_socketeer: ServeSocketeer) -> None:
    io, _ = make_app(mode="production")
    url = await serve_socketeer(io)
    admin, log = await connect(url, "/admin")
    try:
        assert await log.next("config") == [{"supportedFeatures": [*ALL_FEATURES, "AGGREGATED_EVENTS"]}]
        user, _ = await connect(url)
        assert await user.emit_with_ack("hello", timeout=TIMEOUT) == "ok"
        await log.next("server_stats", lambda a: {"name": "/", "socketsCount": 1} in a[0]["namespaces"])
        await user.close()
        await log.next("server_stats", lambda a: {"name": "/", "socketsCount": 0} in a[0]["namespaces"])
        detailed = {"all_sockets", "socket_connected", "socket_disconnected", "event_received", "room_joined"}
        assert not detailed & set(log.names())
    finally:
        await admin.close()


@pytest.mark.parametrize("hash_kind", ["bcryptjs", "bcrypt"])
async def test_basic_auth_and_sessions(serve_socketeer: ServeSocketeer, hash_kind: str) -> None:
    import bcrypt
    if hash_kind == "bcryptjs":
        hashed = BCRYPTJS_HASH_OF_ADMIN
    else:
        hashed = bcrypt.hashpw(b"admin", bcrypt.gensalt(4)).decode()
    io, _ = make_app(auth={"type": "basic", "username": "admin", "password": hashed})
    url = await serve_socketeer(io)

    for bad in ({"username": "admin", "password": "wrong"}, {"username": "root", "password": "admin"}, {}):
        client = AsyncClient(url, namespace="/admin", auth=bad, reconnection=False, transports=("websocket",))
        with pytest.raises(ConnectionRefused) as info:
            await asyncio.wait_for(client.connect(), TIMEOUT)
        assert info.value.message == "invalid credentials"
        await client.close()

    admin, log = await connect(url, "/admin", auth={"username": "admin", "password": "admin"})
    try:
        (session_id,) = await log.next("session")
        assert isinstance(session_id, str) and len(session_id) == 16
        names = log.names()
        assert names.index("session") < names.index("config")
    finally:
        await admin.close()

    # the UI comes back later with its session id only
    again, again_log = await connect(url, "/admin", auth={"sessionId": session_id})
    try:
        await again_log.next("config")
        assert "session" not in again_log.names()
    finally:
        await again.close()
    stranger = AsyncClient(
        url, namespace="/admin", auth={"sessionId": "0" * 16}, reconnection=False, transports=("websocket",)
    )
    with pytest.raises(ConnectionRefused):
        await asyncio.wait_for(stranger.connect(), TIMEOUT)
    await stranger.close()


def test_options_are_checked() -> None:
    io = Server()
    with pytest.raises(TypeError):
        instrument(io)  # type: ignore[call-arg]  # auth must be given, even if False
    with pytest.raises(ValueError, match="bcrypt hash"):
        instrument(io, auth={"type": "basic", "username": "admin", "password": "admin"})
    with pytest.raises(ValueError, match="invalid `auth`"):
        instrument(io, auth={"type": "jwt"})
    with pytest.raises(ValueError, match="mode"):
        instrument(io, auth=False, mode="staging")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="stats_interval"):
        instrument(io, auth=False, stats_interval=0)
    assert "password" not in repr(BasicAuth("admin", BCRYPTJS_HASH_OF_ADMIN))
    assert Feature.ALL_EVENTS == "ALL_EVENTS"


def test_event_buffer_aggregates_per_second() -> None:
    now = [1000.25]
    buffer = EventBuffer(clock=lambda: now[0])
    buffer.push("rawConnection")
    buffer.push("bytesIn", None, 10)
    buffer.push("bytesIn", None, 5)
    now[0] = 1001.9
    buffer.push("rawDisconnection", "transport close")
    assert buffer.take() == [
        {"timestamp": 1_000_000, "type": "rawConnection", "count": 1},
        {"timestamp": 1_000_000, "type": "bytesIn", "count": 15},
        {"timestamp": 1_001_000, "type": "rawDisconnection", "subType": "transport close", "count": 1},
    ]
    assert buffer.take() == [] and len(buffer) == 0


def test_filters_and_plain_values() -> None:
    assert _filter_rooms("abc") == ["abc"]
    assert _filter_rooms("") == [] and _filter_rooms(None) == [] and _filter_rooms(3) == []
    assert _filter_rooms({"id": "sid"}) == ["sid"]
    assert _filter_rooms({"rooms": ["a", "", 1, "b"]}) == ["a", "b"]

    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    assert plain({"a": (1, Thing()), 2: {"b": b"\x00"}}) == {"a": [1, "<thing>"], "2": {"b": b"\x00"}}
