"""Tests for socketeer.server.engineio: EngineIOServer on the standalone server and under an ASGI server
(uvicorn, in process), with the official ``engine.io-client`` in each transport mode."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import socketeer
from socketeer import EngineIOServer, EngineIOSocket

DRIVER = Path(__file__).with_name("eio_client_driver.js")
TIMEOUT = 10.0
MODES = {"polling": {"transports": ["polling"]}, "websocket": {"transports": ["websocket"]}, "upgrade": {}}


class EioClient:
    """One official engine.io-client socket in a Node process; observations as dicts."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, node_modules: Path, url: str, **options: Any) -> EioClient:
        proc = await asyncio.create_subprocess_exec(
            "node", str(DRIVER), url, json.dumps(options), "30000",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=str(node_modules)),
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            await self.seen.put(json.loads(line))
        await self.seen.put({"ev": "exited"})

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.seen.get(), TIMEOUT)

    async def expect(self, ev: str) -> dict[str, Any]:
        seen = await self.next()
        assert seen["ev"] == ev, seen
        return seen

    async def message(self) -> str | bytes:
        seen = await self.expect("message")
        return base64.b64decode(seen["bin"]) if "bin" in seen else str(seen["text"])

    async def command(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.command(bin=base64.b64encode(data).decode())
        else:
            await self.command(text=data)

    async def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except asyncio.TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(self._reader, 5)


@contextlib.asynccontextmanager
async def serving(eio: EngineIOServer, host_kind: str) -> AsyncIterator[str]:
    """Serve ``eio`` on loopback (standalone server or uvicorn in this loop); yields the base URL."""
    if host_kind == "standalone":
        server = await eio.serve("127.0.0.1", 0)
        try:
            yield f"http://127.0.0.1:{server.port}"
        finally:
            await eio.close()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        socketeer.ASGIApp(eio),
        ws="websockets-sansio",
        lifespan="on",
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        await eio.close()  # answers held long-polls, which uvicorn would wait for
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


Observed = asyncio.Queue[tuple[str, str, Any]]


def recording_server(**options: Any) -> tuple[EngineIOServer, Observed]:
    """An echo server that greets each client with its id and records (event, sid, value)."""
    eio = EngineIOServer(**options)
    observed: Observed = asyncio.Queue()

    @eio.on("connection")
    def connected(sock: EngineIOSocket) -> None:
        observed.put_nowait(("connection", sock.id, sock.request.query.get("transport")))
        sock.send(f"hello {sock.id}")

    @eio.on("message")
    async def message(sock: EngineIOSocket, data: str | bytes) -> None:  # a coroutine handler
        observed.put_nowait(("message", sock.id, data))
        sock.send(data)

    @eio.on("close")
    def closed(sock: EngineIOSocket, reason: str) -> None:
        observed.put_nowait(("close", sock.id, reason))

    return eio, observed


async def next_observed(observed: Observed, event: str) -> tuple[str, str, Any]:
    item = await asyncio.wait_for(observed.get(), TIMEOUT)
    assert item[0] == event, item
    return item


@pytest.fixture(params=["standalone", "asgi"])
def host_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def start_client(node_modules: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[EioClient] = []

    async def start(url: str, mode: str, **options: Any) -> EioClient:
        client = await EioClient.start(node_modules, url, **MODES[mode], **options)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


async def test_messages_both_ways(host_kind: str, mode: str, start_client: Callable[..., Any]) -> None:
    eio, observed = recording_server()
    async with serving(eio, host_kind) as url:
        client: EioClient = await start_client(url, mode)
        opened = await client.expect("open")
        sid = opened["id"]
        assert opened["transport"] == ("websocket" if mode == "websocket" else "polling")
        assert await next_observed(observed, "connection") == ("connection", sid, opened["transport"])
        assert await client.message() == f"hello {sid}"
        if mode == "upgrade":
            assert (await client.expect("upgrade"))["transport"] == "websocket"
        assert eio.clients[sid].transport == ("polling" if mode == "polling" else "websocket")

        for data in ("text é ✓", b"\x00\x01\xfebinary", "4 looks like a packet type"):
            await client.send(data)
            assert await next_observed(observed, "message") == ("message", sid, data)
            assert await client.message() == data

        eio.send(sid, b"by id")
        assert await client.message() == b"by id"
        eio.send("no-such-sid", "ignored")


async def test_client_close_and_server_close(
    host_kind: str, mode: str, start_client: Callable[..., Any]
) -> None:
    eio, observed = recording_server()
    async with serving(eio, host_kind) as url:
        first: EioClient = await start_client(url, mode)
        second: EioClient = await start_client(url, mode)
        sids = [(await c.expect("open"))["id"] for c in (first, second)]
        for client, sid in zip((first, second), sids, strict=True):
            assert await client.message() == f"hello {sid}"
        for _ in sids:
            await next_observed(observed, "connection")
        if mode == "upgrade":
            for client in (first, second):
                await client.expect("upgrade")

        eio.broadcast("to all")
        for client in (first, second):
            assert await client.message() == "to all"

        await first.command(close=True)
        assert (await first.expect("close"))["reason"] == "forced close"  # the client's own word for it
        assert await next_observed(observed, "close") == ("close", sids[0], "transport close")

        eio.disconnect(sids[1])
        assert (await second.expect("close"))["reason"] == "transport close"
        assert await next_observed(observed, "close") == ("close", sids[1], "forced close")
        assert eio.clients == {}


async def test_close_tells_every_session_and_cancels_handler_tasks(start_client: Callable[..., Any]) -> None:
    eio = EngineIOServer(path="/eio")
    reasons: list[str] = []
    started = asyncio.Event()
    cancelled = asyncio.Event()

    @eio.on("message")
    async def slow(sock: EngineIOSocket, data: str | bytes) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    eio.on("close", lambda sock, reason: reasons.append(reason))
    server = await eio.serve("127.0.0.1", 0)
    client: EioClient = await start_client(f"http://127.0.0.1:{server.port}", "websocket", path="/eio/")
    await client.expect("open")
    await client.send("wait forever")
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await eio.close(timeout=0.01)
    assert cancelled.is_set()
    assert reasons == ["server shutting down"]
    assert (await client.expect("close"))["reason"] == "transport close"


async def test_a_failing_handler_is_logged_and_the_next_one_runs(
    start_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    eio = EngineIOServer()
    got: asyncio.Queue[str | bytes] = asyncio.Queue()

    @eio.on("message")
    def broken(sock: EngineIOSocket, data: str | bytes) -> None:
        raise RuntimeError("boom")

    eio.on("message", lambda sock, data: got.put_nowait(data))
    async with serving(eio, "standalone") as url:
        client: EioClient = await start_client(url, "polling")
        await client.expect("open")
        await client.send("still served")
        assert await asyncio.wait_for(got.get(), TIMEOUT) == "still served"
    assert "error in the Engine.IO message handler broken" in caplog.text


def test_misuse_is_refused_early() -> None:
    eio = EngineIOServer()
    with pytest.raises(ValueError, match="unknown Engine.IO event"):
        eio.on("connect", lambda sock: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="not callable"):
        eio.on("message", "handler")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="str or bytes, not int"):
        eio.broadcast(42)  # type: ignore[arg-type]
    assert eio.engine_config.path == "/engine.io/"
    assert repr(eio) == "<socketeer.EngineIOServer path='/engine.io/' clients=0>"
