"""Faults of a Redis cluster: Redis restarted under the servers, a Node server SIGKILLed, garbage on
the channels. Local work goes on, one warning per outage, requests end with what they have, and the
cluster heals by itself."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest

from redis_support import RedisServer
from socketeer.adapters.redis import create_adapter
from socketeer.adapters.redis_link import RedisLink
from socketeer.exceptions import AckTimeout

TIMEOUT = 5.0  # requests_timeout of every server (s): only reached where a test expects partial answers


def fast_link(url: str) -> RedisLink:
    return RedisLink(url, reconnect_delay=0.02, reconnect_max_delay=0.2)


@pytest.fixture
def loop_errors() -> list[dict[str, Any]]:
    """Whatever reaches the event loop's exception handler during the test."""
    errors: list[dict[str, Any]] = []
    asyncio.get_event_loop().set_exception_handler(lambda loop, context: errors.append(context))
    return errors


async def test_redis_restart_local_delivery_goes_on_and_the_cluster_heals(
    redis_server: RedisServer,
    start_py: Any,
    start_clients: Any,
    caplog: pytest.LogCaptureFixture,
    loop_errors: list[dict[str, Any]],
) -> None:
    links = [fast_link(redis_server.url), fast_link(redis_server.url)]
    a = await start_py(create_adapter(links[0], requests_timeout=TIMEOUT))
    b = await start_py(create_adapter(links[1], requests_timeout=TIMEOUT))
    da, db = [await start_clients(node.url) for node in (a, b)]
    assert (await da.connect("a", "websocket"))["connected"]
    assert (await db.connect("b", "websocket"))["connected"]
    a.io.emit("before")
    await db.event("b", "before")

    caplog.set_level(logging.WARNING, logger="socketeer.redis")
    redis_server.stop()
    for link in links:
        assert await link.wait_health(False, 5)
    for n in range(20):  # many messages during the outage: still one warning per server
        a.io.emit("during", n)
    for n in range(20):
        assert (await da.event("a", "during"))["args"] == [n]
    assert [s.id for s in await a.io.fetch_sockets()] == [(await da.state("a"))["id"]]
    assert await a.io.server_side_emit_with_ack("question", 1) == []
    await asyncio.wait_for(a.io.sockets_join("during-outage"), 2)  # applied here, dropped for the others
    assert "during-outage" in await a.io.all_rooms()

    redis_server.start()
    for link in links:
        assert await link.wait_health(True, 5)
        assert await link.wait_subscribed(5)
    a.io.emit("after")
    assert (await db.event("b", "after"))["args"] == []
    assert await a.io.server_count() == 2
    assert db.events("b", "during") == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("unreachable" in w for w in warnings) == 2, warnings  # one per server
    assert sum("reachable again" in w for w in warnings) == 2, warnings
    assert loop_errors == []


async def test_requests_in_flight_end_with_the_answers_so_far_when_redis_goes(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, loop_errors: list[dict[str, Any]]
) -> None:
    a = await start_py(create_adapter(fast_link(redis_server.url), requests_timeout=30))
    await start_py(create_adapter(redis_server.url, requests_timeout=30), silent=True)
    node = await start_node_server(redis_server, "classic", requestsTimeout=30_000)
    ask = asyncio.ensure_future(a.io.server_side_emit_with_ack("question", "q"))
    await node.expect(ev="server_side", name="question")  # the node answered; the silent server will not
    loop = asyncio.get_running_loop()
    started = loop.time()
    redis_server.stop()
    with pytest.raises(AckTimeout) as caught:
        await asyncio.wait_for(ask, 10)
    assert loop.time() - started < 5  # not the 30 s of requests_timeout
    assert caught.value.responses == ["node:q"]
    assert loop_errors == []


async def test_a_sigkilled_node_is_left_out_of_requests(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    a = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    node = await start_node_server(redis_server, "classic", requestsTimeout=int(TIMEOUT * 1000))
    dn = await start_clients(node.url)
    assert (await dn.connect("n", "websocket"))["connected"]
    assert len(await a.io.fetch_sockets()) == 1
    node.kill()
    await node.proc.wait()
    loop = asyncio.get_running_loop()
    # Redis drops the dead node's subscriptions with its connections: the cluster has one server left
    started = loop.time()
    assert await a.io.fetch_sockets() == []
    assert await a.io.server_side_emit_with_ack("question") == []
    assert loop.time() - started < TIMEOUT


async def test_garbage_on_every_channel_is_ignored(
    redis_server: RedisServer, start_py: Any, start_clients: Any, loop_errors: list[dict[str, Any]]
) -> None:
    from redis.asyncio import Redis

    a = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    b = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    db = await start_clients(b.url)
    assert (await db.connect("b", "websocket", auth={"rooms": ["red"]}))["connected"]
    client = Redis.from_url(redis_server.url)
    channels = [
        b"socket.io#/#",
        b"socket.io#/#red#",
        b"socket.io-request#/#",
        b"socket.io-response#/#",
        b"socket.io#/chat#",
        b"socket.io-request#/chat#",
    ]
    garbage = [
        b"",
        b"{",
        b"{}",
        b'{"type": 7}',
        b'{"uid": "x", "type": 5, "requestId": 1, "opts": 7}',
        b"\x93\xa1x\x80\x80",
        b"\xc1",
        b"\x92\x01",
        os.urandom(64),
    ]
    try:
        for channel in channels:
            for data in garbage:
                await client.publish(channel, data)
        # the cluster still works, in both directions
        a.io.to("red").emit("still", "ok")
        assert (await db.event("b", "still"))["args"] == ["ok"]
        assert len(await a.io.fetch_sockets()) == 1
    finally:
        await client.aclose()
    assert loop_errors == []
