"""A mixed cluster on one real redis-server: two socketeer servers with ``RedisAdapter`` and one Node
socket.io@4 server with the official ``@socket.io/redis-adapter``, official JS clients on each."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cluster_support import NodeServer, PyNode

from redis_support import RedisServer
from socketeer.adapters.redis import create_adapter
from socketeer.exceptions import AckTimeout

TIMEOUT = 5.0  # requests_timeout of every server (s): only reached where a test expects partial answers


async def cluster(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any, **options: Any
) -> tuple[PyNode, PyNode, NodeServer, list[Any]]:
    node_options = {"requestsTimeout": int(TIMEOUT * 1000)}
    py_options: dict[str, Any] = {"requests_timeout": TIMEOUT}
    if options.get("specific"):
        node_options["publishOnSpecificResponseChannel"] = True
        py_options["publish_on_specific_response_channel"] = True
    a = await start_py(create_adapter(redis_server.url, **py_options))
    b = await start_py(create_adapter(redis_server.url, **py_options))
    n = await start_node_server(redis_server, "classic", **node_options)
    drivers = [await start_clients(url) for url in (a.url, b.url, n.url)]
    return a, b, n, drivers


async def connect_all(drivers: list[Any], mode: str = "websocket", **auth: Any) -> dict[str, str]:
    ids = {}
    for name, driver in zip(("a", "b", "n"), drivers, strict=True):
        answer = await driver.connect(name, mode, auth=auth.get(name, {}))
        assert answer["connected"], answer
        ids[name] = answer["id"]
    return ids


@pytest.mark.parametrize("specific", [False, True], ids=["shared-response", "specific-response"])
async def test_broadcasts_rooms_except_and_flags_across_python_and_node(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any, specific: bool
) -> None:
    a, b, n, drivers = await cluster(redis_server, start_py, start_node_server, start_clients, specific=specific)
    ids = await connect_all(
        drivers, a={"rooms": ["red", "all"]}, b={"rooms": ["blue", "all"]}, n={"rooms": ["red", "blue", "all"]}
    )
    da, db, dn = drivers

    a.io.emit("from-a", 1, {"x": [1, 2]}, b"\x00\x01")
    for driver, name in zip(drivers, "abn", strict=True):
        assert (await driver.event(name, "from-a"))["args"] == [1, {"x": [1, 2]}, b"\x00\x01"]

    await n.call("emit", rooms=["red"], event="node-red", args=[2])
    assert (await da.event("a", "node-red"))["args"] == [2]
    assert (await dn.event("n", "node-red"))["args"] == [2]

    b.io.to("red").except_("blue").emit("red-not-blue")
    assert (await da.event("a", "red-not-blue"))["args"] == []
    b.io.to(["red", "blue"]).emit("red-or-blue", "x")
    for driver, name in zip(drivers, "abn", strict=True):
        assert (await driver.event(name, "red-or-blue"))["args"] == ["x"]
    b.io.local.emit("b-local")
    assert (await db.event("b", "b-local"))["args"] == []
    b.io.volatile.to("all").emit("vol")
    for driver, name in zip(drivers[:2], "ab", strict=True):  # Node may drop it while its transport is busy
        await driver.event(name, "vol")
    await n.call("emit", rooms=[ids["a"]], event="to-a-id", args=[])
    assert (await da.event("a", "to-a-id"))["args"] == []
    # a marker that everyone gets last: nothing unexpected arrived before it
    a.io.emit("end")
    for driver, name in zip(drivers, "abn", strict=True):
        await driver.event(name, "end")
    assert db.events("b", "node-red") == [] and db.events("b", "red-not-blue") == []
    assert dn.events("n", "red-not-blue") == [] and da.events("a", "b-local") == []
    assert dn.events("n", "b-local") == []
    assert [name for name in ("a", "b", "n") if drivers["abn".index(name)].events(name, "to-a-id")] == ["a"]


async def test_fetch_sockets_join_leave_disconnect_and_rooms_across_the_cluster(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    a, b, n, drivers = await cluster(redis_server, start_py, start_node_server, start_clients)
    ids = await connect_all(drivers, mode="polling", n={"rooms": ["node-room"]})
    da, db, dn = drivers

    found = {s.id: s for s in await a.io.fetch_sockets()}
    assert set(found) == set(ids.values())
    assert found[ids["n"]].data == {"where": "node"} and found[ids["b"]].data == {"where": "py"}
    assert found[ids["n"]].rooms == {ids["n"], "node-room"}
    assert found[ids["n"]].handshake.query["EIO"] == "4"
    node_view = await n.call("fetchSockets")
    assert {s["id"]: s["data"]["where"] for s in node_view["sockets"]} == {
        ids["a"]: "py",
        ids["b"]: "py",
        ids["n"]: "node",
    }
    assert await a.io.server_count() == 3
    assert (await n.call("serverCount"))["count"] == 3
    assert "node-room" in await b.io.all_rooms()

    # remote socket operations go through the adapter to the server the socket is on
    found[ids["n"]].emit("direct", "hi")
    assert (await dn.event("n", "direct"))["args"] == ["hi"]
    await found[ids["n"]].join("joined-from-a")
    await found[ids["b"]].join("joined-from-a")
    members = await a.io.in_("joined-from-a").fetch_sockets()
    assert sorted(s.id for s in members) == sorted([ids["n"], ids["b"]])
    node_rooms = (await n.call("allRooms"))["rooms"]
    assert "joined-from-a" in node_rooms

    await n.call("socketsJoin", join="everyone")
    # Node's socketsJoin publishes without waiting, so the call may return before the Python servers
    # applied it; no event tells when they have: ask again until they agree (bounded)
    everyone = sorted(ids.values())
    async with asyncio.timeout(5):
        while sorted(s.id for s in await b.io.in_("everyone").fetch_sockets()) != everyone:
            await asyncio.sleep(0.02)
    await b.io.in_("everyone").except_(ids["a"]).sockets_leave("everyone")
    assert [s.id for s in await a.io.in_("everyone").fetch_sockets()] == [ids["a"]]

    await a.io.in_(ids["n"]).disconnect_sockets()
    assert await dn.disconnected("n") == "io server disconnect"
    await n.call("disconnectSockets", rooms=[ids["b"]])
    assert await db.disconnected("b") == "io server disconnect"
    assert [s.id for s in await a.io.fetch_sockets()] == [ids["a"]]


async def test_server_side_emit_with_acks_across_python_and_node(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    a, b, n, _ = await cluster(redis_server, start_py, start_node_server, start_clients)
    await a.io.server_side_emit("hello", 1, "two")
    await n.expect(ev="server_side", name="hello")
    await n.call("serverSideEmit", event="hello", args=[3])
    # every server got both, but not its own
    await b.until(lambda: len(b.server_side) >= 2)
    await a.until(lambda: len(a.server_side) >= 1)
    assert b.server_side == [("/", "hello", [1, "two"]), ("/", "hello", [3])]
    assert a.server_side == [("/", "hello", [3])]

    assert sorted(await a.io.server_side_emit_with_ack("question", "q")) == ["node:q", "py:q"]
    node_answer = await n.call("serverSideEmitWithAck", event="question", args=["z"])
    assert sorted(node_answer["responses"]) == ["py:z", "py:z"]
    assert sorted(await a.io.of("/chat").server_side_emit_with_ack("question", 5)) == ["node:5", "py:5"]
    assert b.server_side[-1] == ("/chat", "question", [5])


async def test_server_side_emit_with_ack_times_out_with_partial_answers(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    a = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT), silent=True)
    await start_node_server(redis_server, "classic", requestsTimeout=int(TIMEOUT * 1000))
    with pytest.raises(AckTimeout) as caught:
        await a.io.server_side_emit_with_ack("question", "q", timeout=0.5)
    assert caught.value.responses == ["node:q"]


async def test_broadcast_with_acks_across_the_cluster_and_partial_answers(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    a, b, n, drivers = await cluster(redis_server, start_py, start_node_server, start_clients)
    for name, driver in zip("abn", drivers, strict=True):
        answer = await driver.connect(name, "websocket", acks={"q": {"reply": [f"ans-{name}"]}})
        assert answer["connected"]
        assert (await driver.connect(f"{name}2", "websocket", acks={"q": {"reply": [f"ans-{name}2"]}}))["connected"]
    answers = await b.io.timeout(5).emit_with_ack("q")
    assert sorted(answers) == ["ans-a", "ans-a2", "ans-b", "ans-b2", "ans-n", "ans-n2"]
    node_answers = await n.call("emitWithAck", event="q", ackTimeout=5000)
    assert sorted(node_answers["responses"]) == sorted(answers)

    # one client that does not answer: the others' answers come with the timeout
    assert (await drivers[2].connect("mute", "websocket"))["connected"]
    with pytest.raises(AckTimeout) as caught:
        await a.io.timeout(0.5).emit_with_ack("q")
    assert sorted(caught.value.responses) == sorted(answers)
    partial = await n.call("emitWithAck", event="q", ackTimeout=500)
    assert partial["error"] == "operation has timed out" and sorted(partial["responses"]) == sorted(answers)


async def test_dynamic_namespaces_hear_the_cluster_from_their_first_client(
    redis_server: RedisServer, start_py: Any, start_clients: Any
) -> None:
    import re

    from socketeer.adapters.redis import RedisAdapter
    from socketeer.adapters.redis_link import RedisLink

    class RecordingAdapter(RedisAdapter):
        started = False

        async def init(self) -> None:
            await super().init()
            self.started = True

    link = RedisLink(redis_server.url)
    a = await start_py(lambda nsp: RecordingAdapter(nsp, link, requests_timeout=TIMEOUT))
    b = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    started_at_connect: list[bool] = []
    teams = a.io.of(re.compile(r"^/team-\d+$"))
    teams.on("connection", lambda socket, auth: started_at_connect.append(socket.namespace.adapter.started))
    b.io.of(re.compile(r"^/team-\d+$"))
    da, db = await start_clients(a.url), await start_clients(b.url)
    assert (await db.connect("b", "websocket", nsp="/team-1"))["connected"]
    assert (await da.connect("a", "websocket", nsp="/team-1"))["connected"]
    # the child namespace that a's first client made was subscribed before that client was connected
    assert started_at_connect == [True]
    b.io.of("/team-1").emit("hi", 1)
    assert (await da.event("a", "hi"))["args"] == [1]
    a.io.of("/team-1").emit("back")
    await db.event("b", "back")
    assert await a.io.of("/team-1").server_count() == 2
