"""Tests for socketeer.integrations.asgi: the ASGI app under real servers (uvicorn with each of its
WebSocket implementations, hypercorn) on loopback, driven by raw Engine.IO / Socket.IO clients
(``websockets`` for WebSocket, ``httpx`` for long-polling)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import hypercorn.asyncio
import hypercorn.config
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import socketeer
from socketeer.integrations.asgi import ASGIApp, Message, Receive, Scope, Send, origin_allowed
from socketeer.transports.ports import HttpRequest

# uvicorn's legacy `websockets` implementation warns that it is deprecated; it is still tested while it ships
pytestmark = pytest.mark.filterwarnings("ignore::uvicorn.config.UvicornDeprecationWarning")

SERVERS = ["uvicorn-websockets", "uvicorn-websockets-sansio", "uvicorn-wsproto", "hypercorn"]
TIMEOUT = 5.0
BODY_MARGIN = 64 * 1024


@pytest.fixture(params=SERVERS)
def server_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def running(app: Any, kind: str) -> AsyncIterator[int]:
    """Serve ``app`` in this event loop on an ephemeral loopback port; yields the port.

    The socket listens before the server starts, so clients may connect at once (the kernel queues them).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    try:
        if kind.startswith("uvicorn-"):
            config = uvicorn.Config(
                app,
                ws=kind.removeprefix("uvicorn-"),
                lifespan="on",
                log_config=None,
                log_level="warning",
                timeout_graceful_shutdown=5,
            )
            server = uvicorn.Server(config)
            task = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                yield port
            finally:
                server.should_exit = True
                await asyncio.wait_for(task, 15)
        else:
            hconfig = hypercorn.config.Config()
            hconfig.bind = [f"fd://{os.dup(sock.fileno())}"]
            hconfig.accesslog = None
            hconfig.graceful_timeout = 5
            stop = asyncio.Event()
            task = asyncio.create_task(hypercorn.asyncio.serve(app, hconfig, shutdown_trigger=stop.wait))
            try:
                yield port
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
    finally:
        sock.close()


def make_io(**options: Any) -> socketeer.Server:
    io = socketeer.Server(**options)

    @io.on("echo")
    def echo(sock: socketeer.Socket, *args: Any) -> None:
        sock.emit("echo", *args)

    @io.on("add")
    def add(sock: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    return io


def ws_url(port: int, query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket{query}"


def poll_url(port: int, query: str = "") -> str:
    return f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling{query}"


def ws_connect(port: int, query: str = "", **options: Any) -> connect:
    return connect(ws_url(port, query), proxy=None, open_timeout=TIMEOUT, **options)


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, timeout=TIMEOUT)


async def recv(ws: ClientConnection) -> str | bytes:
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


async def ws_socketio_connect(ws: ClientConnection) -> dict[str, Any]:
    """Engine.IO open over WebSocket, then a Socket.IO CONNECT to '/'; returns the open payload."""
    opening = await recv(ws)
    assert isinstance(opening, str) and opening[0] == "0"
    payload: dict[str, Any] = json.loads(opening[1:])
    await ws.send("40")
    connected = await recv(ws)
    assert isinstance(connected, str) and connected.startswith("40{")
    return payload


async def polling_socketio_connect(client: httpx.AsyncClient, port: int) -> str:
    """Engine.IO handshake over long-polling, then a Socket.IO CONNECT to '/'; returns the sid."""
    opened = await client.get(poll_url(port))
    assert opened.status_code == 200 and opened.text[0] == "0"
    sid = str(json.loads(opened.text[1:])["sid"])
    posted = await client.post(poll_url(port, f"&sid={sid}"), content=b"40")
    assert posted.status_code == 200 and posted.text == "ok"
    connected = await client.get(poll_url(port, f"&sid={sid}"))
    assert connected.text.startswith("40{")
    return sid


# -- WebSocket ---------------------------------------------------------------------------------------


async def test_websocket_handshake_connect_echo_ack_and_binary(server_kind: str) -> None:
    io = make_io()
    async with running(ASGIApp(io), server_kind) as port, ws_connect(port) as ws:
        opening = await ws_socketio_connect(ws)
        assert opening["upgrades"] == []
        assert opening["pingInterval"] == 25000 and opening["maxPayload"] == 1_000_000
        assert len(io.engine.connections) == 1

        await ws.send('42["echo","hi",{"n":1}]')
        assert await recv(ws) == '42["echo","hi",{"n":1}]'

        await ws.send('421["add",2,3]')
        assert await recv(ws) == "431[5]"

        await ws.send('451-["echo",{"_placeholder":true,"num":0}]')
        await ws.send(b"\x00\x01\xff")
        assert await recv(ws) == '451-["echo",{"_placeholder":true,"num":0}]'
        assert await recv(ws) == b"\x00\x01\xff"

        # several writes queued in one go arrive in order
        for i in range(20):
            await ws.send(f'42["echo",{i}]')
        for i in range(20):
            assert await recv(ws) == f'42["echo",{i}]'


async def test_client_close_is_a_transport_close(server_kind: str) -> None:
    io = make_io()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @io.on("connection")
    def on_connection(sock: socketeer.Socket) -> None:
        sock.on("disconnect", reasons.put_nowait)

    async with running(ASGIApp(io), server_kind) as port:
        async with ws_connect(port) as ws:
            await ws_socketio_connect(ws)
        assert await asyncio.wait_for(reasons.get(), TIMEOUT) == "transport close"
        assert io.engine.connections == {}


async def test_server_side_close_flushes_then_closes(server_kind: str) -> None:
    io = make_io()

    @io.on("bye")
    def bye(sock: socketeer.Socket) -> None:
        sock.emit("farewell", "x" * 10_000)
        sock.disconnect(close=True)

    async with running(ASGIApp(io), server_kind) as port, ws_connect(port) as ws:
        await ws_socketio_connect(ws)
        await ws.send('42["bye"]')
        assert await recv(ws) == '42["farewell","' + "x" * 10_000 + '"]'
        received: list[str | bytes] = []
        with pytest.raises(ConnectionClosed):
            while True:
                received.append(await recv(ws))
        assert all(isinstance(m, str) and m[0] in "14" for m in received)
        assert ws.close_code == 1000
        assert io.engine.connections == {}


async def test_heartbeat_and_ping_timeout(server_kind: str) -> None:
    io = make_io(ping_interval=0.1, ping_timeout=0.3)
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @io.on("connection")
    def on_connection(sock: socketeer.Socket) -> None:
        sock.on("disconnect", reasons.put_nowait)

    async with running(ASGIApp(io), server_kind) as port, ws_connect(port) as ws:
        await ws_socketio_connect(ws)
        for _ in range(3):
            assert await recv(ws) == "2"
            await ws.send("3")
        assert await recv(ws) == "2"  # unanswered: the server gives up after ping_timeout
        assert await asyncio.wait_for(reasons.get(), TIMEOUT) == "ping timeout"
        with pytest.raises(ConnectionClosed):
            await recv(ws)


async def test_websocket_refusals(server_kind: str) -> None:
    io = make_io()
    async with running(ASGIApp(io), server_kind) as port:
        # the engine's own checks: its HTTP error goes back through the websocket.http.response extension
        with pytest.raises(InvalidStatus) as refused:
            async with connect(ws_url(port).replace("EIO=4", "EIO=3"), proxy=None, open_timeout=TIMEOUT):
                pass
        assert refused.value.response.status_code == 400
        assert json.loads(refused.value.response.body or b"") == {
            "code": 5,
            "message": "Unsupported protocol version",
        }
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(port, "&sid=unknown"):
                pass
        assert refused.value.response.status_code == 400

        # cross-site WebSocket hijacking: another origin is refused, the same origin is not
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(port, origin="http://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        async with ws_connect(port, origin=f"http://127.0.0.1:{port}") as ws:
            await ws_socketio_connect(ws)

        # a WebSocket elsewhere, with no other app: refused
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{port}/elsewhere", proxy=None, open_timeout=TIMEOUT):
                pass
        assert refused.value.response.status_code == 403


async def test_cors_config_decides_the_origin(server_kind: str) -> None:
    io = make_io(cors=socketeer.CorsConfig(origins=["http://good.example"]))
    async with running(ASGIApp(io), server_kind) as port:
        async with ws_connect(port, origin="http://good.example") as ws:
            await ws_socketio_connect(ws)
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(port, origin=f"http://127.0.0.1:{port}"):
                pass
        assert refused.value.response.status_code == 403


async def test_allow_request_refusal_answers_403(server_kind: str) -> None:
    async def allow_request(request: HttpRequest) -> bool:
        return request.query.get("token") == "ok"

    io = make_io(allow_request=allow_request)
    async with running(ASGIApp(io), server_kind) as port:
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(port, "&token=no"):
                pass
        assert refused.value.response.status_code == 403
        async with ws_connect(port, "&token=ok") as ws:
            await ws_socketio_connect(ws)


async def test_oversized_websocket_message_closes_with_1009(server_kind: str) -> None:
    io = make_io(max_http_buffer_size=1000)
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @io.on("connection")
    def on_connection(sock: socketeer.Socket) -> None:
        sock.on("disconnect", reasons.put_nowait)

    async with running(ASGIApp(io), server_kind) as port, ws_connect(port) as ws:
        await ws_socketio_connect(ws)
        await ws.send('42["echo","' + "x" * 2000 + '"]')
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(ws)
        assert ws.close_code == 1009
        assert await asyncio.wait_for(reasons.get(), TIMEOUT) == "transport error"


# -- long-polling and the upgrade --------------------------------------------------------------------


async def test_polling_connect_echo_and_binary(server_kind: str) -> None:
    io = make_io()
    async with running(ASGIApp(io), server_kind) as port, http_client() as client:
        sid = await polling_socketio_connect(client, port)
        url = poll_url(port, f"&sid={sid}")
        posted = await client.post(url, content=b'42["echo","p"]\x1e421["add",1,1]')
        assert posted.text == "ok"
        answer = await client.get(url)
        assert answer.text.split("\x1e") == ['42["echo","p"]', "431[2]"]

        posted = await client.post(url, content=b'451-["echo",{"_placeholder":true,"num":0}]\x1ebAQID')
        answer = await client.get(url)
        assert answer.text.split("\x1e") == ['451-["echo",{"_placeholder":true,"num":0}]', "bAQID"]
        assert answer.headers["content-type"].startswith("text/plain")
        await client.post(url, content=b"1")


async def test_polling_to_websocket_upgrade(server_kind: str) -> None:
    io = make_io()
    async with running(ASGIApp(io), server_kind) as port, http_client() as client:
        opened = await client.get(poll_url(port))
        handshake = json.loads(opened.text[1:])
        assert handshake["upgrades"] == ["websocket"]
        sid = handshake["sid"]
        url = poll_url(port, f"&sid={sid}")
        await client.post(url, content=b"40")
        assert (await client.get(url)).text.startswith("40{")

        pending = asyncio.create_task(client.get(url))
        async with ws_connect(port, f"&sid={sid}") as ws:
            await ws.send("2probe")
            assert await recv(ws) == "3probe"
            assert (await asyncio.wait_for(pending, TIMEOUT)).text == "6"
            await ws.send("5")
            await ws.send('42["echo","upgraded"]')
            assert await recv(ws) == '42["echo","upgraded"]'
            connection = io.engine.connections[sid]
            assert connection.transport == "websocket"
            # polling is over for this session
            assert (await client.get(url)).status_code == 400


class PollWatch:
    """An ASGI middleware that tells when a long poll is pending in the app: the app then waits for the
    request's disconnect (its second ``receive`` call, after the one that read the body)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.pending = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or b"sid=" not in scope["query_string"] or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        calls = 0

        async def counting_receive() -> Message:
            nonlocal calls
            calls += 1
            if calls == 2:
                self.pending.set()
            message: Message = await receive()
            return message

        await self.app(scope, counting_receive, send)


async def test_aborted_long_poll_closes_the_session(server_kind: str) -> None:
    io = make_io()
    reasons: asyncio.Queue[str] = asyncio.Queue()

    @io.on("connection")
    def on_connection(sock: socketeer.Socket) -> None:
        sock.on("disconnect", reasons.put_nowait)

    app = PollWatch(ASGIApp(io))
    async with running(app, server_kind) as port:
        async with http_client() as client:
            sid = await polling_socketio_connect(client, port)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )
        await asyncio.wait_for(app.pending.wait(), TIMEOUT)
        assert reasons.empty()
        writer.close()
        await writer.wait_closed()
        assert await asyncio.wait_for(reasons.get(), TIMEOUT) == "transport close"
        assert io.engine.connections == {}


async def test_oversized_post_gets_413(server_kind: str) -> None:
    io = make_io(max_http_buffer_size=1000)
    async with running(ASGIApp(io), server_kind) as port, http_client() as client:
        sid = await polling_socketio_connect(client, port)
        url = poll_url(port, f"&sid={sid}")
        too_big = b"4" + b"x" * (1000 + BODY_MARGIN)
        answer = await client.post(url, content=too_big)
        assert answer.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # streamed: no Content-Length to refuse early
            for _ in range(9):
                yield b"x" * 8192

        handshake = await client.get(poll_url(port))
        sid2 = json.loads(handshake.text[1:])["sid"]
        answer = await client.post(poll_url(port, f"&sid={sid2}"), content=chunks())
        assert answer.status_code == 413

        # over the engine's limit but under the read cap: the engine answers 413 and closes the session
        handshake = await client.get(poll_url(port))
        sid3 = json.loads(handshake.text[1:])["sid"]
        answer = await client.post(poll_url(port, f"&sid={sid3}"), content=b"4" + b"x" * 2000)
        assert answer.status_code == 413
        assert sid3 not in io.engine.connections
        for s in (sid, sid2):
            await client.post(poll_url(port, f"&sid={s}"), content=b"1")


async def test_broadcast_reaches_websocket_and_polling_clients(server_kind: str) -> None:
    io = make_io()
    async with running(ASGIApp(io), server_kind) as port, http_client() as client, ws_connect(port) as ws:
        await ws_socketio_connect(ws)
        sid = await polling_socketio_connect(client, port)
        assert len(io.sockets.sockets) == 2
        io.emit("news", {"n": 1}, b"\x07")
        assert await recv(ws) == '451-["news",{"n":1},{"_placeholder":true,"num":0}]'
        assert await recv(ws) == b"\x07"
        answer = await client.get(poll_url(port, f"&sid={sid}"))
        assert answer.text.split("\x1e") == ['451-["news",{"n":1},{"_placeholder":true,"num":0}]', "bBw=="]
        await client.post(poll_url(port, f"&sid={sid}"), content=b"1")


# -- routing, other apps and lifespan ----------------------------------------------------------------


async def test_path_with_and_without_trailing_slash_and_404(server_kind: str) -> None:
    io = make_io(path="/rt")
    async with running(ASGIApp(io), server_kind) as port, http_client() as client:
        for path in ("/rt", "/rt/"):
            answer = await client.get(f"http://127.0.0.1:{port}{path}?EIO=4&transport=polling")
            assert answer.status_code == 200 and answer.text[0] == "0"
            sid = json.loads(answer.text[1:])["sid"]
            await client.post(
                f"http://127.0.0.1:{port}{path}?EIO=4&transport=polling&sid={sid}", content=b"1"
            )
        answer = await client.get(f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling")
        assert answer.status_code == 404
        answer = await client.get(f"http://127.0.0.1:{port}/rt/?EIO=4&transport=carrier-pigeon")
        assert answer.status_code == 400
        assert answer.json() == {"code": 0, "message": "Transport unknown"}


async def test_mounted_in_front_of_starlette_with_lifespan(server_kind: str) -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.query_params.get('who', '')}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("starlette startup")
        yield
        events.append("starlette shutdown")

    starlette_app = Starlette(routes=[Route("/hello", hello)], lifespan=lifespan)

    async def on_startup() -> None:
        events.append("startup")
        started.set()

    def on_shutdown() -> None:
        events.append("shutdown")

    io = make_io()
    io.add_closer(lambda: events.append("io closed"))
    app = ASGIApp(io, starlette_app, on_startup=on_startup, on_shutdown=on_shutdown)
    async with running(app, server_kind) as port:
        await asyncio.wait_for(started.wait(), TIMEOUT)
        async with http_client() as client:
            answer = await client.get(f"http://127.0.0.1:{port}/hello?who=asgi")
            assert answer.status_code == 200 and answer.text == "hello asgi"
            assert (await client.get(f"http://127.0.0.1:{port}/nowhere")).status_code == 404
            sid = await polling_socketio_connect(client, port)
            await client.post(poll_url(port, f"&sid={sid}"), content=b"1")
        async with ws_connect(port) as ws:
            await ws_socketio_connect(ws)
            await ws.send('421["add",20,22]')
            assert await recv(ws) == "431[42]"
        assert events == ["starlette startup", "startup"]
    assert events == ["starlette startup", "startup", "shutdown", "io closed", "starlette shutdown"]


async def test_mounted_inside_starlette(server_kind: str) -> None:
    io = make_io()
    outer = Starlette(routes=[Mount("/rt", app=ASGIApp(io))])
    async with running(outer, server_kind) as port, http_client() as client:
        opened = await client.get(f"http://127.0.0.1:{port}/rt/socket.io/?EIO=4&transport=polling")
        assert opened.status_code == 200 and opened.text[0] == "0"
        sid = json.loads(opened.text[1:])["sid"]
        url = f"http://127.0.0.1:{port}/rt/socket.io/?EIO=4&transport=polling&sid={sid}"
        await client.post(url, content=b"1")
        uri = f"ws://127.0.0.1:{port}/rt/socket.io/?EIO=4&transport=websocket"
        async with connect(uri, proxy=None, open_timeout=TIMEOUT) as ws:
            await ws_socketio_connect(ws)


async def test_lifespan_without_other_app_closes_io(server_kind: str) -> None:
    events: list[str] = []
    io = make_io()
    io.add_closer(lambda: events.append("io closed"))
    app = ASGIApp(
        io, on_startup=lambda: events.append("startup"), on_shutdown=lambda: events.append("shutdown")
    )
    async with running(app, server_kind) as port, ws_connect(port) as ws:
        await ws_socketio_connect(ws)
    assert events == ["startup", "shutdown", "io closed"]


async def test_other_app_without_lifespan_support(server_kind: str) -> None:
    async def plain(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise RuntimeError(f"cannot handle {scope['type']}")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"plain"})

    events: list[str] = []
    io = make_io()
    app = ASGIApp(
        io, plain, on_startup=lambda: events.append("startup"), on_shutdown=lambda: events.append("shutdown")
    )
    async with running(app, server_kind) as port, http_client() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/x")).text == "plain"
    assert events == ["startup", "shutdown"]


async def test_static_files(server_kind: str, tmp_path: Path) -> None:
    public = tmp_path / "public"
    public.mkdir()
    (public / "app.js").write_text("console.log(1)")
    (public / "index.html").write_text("<p>index</p>")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "home.html").write_text("<p>home</p>")
    io = make_io()
    app = ASGIApp(io, static_files={"/": tmp_path / "home.html", "/static/": public})
    async with running(app, server_kind) as port, http_client() as client:
        base = f"http://127.0.0.1:{port}"
        home = await client.get(base + "/")
        assert home.text == "<p>home</p>" and home.headers["content-type"] == "text/html; charset=utf-8"
        script = await client.get(base + "/static/app.js")
        assert script.text == "console.log(1)"
        assert "javascript" in script.headers["content-type"]
        assert (await client.get(base + "/static/")).text == "<p>index</p>"
        assert (await client.get(base + "/static/missing.js")).status_code == 404
        assert (await client.get(base + "/static/%2e%2e/secret.txt")).status_code == 404
        assert (await client.post(base + "/static/app.js")).status_code == 404
        head = await client.head(base + "/static/app.js")
        assert head.status_code == 200 and head.headers["content-length"] == "14" and head.content == b""


# -- without a server: the fallback refusal and the origin policy ------------------------------------


async def test_refusal_without_the_http_response_extension() -> None:
    io = make_io()
    sent: list[Message] = []
    inbox: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "path": "/socket.io/",
        "query_string": b"EIO=3&transport=websocket",
        "headers": [(b"host", b"example.com")],
    }
    await ASGIApp(io)(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]


@pytest.mark.parametrize(
    ("headers", "cors", "allowed"),
    [
        ({}, None, True),
        ({"origin": "http://a.example", "host": "a.example"}, None, True),
        ({"origin": "https://a.example:8443", "host": "a.example:8443"}, None, True),
        ({"origin": "http://b.example", "host": "a.example"}, None, False),
        ({"origin": "null", "host": "a.example"}, None, False),
        ({"origin": "http://b.example", "host": "a.example"}, socketeer.CorsConfig(), True),
        ({"origin": "http://b.example"}, socketeer.CorsConfig(origins=["http://b.example"]), True),
        ({"origin": "http://c.example"}, socketeer.CorsConfig(origins=["http://b.example"]), False),
    ],
)
def test_origin_policy(headers: dict[str, str], cors: socketeer.CorsConfig | None, allowed: bool) -> None:
    assert origin_allowed(headers, cors) is allowed


def test_exported_lazily_from_the_package() -> None:
    exported: Callable[..., Any] = socketeer.ASGIApp
    assert exported is ASGIApp
