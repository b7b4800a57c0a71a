"""``socketeer.Emitter`` reaching the clients of a socketeer server and of a Node server with the official
Redis adapter; the official ``@socket.io/redis-emitter`` reaching socketeer."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from interop_node import to_wire

import socketeer
from redis_support import RedisServer
from socketeer.adapters.redis import create_adapter
from socketeer.exceptions import LocalProtocolError

NODE_EMITTER = Path(__file__).with_name("redis_emitter.js")
TIMEOUT = 5.0  # requests_timeout of every server (s): only reached where a test expects partial answers


async def run_node_emitter(node_modules: Path, redis: RedisServer, ops: list[dict[str, Any]]) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(NODE_EMITTER),
        redis.url,
        json.dumps(to_wire(ops)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0 and json.loads(out) == {"done": len(ops)}, err.decode()


async def test_the_python_emitter_reaches_socketeer_and_node_servers(
    redis_server: RedisServer, start_py: Any, start_node_server: Any, start_clients: Any
) -> None:
    py = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    node = await start_node_server(redis_server, "classic", requestsTimeout=int(TIMEOUT * 1000))
    dp, dn = await start_clients(py.url), await start_clients(node.url)
    ids = {}
    for name, driver in (("p", dp), ("n", dn)):
        answer = await driver.connect(name, "websocket", auth={"rooms": ["news", name]})
        assert answer["connected"]
        ids[name] = answer["id"]
        assert (await driver.connect(f"{name}-chat", "polling", nsp="/chat"))["connected"]

    async with socketeer.Emitter(redis_server.url) as emitter:
        await emitter.emit("hello", 1, {"a": [True, None]}, b"\x00\xff")
        for driver, name in ((dp, "p"), (dn, "n")):
            assert (await driver.event(name, "hello"))["args"] == [1, {"a": [True, None]}, b"\x00\xff"]
        await emitter.to("news").except_("n").emit("news-not-n")
        await emitter.to(ids["n"]).emit("to-n-id")
        assert (await dp.event("p", "news-not-n"))["args"] == []
        assert (await dn.event("n", "to-n-id"))["args"] == []
        # only once those were written: the official server drops a volatile packet while the
        # client's transport is still busy writing the previous one
        await emitter.volatile.to(["p", "n"]).emit("vol")
        await emitter.of("/chat").emit("chat", "x")
        for driver, name in ((dp, "p-chat"), (dn, "n-chat")):
            assert (await driver.event(name, "chat"))["args"] == ["x"]
        await dp.event("p", "vol")
        await dn.event("n", "vol")

        await emitter.in_("news").sockets_join("joined")
        await emitter.to("joined").emit("joined")
        await dp.event("p", "joined")
        await dn.event("n", "joined")
        await emitter.sockets_leave("joined")
        await emitter.to("joined").emit("nobody")
        await emitter.server_side_emit("hello", "from-emitter")
        await node.expect(ev="server_side", name="hello", args=["from-emitter"])
        await py.until(lambda: ("/", "hello", ["from-emitter"]) in py.server_side)
        await emitter.to(ids["p"]).disconnect_sockets()
        assert await dp.disconnected("p") == "io server disconnect"
        await emitter.emit("end")
        await dn.event("n", "end")
        with pytest.raises(LocalProtocolError):
            await emitter.emit("disconnect")
    assert dn.events("n", "news-not-n") == [] and dp.events("p", "to-n-id") == []
    assert dn.events("n", "nobody") == [] and dp.events("p", "nobody") == []


async def test_the_official_node_emitter_reaches_socketeer(
    redis_server: RedisServer, start_py: Any, start_clients: Any, node_modules: Path
) -> None:
    py = await start_py(create_adapter(redis_server.url, requests_timeout=TIMEOUT))
    d = await start_clients(py.url)
    ids = {}
    for name, rooms in (("a", ["red"]), ("b", ["blue"])):
        answer = await d.connect(name, "websocket", auth={"rooms": rooms})
        assert answer["connected"]
        ids[name] = answer["id"]
    assert (await d.connect("c", "websocket", nsp="/chat"))["connected"]
    await run_node_emitter(
        node_modules,
        redis_server,
        [
            {"op": "emit", "event": "all", "args": [1, b"\x01\x02"]},
            {"op": "emit", "rooms": ["red"], "event": "red"},
            {"op": "emit", "rooms": ["red", "blue"], "except": ["blue"], "event": "red-not-blue"},
            {"op": "emit", "volatile": True, "event": "vol"},
            {"op": "emit", "nsp": "/chat", "event": "chat", "args": ["x"]},
            {"op": "socketsJoin", "rooms": ["blue"], "join": "joined"},
            {"op": "emit", "rooms": ["joined"], "event": "joined"},
            {"op": "socketsLeave", "join": None, "leave": "joined"},
            {"op": "emit", "rooms": ["joined"], "event": "nobody"},
            {"op": "serverSideEmit", "event": "hello", "args": [7]},
            {"op": "disconnectSockets", "rooms": ["red"]},
            {"op": "emit", "event": "end"},
        ],
    )
    assert (await d.event("a", "all"))["args"] == [1, b"\x01\x02"]
    assert (await d.event("a", "red"))["args"] == []
    assert (await d.event("a", "red-not-blue"))["args"] == []
    await d.event("b", "vol")
    assert (await d.event("c", "chat"))["args"] == ["x"]
    await d.event("b", "joined")
    assert await d.disconnected("a") == "io server disconnect"
    await d.event("b", "end")
    await py.until(lambda: ("/", "hello", [7]) in py.server_side)
    assert d.events("b", "red") == [] and d.events("b", "red-not-blue") == [] and d.events("b", "nobody") == []
    assert [s.id for s in await py.io.fetch_sockets()] == [ids["b"]]
