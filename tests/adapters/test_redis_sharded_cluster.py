"""The sharded Redis adapter on a real Redis Cluster (three primaries, redis-server 7): two socketeer
servers, official clients on each; rooms whose channels live on different shards."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster as ClusterClient

from redis_support import RedisCluster, free_port
from socketeer.adapters.redis_sharded import create_sharded_adapter

TIMEOUT = 5.0  # request_timeout of every server (s)


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    if cluster.version() < (7,):
        pytest.fail(f"sharded pub/sub needs redis-server 7, found {cluster.version()}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def probe(redis_cluster: RedisCluster) -> AsyncIterator[ClusterClient]:
    """A cluster client of the test's own, to ask where channels live and who subscribes to them."""
    client = ClusterClient.from_url(redis_cluster.url)
    await client.initialize()
    yield client
    await client.aclose()


def rooms_on_each_node(client: ClusterClient, nsp: str = "/") -> list[str]:
    """One room per node: the room's channel (``socket.io#<nsp>#<room>#``) hashes to a slot of that node."""
    found: dict[str, str] = {}
    for i in range(1000):
        room = f"room-{i}"
        node = client.get_node_from_key(f"socket.io#{nsp}#{room}#")
        assert node is not None
        found.setdefault(node.name, room)
        if len(found) == len(client.get_primaries()):
            return sorted(found.values())
    raise AssertionError("no room name for every node")


async def subscribers(client: ClusterClient, channel: str) -> int:
    node = client.get_node_from_key(channel)
    ((_, count),) = await client.pubsub_shardnumsub(channel, target_nodes=node)
    return int(count)


async def until_subscribers(client: ClusterClient, channel: str, count: int) -> None:
    async with asyncio.timeout(TIMEOUT):
        while await subscribers(client, channel) != count:
            await asyncio.sleep(0.02)  # Redis has no event for a subscription made by another connection


@pytest.mark.parametrize("mode", ["static", "dynamic", "dynamic-private"])
async def test_sharded_adapter_on_a_cluster(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    caplog.set_level(logging.INFO, "socketeer.redis")
    r0, r1, r2 = rooms_on_each_node(probe)
    nodes = {probe.get_node_from_key(f"socket.io#/#{room}#").name for room in (r0, r1, r2)}  # type: ignore[union-attr]
    assert len(nodes) == 3
    options = {"cluster": True, "subscription_mode": mode, "request_timeout": TIMEOUT}
    a = await start_py(create_sharded_adapter(redis_cluster.url, **options))
    b = await start_py(create_sharded_adapter(redis_cluster.url, **options))
    da, db = await start_clients(a.url), await start_clients(b.url)
    members = {"a": (da, [r0, r1]), "b": (db, [r1, r2]), "c": (db, [r0])}
    ids = {}
    for name, (driver, rooms) in members.items():
        answer = await driver.connect(name, "websocket", auth={"rooms": rooms}, acks={"q": {"reply": [name]}})
        assert answer["connected"]
        ids[name] = answer["id"]
    assert await a.io.server_count() == 2
    if mode != "static":  # each server subscribes to the channels of its rooms, on the node of each
        await until_subscribers(probe, f"socket.io#/#{r0}#", 2)
        await until_subscribers(probe, f"socket.io#/#{r1}#", 2)
        await until_subscribers(probe, f"socket.io#/#{r2}#", 1)

    a.io.emit("all", 1, b"\x02")
    for name, (driver, _) in members.items():
        assert (await driver.event(name, "all"))["args"] == [1, b"\x02"]
    for sender in (a, b):
        for room in (r0, r1, r2):
            sender.io.to(room).emit("room", room)
    for name, (driver, rooms) in members.items():  # no order between channels of different shards
        got = [(await driver.event(name, "room"))["args"][0] for _ in range(len(rooms) * 2)]
        assert sorted(got) == sorted(rooms * 2)
    a.io.except_(r2).emit("not-r2")
    assert (await db.event("c", "not-r2"))["args"] == []
    assert (await da.event("a", "not-r2"))["args"] == []
    b.io.to(ids["a"]).emit("private")  # a socket id: its own channel in dynamic-private
    assert (await da.event("a", "private"))["args"] == []
    a.io.emit("end")
    for name, (driver, _) in members.items():
        await driver.event(name, "end")
    assert db.events("b", "not-r2") == []
    for name, (driver, rooms) in members.items():
        assert sorted(args[0] for args in driver.events(name, "room")) == sorted(rooms * 2)

    found = {s.id: s for s in await a.io.fetch_sockets()}
    assert set(found) == set(ids.values())
    assert found[ids["b"]].rooms == {ids["b"], r1, r2}
    assert {s.id for s in await a.io.in_(r2).fetch_sockets()} == {ids["b"]}
    assert sorted(await a.io.server_side_emit_with_ack("question", "x")) == ["py:x"]
    assert sorted(await b.io.timeout(TIMEOUT).emit_with_ack("q")) == ["a", "b", "c"]

    await a.io.in_(r2).sockets_join("joined")
    b.io.to("joined", "nobody-here").emit("joined")  # two rooms: the namespace's channel
    assert (await db.event("b", "joined"))["args"] == []
    await a.io.in_(ids["b"]).disconnect_sockets()
    assert await db.disconnected("b") == "io server disconnect"
    if mode != "static":  # r2's last member is gone: b leaves its channel
        await until_subscribers(probe, f"socket.io#/#{r2}#", 0)
        await until_subscribers(probe, f"socket.io#/#{r1}#", 1)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("mode", ["static", "dynamic"])
async def test_mixed_cluster_with_the_official_sharded_adapter_on_create_cluster(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_node_server: Any,
    start_clients: Any,
    mode: str,
) -> None:
    r0, r1, r2 = rooms_on_each_node(probe)
    options = {"cluster": True, "subscription_mode": mode, "request_timeout": TIMEOUT}
    a = await start_py(create_sharded_adapter(redis_cluster.url, **options))
    b = await start_py(create_sharded_adapter(redis_cluster.url, **options))
    n = await start_node_server(redis_cluster, "sharded-cluster", subscriptionMode=mode)
    drivers = [await start_clients(node.url) for node in (a, b, n)]
    da, db, dn = drivers
    ids = {}
    for name, driver, rooms in zip("abn", drivers, ([r0, r1], [r2], [r1, r2]), strict=True):
        answer = await driver.connect(name, "websocket", auth={"rooms": rooms}, acks={"q": {"reply": [name]}})
        assert answer["connected"]
        ids[name] = answer["id"]
    await until_subscribers(probe, "socket.io#/#", 3)  # Node's subscriptions on the other shards too
    if mode == "dynamic":
        for room, count in ((r0, 1), (r1, 2), (r2, 2)):
            await until_subscribers(probe, f"socket.io#/#{room}#", count)

    a.io.emit("all", b"\x01")
    for driver, name in zip(drivers, "abn", strict=True):
        assert (await driver.event(name, "all"))["args"] == [b"\x01"]
    b.io.to(r1).emit("r1-from-py")  # r1's channel, on its own shard in the dynamic mode
    assert (await da.event("a", "r1-from-py"))["args"] == []
    assert (await dn.event("n", "r1-from-py"))["args"] == []
    await n.call("emit", rooms=[r2], event="r2-from-node")
    assert (await db.event("b", "r2-from-node"))["args"] == []
    await n.call("emit", rooms=[r0], event="r0-from-node")
    assert (await da.event("a", "r0-from-node"))["args"] == []
    a.io.except_(r2).emit("not-r2")
    assert (await da.event("a", "not-r2"))["args"] == []
    a.io.emit("end")
    for driver, name in zip(drivers, "abn", strict=True):
        await driver.event(name, "end")
    assert db.events("b", "not-r2") == [] and dn.events("n", "not-r2") == [] and da.events("a", "r2-from-node") == []

    found = {s.id: s for s in await a.io.fetch_sockets()}
    assert set(found) == set(ids.values())
    assert found[ids["n"]].data == {"where": "node"} and found[ids["n"]].rooms == {ids["n"], r1, r2}
    node_view = await n.call("fetchSockets")
    assert sorted(s["id"] for s in node_view["sockets"]) == sorted(ids.values())
    assert await b.io.server_count() == 3
    assert sorted(await a.io.server_side_emit_with_ack("question", "x")) == ["node:x", "py:x"]
    assert sorted((await n.call("serverSideEmitWithAck", event="question", args=["y"]))["responses"]) == [
        "py:y",
        "py:y",
    ]
    assert sorted(await b.io.timeout(TIMEOUT).emit_with_ack("q")) == ["a", "b", "n"]
    await a.io.in_(ids["n"]).disconnect_sockets()
    assert await dn.disconnected("n") == "io server disconnect"


async def test_a_room_joined_and_left_in_a_burst_ends_subscribed_on_its_node(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Dynamic mode: SSUBSCRIBE and SUNSUBSCRIBE of one channel interleave; the confirmations of the
    server's own unsubscriptions are not taken for a moved slot, and the last word is the subscription."""
    caplog.set_level(logging.INFO, "socketeer.redis")
    a = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    da = await start_clients(a.url)
    sid = (await da.connect("a", "websocket"))["id"]
    rooms = rooms_on_each_node(probe)
    for _ in range(20):
        for room in rooms:
            await a.io.in_(sid).sockets_join(room)
        for room in rooms:
            await a.io.in_(sid).sockets_leave(room)
    for room in rooms:
        await a.io.in_(sid).sockets_join(room)
    for room in rooms:
        # the (un)subscriptions of the burst are still under way when the joins return, and nothing tells
        # when the last is done: send until it arrives (bounded), then it must stay subscribed
        async with asyncio.timeout(TIMEOUT):
            while True:
                b.io.to(room).emit("room", room)
                with contextlib.suppress(AssertionError):
                    assert (await da.event("a", "room", timeout=0.2))["args"] == [room]
                    break
    for room in rooms:
        assert await subscribers(probe, f"socket.io#/#{room}#") == 1
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], [r.getMessage() for r in caplog.records]


async def test_a_subscription_sent_to_a_node_that_gave_its_slot_away(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's slot map is stale (the slot moved while it had no channel there): the old node answers
    its SSUBSCRIBE with MOVED, and the link reads the slot map again and subscribes on the new node."""
    caplog.set_level(logging.INFO, "socketeer.redis")
    room = rooms_on_each_node(probe)[1]
    channel = f"socket.io#/#{room}#"
    a = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    da = await start_clients(a.url)
    sid = (await da.connect("a", "websocket"))["id"]
    source = probe.get_node_from_key(channel)
    assert source is not None
    target = next(port for port in redis_cluster.ports if port != source.port)
    redis_cluster.move_slot(probe.keyslot(channel), source.port, target)
    await probe.nodes_manager.initialize()

    await a.io.in_(sid).sockets_join(room)
    await until_subscribers(probe, channel, 1)  # on the new node
    b.io.to(room).emit("moved")
    assert (await da.event("a", "moved"))["args"] == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("slots changed" in m and "MOVED" in m.upper() for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], messages


async def test_a_room_channel_whose_slot_moves_to_another_node(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "socketeer.redis")
    room = rooms_on_each_node(probe)[0]
    channel = f"socket.io#/#{room}#"
    a = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    da = await start_clients(a.url)
    assert (await da.connect("a", "websocket", auth={"rooms": [room]}))["connected"]
    await until_subscribers(probe, channel, 1)
    b.io.to(room).emit("before")
    assert (await da.event("a", "before"))["args"] == []

    source = probe.get_node_from_key(channel)
    assert source is not None
    target = next(port for port in redis_cluster.ports if port != source.port)
    redis_cluster.move_slot(probe.keyslot(channel), source.port, target)
    await probe.nodes_manager.initialize()
    assert probe.get_node_from_key(channel).port == target  # type: ignore[union-attr]
    # the old node unsubscribes server a from the channel; a subscribes again where it is now
    await until_subscribers(probe, channel, 1)
    b.io.to(room).emit("after")  # b's SPUBLISH is MOVED to the new owner
    assert (await da.event("a", "after"))["args"] == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("slots changed" in m for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], messages


async def test_the_documentation_sample(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    serve_socketeer: Any,
    start_py: Any,
    start_clients: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/samples/scaling_sharded_cluster.py, on this cluster (loopback only: never its 10.0.0.x nodes)."""
    monkeypatch.setenv("REDIS_CLUSTER_NODES", ",".join(f"127.0.0.1:{port}" for port in redis_cluster.ports))
    path = Path(__file__).resolve().parents[2] / "docs" / "samples" / "scaling_sharded_cluster.py"
    spec = importlib.util.spec_from_file_location("docs_sample_scaling_sharded_cluster", path)
    assert spec is not None and spec.loader is not None
    sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sample)
    try:
        url = await serve_socketeer(sample.io)
        other = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
        driver = await start_clients(url)
        room = rooms_on_each_node(probe)[2]
        assert (await driver.connect("s", "websocket", auth={"room": room}))["connected"]
        assert await other.io.server_count() == 2
        await until_subscribers(probe, f"socket.io#/#{room}#", 1)
        other.io.to(room).emit("hello")
        assert (await driver.event("s", "hello"))["args"] == []
        sid = (await driver.state("s"))["id"]
        assert [s.rooms for s in await other.io.fetch_sockets()] == [{sid, room}]
    finally:
        await sample.io.close()
        await sample.redis.aclose()


async def test_a_node_restart_is_one_outage_then_subscriptions_come_back(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # it restarts a node of the shared cluster, which is ok again when restart_node returns
    caplog.set_level(logging.INFO, "socketeer.redis")
    a = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    da = await start_clients(a.url)
    assert (await da.connect("a", "websocket"))["connected"]
    node = probe.get_node_from_key("socket.io#/#")  # the namespace's channel: every server reads it
    assert node is not None
    links = [server.io.of("/").adapter.link for server in (a, b)]

    await asyncio.to_thread(redis_cluster.restart_node, redis_cluster.ports.index(node.port))
    for link in links:
        assert await link.wait_health(True, 15)
        assert link.outages == 1
    await until_subscribers(probe, "socket.io#/#", 2)
    b.io.emit("back")
    assert (await da.event("a", "back"))["args"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("unreachable" in m for m in warnings) == 2, warnings  # one per server
    assert sum("reachable again" in m for m in warnings) == 2, warnings


def test_clear_errors_for_what_a_cluster_cannot_do() -> None:
    from redis.asyncio import Redis
    from redis.asyncio.cluster import ClusterNode

    from socketeer.adapters.redis_link import ClusterRedisLink, RedisLink

    nodes = [ClusterNode("127.0.0.1", free_port())]  # never connected: the checks come first
    with pytest.raises(TypeError, match="cluster=True needs a URL"):
        create_sharded_adapter(Redis(), cluster=True)
    with pytest.raises(TypeError, match="sharded pub/sub only"):
        RedisLink(ClusterClient(startup_nodes=nodes))  # the classic and streams adapters' link
    with pytest.raises(ValueError, match="decode_responses=False"):
        ClusterRedisLink(ClusterClient(startup_nodes=nodes, decode_responses=True))
    with pytest.raises(TypeError, match="RedisCluster client or a URL"):
        ClusterRedisLink(Redis())  # type: ignore[arg-type]


async def test_a_cluster_link_carries_shard_channels_only() -> None:
    from socketeer.adapters.redis_link import ClusterRedisLink

    link = ClusterRedisLink(f"redis://127.0.0.1:{free_port()}")
    with pytest.raises(ValueError, match="shard channels only"):
        await link.subscribe(channels={b"c": lambda channel, data: None})
    with pytest.raises(ValueError, match="shard channels only"):
        await link.subscribe(patterns={b"c*": lambda channel, data: None})
    await link.close()


async def test_publishing_while_a_node_is_down(
    redis_cluster: RedisCluster,
    probe: ClusterClient,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Local clients get what is sent while the node of its shard is down (what reaches the other servers
    depends on the cluster client's retries: at most once), one warning per server; once the node is
    back, publishing and subscriptions work again."""
    caplog.set_level(logging.INFO, "socketeer.redis")
    a = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    b = await start_py(create_sharded_adapter(redis_cluster.url, cluster=True, request_timeout=TIMEOUT))
    da, db = await start_clients(a.url), await start_clients(b.url)
    assert (await da.connect("a", "websocket"))["connected"]
    assert (await db.connect("b", "websocket"))["connected"]
    node = probe.get_node_from_key("socket.io#/#")
    assert node is not None
    index = redis_cluster.ports.index(node.port)
    links = [server.io.of("/").adapter.link for server in (a, b)]

    redis_cluster.nodes[index].stop()
    try:
        for link in links:
            assert await link.wait_health(False, 15)
        b.io.emit("during")  # this server's own client has it at once
        assert (await db.event("b", "during"))["args"] == []
    finally:
        await asyncio.to_thread(redis_cluster.start_node, index)
    for link in links:
        assert await link.wait_health(True, 15)
    await until_subscribers(probe, "socket.io#/#", 2)
    b.io.emit("after")
    assert (await da.event("a", "after"))["args"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("unreachable" in m for m in warnings) == 2, warnings
    assert sum("reachable again" in m for m in warnings) == 2, warnings


async def test_a_failover_to_a_replica(
    tmp_path: Path, start_py: Any, start_clients: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The primary of the namespace's channel dies; its replica takes its slots over: one outage per
    server, then the servers subscribe on the new primary and broadcasts flow again."""
    caplog.set_level(logging.INFO, "socketeer.redis")
    cluster = RedisCluster(tmp_path / "ha", replicas=1, node_timeout_ms=1000)
    await asyncio.to_thread(cluster.start)
    client = ClusterClient.from_url(cluster.url)
    try:
        await client.initialize()
        a = await start_py(create_sharded_adapter(cluster.url, cluster=True, request_timeout=TIMEOUT))
        b = await start_py(create_sharded_adapter(cluster.url, cluster=True, request_timeout=TIMEOUT))
        da = await start_clients(a.url)
        assert (await da.connect("a", "websocket"))["connected"]
        primary = client.get_node_from_key("socket.io#/#")
        assert primary is not None
        links = [server.io.of("/").adapter.link for server in (a, b)]

        cluster.nodes[cluster.ports.index(primary.port)].kill()
        for link in links:
            assert await link.wait_health(False, 15)
        for link in links:
            assert await link.wait_health(True, 30)  # once the replica is elected and serves the slots
        await client.nodes_manager.initialize()
        new_primary = client.get_node_from_key("socket.io#/#")
        assert new_primary is not None and new_primary.port != primary.port
        assert await subscribers(client, "socket.io#/#") == 2
        b.io.emit("after")
        assert (await da.event("a", "after"))["args"] == []
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert sum("unreachable" in m for m in warnings) == 2, warnings
        assert sum("reachable again" in m for m in warnings) == 2, warnings
    finally:
        await client.aclose()
        await asyncio.to_thread(cluster.stop)
