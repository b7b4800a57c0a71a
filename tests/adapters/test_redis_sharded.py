"""The sharded Redis adapter (SPUBLISH/SSUBSCRIBE, redis-server 7) in a mixed cluster: two socketeer
servers and one Node server with the official ``createShardedAdapter``, in each subscription mode."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from redis_support import RedisServer
from socketeer.adapters.redis_sharded import create_sharded_adapter
from socketeer.exceptions import AckTimeout

TIMEOUT = 5.0  # requests_timeout of every server (s): only reached where a test expects partial answers


@pytest.fixture(autouse=True)
def redis_7(redis_server: RedisServer) -> None:
    if redis_server.version() < (7,):
        pytest.fail(f"the sharded adapter needs redis-server 7, found {redis_server.version()}")


@pytest.mark.parametrize("mode", ["static", "dynamic", "dynamic-private"])
async def test_mixed_sharded_cluster(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any, mode: str
) -> None:
    a = await start_py(create_sharded_adapter(redis_server.url, subscription_mode=mode, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_server.url, subscription_mode=mode, request_timeout=TIMEOUT))
    n = await start_node_server(redis_server, "sharded", subscriptionMode=mode)
    drivers = [await start_clients(node.url) for node in (a, b, n)]
    da, db, dn = drivers
    ids = {}
    for name, driver, rooms in zip("abn", drivers, (["red"], ["blue"], ["red", "blue"]), strict=True):
        answer = await driver.connect(name, "websocket", auth={"rooms": rooms}, acks={"q": {"reply": [name]}})
        assert answer["connected"]
        ids[name] = answer["id"]

    a.io.emit("all", 1, b"\x02")
    for driver, name in zip(drivers, "abn", strict=True):
        assert (await driver.event(name, "all"))["args"] == [1, b"\x02"]
    b.io.to("red").emit("red")  # a room's own channel in the dynamic modes
    assert (await da.event("a", "red"))["args"] == []
    assert (await dn.event("n", "red"))["args"] == []
    await n.call("emit", rooms=["blue"], event="node-blue")
    assert (await db.event("b", "node-blue"))["args"] == []
    a.io.to(ids["n"]).emit("private")  # a socket id: its own channel only in dynamic-private
    assert (await dn.event("n", "private"))["args"] == []
    await n.call("emit", rooms=[ids["b"]], event="node-private")
    assert (await db.event("b", "node-private"))["args"] == []
    a.io.except_("red").emit("not-red")
    assert (await db.event("b", "not-red"))["args"] == []
    a.io.emit("end")
    for driver, name in zip(drivers, "abn", strict=True):
        await driver.event(name, "end")
    assert db.events("b", "red") == [] and da.events("a", "node-blue") == [] and da.events("a", "not-red") == []

    found = {s.id: s for s in await a.io.fetch_sockets()}
    assert set(found) == set(ids.values())
    assert found[ids["n"]].data == {"where": "node"} and found[ids["n"]].rooms == {ids["n"], "red", "blue"}
    node_view = await n.call("fetchSockets")
    assert sorted(s["id"] for s in node_view["sockets"]) == sorted(ids.values())
    assert await b.io.server_count() == 3

    assert sorted(await a.io.server_side_emit_with_ack("question", "x")) == ["node:x", "py:x"]
    assert sorted((await n.call("serverSideEmitWithAck", event="question", args=["y"]))["responses"]) == [
        "py:y",
        "py:y",
    ]
    assert sorted(await b.io.timeout(5).emit_with_ack("q")) == ["a", "b", "n"]
    assert sorted((await n.call("emitWithAck", event="q", ackTimeout=5000))["responses"]) == ["a", "b", "n"]

    await a.io.in_("blue").sockets_join("joined")
    # two rooms: the namespace's channel. A broadcast to "joined" alone would go on the room's own
    # channel, to which a server subscribes only once the join has reached it (as with Node).
    b.io.to("joined", "nobody-here").emit("joined")
    assert (await db.event("b", "joined"))["args"] == []
    assert (await dn.event("n", "joined"))["args"] == []
    await a.io.in_(ids["n"]).disconnect_sockets()
    assert await dn.disconnected("n") == "io server disconnect"


async def test_sharded_partial_answers_and_channels(
    redis_server: RedisServer, start_py: Any, start_clients: Any
) -> None:
    a = await start_py(create_sharded_adapter(redis_server.url, request_timeout=TIMEOUT))
    await start_py(create_sharded_adapter(redis_server.url, request_timeout=TIMEOUT), silent=True)
    with pytest.raises(AckTimeout) as caught:
        await a.io.server_side_emit_with_ack("question", timeout=0.2)
    assert caught.value.responses == []
    d = await start_clients(a.url)
    assert (await d.connect("c", "websocket", auth={"rooms": ["green"]}))["connected"]
    client = Redis.from_url(redis_server.url)
    try:
        channels = await client.execute_command("PUBSUB", "SHARDCHANNELS", "socket.io#/#*")
        names = {c.decode() for c in channels}
        assert "socket.io#/#" in names and "socket.io#/#green#" in names
        assert f"socket.io#/#{a.io.sockets.adapter.uid}#" in names
        for garbage in (b"", b"{", b"\x91\xc1", b'{"uid":"x","nsp":"/","type":3,"data":{}}'):
            await client.spublish("socket.io#/#", garbage)
        a.io.emit("still")
        await d.event("c", "still")
    finally:
        await client.aclose()


async def test_sharded_requests_in_flight_end_when_redis_goes(redis_server: RedisServer, start_py: Any) -> None:
    import asyncio

    from socketeer.adapters.redis_link import RedisLink

    link = RedisLink(redis_server.url, reconnect_delay=0.02, reconnect_max_delay=0.2)
    a = await start_py(create_sharded_adapter(link, request_timeout=30))
    link_b = RedisLink(redis_server.url, reconnect_delay=0.02, reconnect_max_delay=0.2)
    b = await start_py(create_sharded_adapter(link_b, request_timeout=30), silent=True)
    ask = asyncio.ensure_future(a.io.server_side_emit_with_ack("question", "q"))
    await b.until(lambda: len(b.server_side) == 1)  # received, never answered
    redis_server.stop()
    with pytest.raises(AckTimeout) as caught:
        await asyncio.wait_for(ask, 5)  # not the 30 s of request_timeout
    assert caught.value.responses == []
    redis_server.start()
    assert await link.wait_subscribed(5)
    assert await link_b.wait_subscribed(5)
    assert await a.io.server_count() == 2
