"""The Redis Streams adapter against a real redis-server and the official Node adapter, in one cluster."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from redis_support import RedisServer
from socketeer import Server
from socketeer.adapters.cluster_messages import MessageType
from socketeer.adapters.redis_streams import RedisStreamsOptions, _hash_code, create_adapter

HERE = Path(__file__).resolve().parent
MODES = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}


class JsonLines:
    """A Node child process speaking JSON lines: commands answered by ``re``, the rest observed."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.observed: list[dict[str, Any]] = []
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._changed = asyncio.Event()
        self._next = 0
        self._stderr: list[str] = []
        self._reader = asyncio.ensure_future(self._read())
        self._err = asyncio.ensure_future(self._read_err())

    @classmethod
    async def start(cls, node_modules: Path, script: str, *args: str) -> JsonLines:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(HERE / script),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=str(node_modules)),
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            future = self._pending.pop(message.get("re", -1), None)
            if future is not None:
                future.set_result(message)
            else:
                self.observed.append(message)
            self._changed.set()
        self._changed.set()

    async def _read_err(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self._stderr.append(line.decode(errors="replace"))

    async def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        self.proc.stdin.write((json.dumps({"id": self._next, "cmd": cmd, **params}) + "\n").encode())
        answer = await asyncio.wait_for(future, 10)
        assert "failed" not in answer, answer
        return answer

    def send_line(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())

    async def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            seen = 0
            while True:
                for message in self.observed[seen:]:
                    if predicate(message):
                        self.observed.remove(message)
                        return message
                seen = 0
                if self.proc.returncode is not None and self._reader.done():
                    raise AssertionError(f"process ended; observed {self.observed}; stderr {self._stderr}")
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"not observed; observed {self.observed}; stderr {self._stderr[-5:]}"
            ) from None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)

    async def close(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                self.kill()
                await self.proc.wait()
        for task in (self._reader, self._err):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)


@pytest.fixture
async def procs(node_modules: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[JsonLines] = []

    async def start(script: str, *args: str) -> JsonLines:
        proc = await JsonLines.start(node_modules, script, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        await proc.close()


def python_node(redis_url: str, recovery: bool = False, **options: Any) -> Server:
    io = Server(
        adapter=create_adapter(redis_url, **options),
        connection_state_recovery={"max_disconnection_duration": 60} if recovery else None,
    )

    @io.on("connection")
    def on_connection(socket: Any, auth: Any) -> None:
        if socket.recovered:
            return
        socket.data = {"from": "python"}
        room = (auth or {}).get("room")
        if room:
            socket.join(room)

    @io.on_server_side_emit("ping")
    def on_ping(*args: Any) -> str:
        return "pong-python"

    return io


async def node_server(
    procs: Callable[..., Any], redis_url: str, recovery: bool = False
) -> tuple[JsonLines, str]:
    node = await procs("streams_node_server.js", redis_url, "1" if recovery else "0")
    ready = await node.expect(lambda m: "ready" in m)
    return node, f"http://127.0.0.1:{ready['ready']}"


async def client(procs: Callable[..., Any], url: str, transports: list[str], room: str = "r1") -> JsonLines:
    """An official client (the mover script, which stays on ``url`` until told to move)."""
    proc = await procs("recovery_mover.js", url, url, json.dumps(transports))
    await proc.expect(lambda m: m.get("ev") == "connect")
    return proc


async def until(predicate: Callable[[], Any], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)  # polling the cluster's view, which has no event to await


def test_hash_code_and_stream_names_match_javascript() -> None:
    # values of JavaScript's loop for these strings (including a surrogate pair and an overflow)
    assert _hash_code("/") == 47
    assert _hash_code("/chat") == 46457863
    assert _hash_code("/a-long-namespace-name-\U0001f600") == -439718275
    options = RedisStreamsOptions(stream_count=3)
    assert options.stream_of("/") == "socket.io-2"
    assert options.stream_of("/a-long-namespace-name-\U0001f600") == "socket.io--1"  # JavaScript's %
    assert RedisStreamsOptions().stream_of("/x") == "socket.io"


async def test_mixed_cluster_broadcasts_fetches_and_server_side_emits(
    redis_server: RedisServer, serve_socketeer: Any, procs: Callable[..., Any]
) -> None:
    py = python_node(redis_server.url)
    py_url = await serve_socketeer(py)
    node, node_url = await node_server(procs, redis_server.url)
    on_py = await client(procs, py_url, ["websocket"])
    on_node = await client(procs, node_url, ["polling"])
    other_room = await procs("recovery_mover.js", py_url, py_url, '["websocket"]')
    await other_room.expect(lambda m: m.get("ev") == "connect")

    await until(lambda: _eq(py.server_count(), 2))
    assert (await node.call("count"))["count"] == 2

    # a broadcast from Python reaches the clients of both servers, in the room
    py.to("r1").emit("news", "from-python", {"n": 1})
    for proc in (on_py, on_node, other_room):
        message = await proc.expect(lambda m: m.get("name") == "news")
        assert message["args"] == ["from-python", {"n": 1}]
    # a broadcast from Node reaches the Python server's clients
    await node.call("emit", room="r1", event="hello", args=["from-node", [1, 2]])
    for proc in (on_py, on_node):
        assert (await proc.expect(lambda m: m.get("name") == "hello"))["args"] == ["from-node", [1, 2]]

    # fetch_sockets both ways, with data and rooms
    sockets = await py.fetch_sockets()
    assert sorted(s.data["from"] for s in sockets) == ["node", "python", "python"]
    assert all("r1" in s.rooms for s in sockets)
    fetched = (await node.call("fetch"))["sockets"]
    assert sorted(s["data"]["from"] for s in fetched) == ["node", "python", "python"]

    # server-side emit with acknowledgements both ways
    assert await py.server_side_emit_with_ack("ping", 1) == ["pong-node"]
    seen = await node.expect(lambda m: m.get("ev") == "server_side")
    assert seen["args"] == [1]
    assert (await node.call("sse", event="ping", args=[2], ack=True))["responses"] == ["pong-python"]
    await py.server_side_emit("note", "fire-and-forget")
    assert (await node.expect(lambda m: m.get("name") == "note"))["args"] == ["fire-and-forget"]

    # broadcasts with acknowledgements both ways: one answer per client of the cluster
    assert await py.timeout(5).emit_with_ack("question") == ["answer"] * 3
    assert (await node.call("ask"))["answers"] == ["answer"] * 3

    # sockets_join from Python moves the Node server's socket into a room Python then targets
    node_socket = next(s for s in sockets if s.data["from"] == "node")
    await py.in_(node_socket.id).sockets_join("joined")
    await until(lambda: _joined(node, node_socket.id))
    py.to("joined").emit("only-joined", 7)
    assert (await on_node.expect(lambda m: m.get("name") == "only-joined"))["args"] == [7]


async def _eq(awaitable: Any, value: Any) -> bool:
    return bool(await awaitable == value)


async def _joined(node: JsonLines, sid: str) -> bool:
    fetched = (await node.call("fetch"))["sockets"]
    return any(s["id"] == sid and "joined" in s["rooms"] for s in fetched)


async def test_stream_entries_are_the_official_format(
    redis_server: RedisServer, serve_socketeer: Any
) -> None:
    py = python_node(redis_server.url)
    await serve_socketeer(py)
    py.to("room").emit("e", 1)
    client = aioredis.Redis.from_url(redis_server.url)
    try:

        async def entries() -> bool:
            return bool(await client.xrange("socket.io"))

        await until(entries)
        entry = (await client.xrange("socket.io"))[-1][1]
        assert set(entry) == {b"uid", b"nsp", b"type", b"data"}
        assert entry[b"type"] == str(int(MessageType.BROADCAST)).encode()
        assert json.loads(entry[b"data"]) == {
            "packet": {"type": 2, "nsp": "/", "data": ["e", 1]},
            "opts": {"rooms": ["room"], "except": [], "flags": {}},
        }
        # garbage on the stream and on the channels is ignored, the adapter goes on
        await client.xadd("socket.io", {"uid": "x", "nsp": "/", "type": "3", "data": "not json"})
        await client.xadd("socket.io", {"garbage": b"\xff\x00"})
        await client.publish("socket.io#/#", b"\xc1\xc1 not msgpack")
        await client.publish("socket.io#/#", b"")
        py.emit("after-garbage")
        assert await py.server_count() == 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("mode", list(MODES))
async def test_recovery_on_another_python_node(
    mode: str, redis_server: RedisServer, serve_socketeer: Any, procs: Callable[..., Any]
) -> None:
    a, b = python_node(redis_server.url, recovery=True), python_node(redis_server.url, recovery=True)
    url_a, url_b = await serve_socketeer(a), await serve_socketeer(b)
    await _recover_across(a, b, url_a, url_b, mode, procs)


async def test_recovery_on_a_node_server(
    redis_server: RedisServer, serve_socketeer: Any, procs: Callable[..., Any]
) -> None:
    a = python_node(redis_server.url, recovery=True)
    url_a = await serve_socketeer(a)
    node, url_b = await node_server(procs, redis_server.url, recovery=True)
    mover = await procs("recovery_mover.js", url_a, url_b, json.dumps(MODES["upgrade"]))
    first = await mover.expect(lambda m: m.get("ev") == "connect")
    a.to("r1").emit("before", 1)
    await mover.expect(lambda m: m.get("name") == "before")
    mover.send_line("move")
    await mover.expect(lambda m: m.get("ev") == "disconnect")
    a.to("r1").emit("missed", 2)  # while the client is away
    again = await mover.expect(lambda m: m.get("ev") == "connect")
    assert again == {"ev": "connect", "id": first["id"], "recovered": True}
    missed = await mover.expect(lambda m: m.get("name") == "missed")
    assert missed["args"][0] == 2
    assert (await node.expect(lambda m: m.get("ev") == "connection"))["recovered"] is True


async def _recover_across(
    a: Server, b: Server, url_a: str, url_b: str, mode: str, procs: Callable[..., Any]
) -> None:
    mover = await procs("recovery_mover.js", url_a, url_b, json.dumps(MODES[mode]))
    first = await mover.expect(lambda m: m.get("ev") == "connect")
    assert first["recovered"] is False
    socket = next(iter(a.sockets.sockets.values()))
    socket.data = {"score": 42}
    socket.join("extra")
    a.to("r1").emit("before", 1)
    await mover.expect(lambda m: m.get("name") == "before")
    mover.send_line("move")
    await mover.expect(lambda m: m.get("ev") == "disconnect")
    await until(lambda: _eq(_empty(a), True))
    b.to("extra").emit("missed", "for-extra")
    a.to("nobody").emit("not-for-you", 0)
    b.emit("missed-too", 3)
    again = await mover.expect(lambda m: m.get("ev") == "connect")
    assert again == {"ev": "connect", "id": first["id"], "recovered": True}
    assert (await mover.expect(lambda m: m.get("name") == "missed"))["args"][0] == "for-extra"
    assert (await mover.expect(lambda m: m.get("name") == "missed-too"))["args"][0] == 3
    recovered = b.sockets.sockets[first["id"]]
    assert recovered.recovered and recovered.data == {"score": 42}
    assert {"r1", "extra"} <= recovered.rooms
    assert not [m for m in mover.observed if m.get("name") == "not-for-you"]


async def _empty(io: Server) -> bool:
    return not io.sockets.sockets


async def test_a_sigkilled_node_is_not_waited_for(
    redis_server: RedisServer, serve_socketeer: Any, procs: Callable[..., Any]
) -> None:
    py = python_node(redis_server.url, request_timeout=3.0)
    await serve_socketeer(py)
    node, node_url = await node_server(procs, redis_server.url)
    await client(procs, node_url, ["websocket"])
    await until(lambda: _eq(py.server_count(), 2))
    assert len(await py.fetch_sockets()) == 1
    node.kill()
    await until(lambda: _eq(py.server_count(), 1))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await py.fetch_sockets() == []
    assert await py.server_side_emit_with_ack("ping") == []
    assert loop.time() - started < 1.0


async def test_redis_restart_mid_cluster(
    redis_server: RedisServer,
    serve_socketeer: Any,
    procs: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = python_node(redis_server.url), python_node(redis_server.url)
    url_a = await serve_socketeer(a)
    await serve_socketeer(b)
    on_a = await client(procs, url_a, ["websocket"])
    await until(lambda: _eq(b.server_count(), 2))
    redis_server.restart()  # an outage as the servers see it, the stream's content lost with it
    a.emit("during-outage", 0)  # local delivery goes on
    assert (await on_a.expect(lambda m: m.get("name") == "during-outage"))["args"] == [0]
    await until(lambda: _eq(b.server_count(), 2), timeout=15)  # both resubscribed

    async def delivered() -> bool:
        b.to("r1").emit("after-restart", 1)
        try:
            await on_a.expect(lambda m: m.get("name") == "after-restart", timeout=0.3)
        except AssertionError:
            return False
        return True

    await until(delivered, timeout=15)
    assert await b.server_side_emit_with_ack("ping") == ["pong-python"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "failed" in r.getMessage()]
    assert len(warnings) <= 6  # one per outage and per connection kind, not one per message
