"""The official ``io.engine`` hooks: ``initial_headers`` / ``headers`` listeners and ``generate_id``.

In process through the engine's ports, over the standalone server and an ASGI server with raw clients,
and with the official Node client (which keeps the hooks' cookie and sends it back)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from test_engine_server import EchoHandler, RecordingPort, request
from websockets.asyncio.client import connect

import socketeer
from socketeer.engine.config import CookieConfig, EngineConfig
from socketeer.protocol.engineio_errors import EngineErrorCode
from socketeer.transports.engine_server import EngineServer
from socketeer.transports.ports import HttpRequest

HERE = Path(__file__).resolve().parent
TIMEOUT = 5.0


def header(response: Any, name: str) -> list[str]:
    return [v for n, v in response.headers if n.lower() == name.lower()]


def recording_engine(**options: Any) -> tuple[EngineServer, list[tuple[str, str, str | None]]]:
    engine = EngineServer(EngineConfig(**options), EchoHandler())
    seen: list[tuple[str, str, str | None]] = []

    @engine.on_initial_headers
    def initial(headers: dict[str, str], req: HttpRequest) -> None:
        seen.append(("initial", req.method, headers.get("Set-Cookie")))
        headers["X-Initial"] = "1"

    @engine.on_headers
    def every(headers: dict[str, str], req: HttpRequest) -> None:
        seen.append(("headers", req.method, req.query.get("sid")))
        headers["X-Every"] = "1"

    return engine, seen


# -- in process ----------------------------------------------------------------------------------


async def test_initial_headers_on_the_handshake_only_and_headers_on_every_response() -> None:
    engine, seen = recording_engine(cookie=CookieConfig(name="io"))
    opened = await engine.handle_request(request())
    sid = json.loads(opened.body[1:])["sid"]
    assert header(opened, "X-Initial") == ["1"] and header(opened, "X-Every") == ["1"]
    # the engine's own cookie is in the dict the listeners get, so they may change or drop it
    assert seen == [("initial", "GET", f"io={sid}; Path=/; HttpOnly; SameSite=Lax"), ("headers", "GET", None)]
    assert len(header(opened, "Set-Cookie")) == 1

    seen.clear()
    posted = await engine.handle_request(request("POST", b"4hello", sid=sid))
    polled = await engine.handle_request(request(sid=sid))
    assert posted.body == b"ok" and polled.body == b"4hello"
    for response in (posted, polled):
        assert header(response, "X-Every") == ["1"] and header(response, "X-Initial") == []
    assert seen == [("headers", "POST", sid), ("headers", "GET", sid)]

    # errors are answered as the official server does, without the listeners' headers
    refused = await engine.handle_request(request(sid="nope"))
    assert refused.status == 400 and header(refused, "X-Every") == []


async def test_websocket_headers_for_a_new_session_and_for_an_upgrade() -> None:
    engine, seen = recording_engine()
    assert engine.websocket_headers(request(transport="websocket")) == [("X-Initial", "1"), ("X-Every", "1")]
    assert engine.websocket_headers(request(transport="websocket", sid="abc")) == [("X-Every", "1")]
    assert [kind for kind, _, _ in seen] == ["initial", "headers", "headers"]


async def test_listeners_may_replace_the_cookie_and_bad_headers_are_dropped() -> None:
    engine = EngineServer(EngineConfig(cookie=CookieConfig()), EchoHandler())

    @engine.on_initial_headers
    def replace(headers: dict[str, str], req: HttpRequest) -> None:
        headers["Set-Cookie"] = "mine=1"
        headers["X-Bad"] = "a\r\nInjected: yes"

    opened = await engine.handle_request(request())
    assert header(opened, "Set-Cookie") == ["mine=1"]
    assert header(opened, "X-Bad") == [] and header(opened, "Injected") == []


async def test_no_listeners_no_extra_headers() -> None:
    engine = EngineServer(EngineConfig(), EchoHandler())
    assert engine.websocket_headers(request(transport="websocket")) == []
    opened = await engine.handle_request(request())
    assert [n for n, _ in opened.headers] == ["Content-Type"]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_generate_id_gets_the_request_sync_or_async(asynchronous: bool) -> None:
    engine = EngineServer(EngineConfig(), EchoHandler())
    counter = itertools.count()

    def make_id(req: HttpRequest) -> str:
        return f"{req.query['user']}-{next(counter)}"

    async def make_id_async(req: HttpRequest) -> str:
        await asyncio.sleep(0)
        return make_id(req)

    engine.generate_id = make_id_async if asynchronous else make_id
    opened = await engine.handle_request(request(user="ann"))
    assert json.loads(opened.body[1:])["sid"] == "ann-0"
    assert "ann-0" in engine.connections

    port = RecordingPort()
    engine.accept_websocket(request(transport="websocket", user="bob"), port)
    first = await port.next()
    assert first[0] == "0" and json.loads(first[1:])["sid"] == "bob-1"
    port.receiver.on_ws_text("4hi")
    assert await port.next() == "4hi"


async def test_an_id_already_in_use_is_asked_again() -> None:
    engine = EngineServer(EngineConfig(), EchoHandler())
    ids = iter(["same", "same", "other"])
    engine.generate_id = lambda req: next(ids)
    sids = [json.loads((await engine.handle_request(request())).body[1:])["sid"] for _ in range(2)]
    assert sids == ["same", "other"]


async def test_a_failing_generate_id_refuses_with_bad_request() -> None:
    engine = EngineServer(EngineConfig(), EchoHandler())
    errors: list[tuple[str, int]] = []
    engine.on_connection_error(lambda req, code, message: errors.append((req.query["transport"], int(code))))

    async def broken(req: HttpRequest) -> str:
        raise RuntimeError("id service down")

    engine.generate_id = broken
    refused = await engine.handle_request(request())
    assert (refused.status, json.loads(refused.body)) == (400, {"code": 3, "message": "Bad request"})

    port = RecordingPort()
    engine.accept_websocket(request(transport="websocket"), port)
    for _ in range(5):
        await asyncio.sleep(0)
    assert port.closed == 1011 and port.sent == []
    assert errors == [("polling", EngineErrorCode.BAD_REQUEST), ("websocket", EngineErrorCode.BAD_REQUEST)]
    assert engine.connections == {}


async def test_a_websocket_closed_while_the_id_is_generated_opens_nothing() -> None:
    engine = EngineServer(EngineConfig(), EchoHandler())
    release = asyncio.Event()

    async def slow(req: HttpRequest) -> str:
        await release.wait()
        return "late"

    engine.generate_id = slow
    port = RecordingPort()
    engine.accept_websocket(request(transport="websocket"), port)
    port.receiver.on_ws_close("transport close")
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert port.sent == [] and engine.connections == {}


# -- over the network ----------------------------------------------------------------------------


def hooked_server() -> tuple[socketeer.Server, list[tuple[str, str | None]]]:
    io = socketeer.Server()
    requests: list[tuple[str, str | None]] = []
    counter = itertools.count()

    @io.engine.on_initial_headers
    def initial(headers: dict[str, str], req: HttpRequest) -> None:
        headers["Set-Cookie"] = "hook=sweet; Path=/"

    @io.engine.on_headers
    def every(headers: dict[str, str], req: HttpRequest) -> None:
        headers["X-Hooked"] = "yes"
        requests.append((req.query.get("transport", ""), req.headers.get("cookie")))

    async def make_id(req: HttpRequest) -> str:
        await asyncio.sleep(0)
        return f"custom{next(counter)}"

    io.engine.generate_id = make_id

    @io.on("whoami")
    def whoami(sock: socketeer.Socket) -> dict[str, Any]:
        return {"engine": sock.client.conn.sid, "cookie": sock.client.conn.request.headers.get("cookie")}

    return io, requests


async def run_node_client(node_modules: Path, url: str, mode: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "engine_hooks_client.js"),
        url,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in result, result
    return result


@pytest.mark.parametrize("mode", ["polling", "websocket", "upgrade"])
async def test_the_official_client_sees_the_hooks(
    node_modules: Path, serve_socketeer: Callable[[Any], Any], mode: str
) -> None:
    io, requests = hooked_server()
    url = await serve_socketeer(io)
    result = await run_node_client(node_modules, url, mode)
    assert result["engineId"] == "custom0"
    assert result["answer"]["engine"] == "custom0"
    if mode == "websocket":
        # a new WebSocket session: initial_headers then headers, on the 101
        assert result["upgradeHeaders"]["set-cookie"] == ["hook=sweet; Path=/"]
        assert result["upgradeHeaders"]["x-hooked"] == "yes"
    else:
        # the client stored the handshake's cookie and sent it back on the next requests
        assert requests[0] == ("polling", None)
        assert ("polling", "hook=sweet") in requests[1:]
    if mode == "upgrade":
        assert result["transport"] == "websocket"
        assert ("websocket", "hook=sweet") in requests


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, ws="websockets-sansio", log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.mark.parametrize("integration", ["standalone", "asgi"])
async def test_headers_on_polling_and_on_the_101(
    integration: str, serve_socketeer: Callable[[Any], Any]
) -> None:
    io, _ = hooked_server()
    async with contextlib.AsyncExitStack() as stack:
        if integration == "asgi":
            port = await stack.enter_async_context(uvicorn_serving(socketeer.ASGIApp(io)))
            base = f"127.0.0.1:{port}"
        else:
            base = (await serve_socketeer(io)).removeprefix("http://")
        async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
            opened = await client.get(f"http://{base}/socket.io/?EIO=4&transport=polling")
            assert opened.headers["set-cookie"] == "hook=sweet; Path=/"
            assert opened.headers["x-hooked"] == "yes"
            sid = json.loads(opened.text[1:])["sid"]
            assert sid == "custom0"
            posted = await client.post(f"http://{base}/socket.io/?EIO=4&transport=polling&sid={sid}", content=b"40")
            assert posted.headers["x-hooked"] == "yes" and "set-cookie" not in posted.headers
            async with connect(
                f"ws://{base}/socket.io/?EIO=4&transport=websocket&sid={sid}", proxy=None, open_timeout=TIMEOUT
            ) as upgrade:
                assert upgrade.response is not None
                assert upgrade.response.headers["x-hooked"] == "yes"
                assert "set-cookie" not in upgrade.response.headers
        async with connect(f"ws://{base}/socket.io/?EIO=4&transport=websocket", proxy=None, open_timeout=TIMEOUT) as ws:
            assert ws.response is not None
            assert ws.response.headers["set-cookie"] == "hook=sweet; Path=/"
            assert ws.response.headers["x-hooked"] == "yes"
            opening = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert json.loads(opening[1:])["sid"] == "custom1"
        await io.close()
