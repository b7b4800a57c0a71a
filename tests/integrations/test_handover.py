"""One port for Socket.IO and a FastAPI application (``io.serve(app=...)``): the official client in each
transport mode on the standalone server's path, the application's HTTP and WebSockets served by
uvicorn's protocols, connections that switch between the two, the lifespan, bad input and the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse

import socketeer
from interop.interop_node import TRANSPORT_MODES, NodeClients
from socketeer.integrations.handover import AppHandover

TIMEOUT = 10.0


def make_app(events: list[str], release: asyncio.Event | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"greeting": "hello from the lifespan"}
        events.append("shutdown")

    api = FastAPI(lifespan=lifespan)

    @api.get("/api/hello")
    async def hello(request: Request) -> dict[str, Any]:
        return {"hello": "world", "state": request.state.greeting, "scheme": request.url.scheme}

    @api.post("/api/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return {"got": body}

    @api.get("/api/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                yield f"chunk {i}\n".encode()
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="text/plain")

    @api.get("/api/slow")
    async def slow() -> dict[str, str]:
        assert release is not None
        events.append("slow started")
        await release.wait()
        return {"slow": "done"}

    @api.websocket("/api/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"app says {text}")

    return api


def make_io() -> socketeer.Server:
    io = socketeer.Server()

    @io.on("echo")
    def echo(socket: socketeer.Socket, data: Any) -> Any:
        return data

    @io.on("shout")
    def shout(socket: socketeer.Socket, text: str) -> None:
        io.emit("heard", text.upper())

    return io


class Served:
    def __init__(self, io: socketeer.Server, server: Any, events: list[str]) -> None:
        self.io = io
        self.server = server
        self.events = events
        self.port: int = server.port
        self.url = f"http://127.0.0.1:{self.port}"
        self.handover: AppHandover = server.handover

    @property
    def app_requests(self) -> int:
        """Requests that uvicorn's protocols parsed (the application's, or Socket.IO's the slow way)."""
        return int(self.handover.server_state.total_requests)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    events: list[str] = []
    release = asyncio.Event()
    io = make_io()
    server = await io.serve("127.0.0.1", 0, app=make_app(events, release))
    served = Served(io, server, events)
    served.release = release  # type: ignore[attr-defined]
    try:
        yield served
    finally:
        release.set()
        await io.close()


async def exchange(port: int, *requests: bytes, count: int = 1, chunked: bool = False) -> list[bytes]:
    """Send raw requests on one connection, each once the previous one is answered (one byte per write
    if ``chunked``); the raw responses (``count`` of them per write: pipelined requests)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers: list[bytes] = []
    try:
        for request in requests:
            if chunked:
                for i in range(len(request)):
                    writer.write(request[i : i + 1])
                    await writer.drain()
                    await asyncio.sleep(0)
            else:
                writer.write(request)
                await writer.drain()
            for _ in range(count):
                answers.append(await asyncio.wait_for(read_response(reader), TIMEOUT))
    finally:
        writer.close()
    return answers


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return head + await reader.readexactly(length)
    body = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            return head + body


def status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_json(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


def get(path: str, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", "Host: 127.0.0.1", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


POLL = "/socket.io/?EIO=4&transport=polling"


# -- the official client on the fast path, with the application's routes beside it -----------------


@pytest.mark.parametrize("mode", TRANSPORT_MODES)
async def test_official_client_takes_the_fast_path(served: Served, mode: str, node_modules: Path) -> None:
    clients = await NodeClients.start(node_modules, served.url)
    try:
        alice = await clients.connect("alice", mode)
        bob = await clients.connect("bob", mode)
        assert alice["connected"] and bob["connected"], (alice, bob)
        assert await clients.emit_with_ack("alice", "echo", {"n": 1}) == [{"n": 1}]
        await clients.emit("bob", "shout", "hi all")
        assert (await clients.event("alice", "heard"))["args"] == ["HI ALL"]
        assert (await clients.event("bob", "heard"))["args"] == ["HI ALL"]
        async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
            answer = await http.get(f"{served.url}/api/hello")
        assert answer.json()["hello"] == "world"
        # Socket.IO's requests never went through uvicorn's protocols: only the application's one did
        assert served.app_requests == 1
        assert served.handover.handed_over == 1
    finally:
        await clients.close()


# -- the application's HTTP and WebSockets ------------------------------------------------------


async def test_application_routes_answer(served: Served) -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
        hello = await http.get(f"{served.url}/api/hello")
        assert hello.status_code == 200
        assert hello.json() == {"hello": "world", "state": "hello from the lifespan", "scheme": "http"}
        assert hello.headers["server"] == "uvicorn" and "date" in hello.headers
        posted = await http.post(f"{served.url}/api/echo", json={"a": [1, 2, 3], "b": "x" * 10_000})
        assert posted.json() == {"got": {"a": [1, 2, 3], "b": "x" * 10_000}}
        async with http.stream("GET", f"{served.url}/api/stream") as streamed:
            assert streamed.headers.get("transfer-encoding") == "chunked"
            assert (await streamed.aread()) == b"chunk 0\nchunk 1\nchunk 2\n"
        missing = await http.get(f"{served.url}/nowhere")
        assert missing.status_code == 404 and missing.json() == {"detail": "Not Found"}  # FastAPI's 404
    async with websockets.connect(f"ws://127.0.0.1:{served.port}/api/ws") as ws:
        await ws.send("one")
        assert await ws.recv() == "app says one"
        await ws.send("two")
        assert await ws.recv() == "app says two"


async def test_keep_alive_application_request_then_polling(served: Served) -> None:
    app, poll = await exchange(served.port, get("/api/hello"), get(POLL))
    assert status(app) == 200 and body_json(app)["hello"] == "world"
    # the connection is the application's now: the poll is answered the ASGI way (ASGIApp), still right
    assert status(poll) == 200 and b'0{"sid":' in poll
    assert served.app_requests == 2


async def test_keep_alive_polling_then_application_request(served: Served) -> None:
    poll, app, poll_again = await exchange(served.port, get(POLL), get("/api/hello"), get(POLL))
    assert status(poll) == 200 and b'0{"sid":' in poll
    assert status(app) == 200 and body_json(app)["hello"] == "world"
    assert b'0{"sid":' in poll_again
    assert served.app_requests == 2  # the application's request and the poll after it on its connection


async def test_request_lines_arriving_byte_by_byte(served: Served) -> None:
    (app,) = await exchange(served.port, get("/api/hello"), chunked=True)
    assert body_json(app)["hello"] == "world"
    (poll,) = await exchange(served.port, get(POLL), chunked=True)
    assert b'0{"sid":' in poll
    assert served.app_requests == 1


async def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    # behind a Socket.IO request: the standalone server's parser has the application's request too
    poll, app = await exchange(served.port, get(POLL) + get("/api/hello"), count=2)
    assert b'0{"sid":' in poll
    assert status(app) == 200 and body_json(app)["state"] == "hello from the lifespan"
    # a pipelined request cut inside its request line: still one request, answered whole
    hello = get("/api/hello")
    poll, app = await exchange(served.port, get(POLL) + hello[:3], hello[3:])
    assert b'0{"sid":' in poll and body_json(app)["hello"] == "world"
    # behind an application request: uvicorn's pipelining
    app, poll = await exchange(served.port, get("/api/hello") + get(POLL), count=2)
    assert body_json(app)["hello"] == "world" and b'0{"sid":' in poll


async def test_http_1_0(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get("/api/hello", version="1.0"))
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # the server closes the connection
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200") and b'"hello":"world"' in answer
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get(POLL, version="1.0"))
    answer = await asyncio.wait_for(reader.read(), TIMEOUT)
    writer.close()
    assert b'0{"sid":' in answer


async def test_absolute_form_and_empty_lines_before_the_request(served: Served) -> None:
    (poll,) = await exchange(served.port, b"\r\n" + get(f"http://127.0.0.1:{served.port}{POLL}"))
    assert b'0{"sid":' in poll
    (app,) = await exchange(served.port, get(f"http://127.0.0.1:{served.port}/api/hello"))
    assert body_json(app)["hello"] == "world"
    assert served.app_requests == 1


# -- bad input ----------------------------------------------------------------------------------


async def test_bad_request_lines(served: Served) -> None:
    (garbage,) = await exchange(served.port, b"NONSENSE\r\n\r\n")
    assert status(garbage) == 400
    (star,) = await exchange(served.port, b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status(star) in (400, 404)
    limit = served.server.max_header_bytes
    (too_long,) = await exchange(served.port, b"GET /" + b"a" * (limit + 10))
    assert status(too_long) in (400, 431)
    assert served.app_requests == 0


async def test_silent_and_slow_connections_are_closed(served: Served) -> None:
    served.server.request_timeout = 0.2
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /api/hel")  # never finishes its request line
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    assert not served.handover._sniffing


async def test_idle_keep_alive_connections_are_closed(served: Served) -> None:
    served.server.keep_alive_timeout = 0.2
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get(POLL))
    assert b'0{"sid":' in await asyncio.wait_for(read_response(reader), TIMEOUT)
    writer.write(b"GET /api")  # the next request line, never finished
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    assert not served.server._connections and not served.handover._sniffing


async def test_without_uvicorn_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"socketeer\[uvicorn\]"):
        await make_io().serve("127.0.0.1", 0, app=make_app([]))


async def test_unknown_or_conflicting_options_are_type_errors() -> None:
    io = make_io()
    with pytest.raises(TypeError):
        await io.serve("127.0.0.1", 0, app=make_app([]), bogus=1)
    with pytest.raises(TypeError, match="http_handler"):
        await io.serve("127.0.0.1", 0, app=make_app([]), http_handler=lambda request: None)
    with pytest.raises(TypeError, match="port"):
        await io.serve("127.0.0.1", 0, app=make_app([]), app_options={"port": 1})


# -- lifespan, close, TLS -----------------------------------------------------------------------


async def test_lifespan_runs_before_serving_and_after_closing() -> None:
    events: list[str] = []
    io = make_io()
    server = await io.serve("127.0.0.1", 0, app=make_app(events))
    assert events == ["startup"]
    port = server.port
    (app,) = await exchange(port, get("/api/hello"))
    assert body_json(app)["state"] == "hello from the lifespan"
    await io.close()
    assert events == ["startup", "shutdown"]
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    # served again (a test suite's module-level io): the lifespan starts again
    server = await io.serve("127.0.0.1", 0, app=make_app(events))
    await io.close()
    assert events == ["startup", "shutdown", "startup", "shutdown"]


async def test_a_failing_startup_is_an_error_and_nothing_listens() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    io = make_io()
    with pytest.raises(RuntimeError, match="lifespan startup failed"):
        await io.serve("127.0.0.1", 0, app=FastAPI(lifespan=lifespan))
    await io.close()


async def test_close_finishes_application_requests_in_flight(served: Served) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(get("/api/slow"))
    await writer.drain()
    while "slow started" not in served.events:
        await asyncio.sleep(0.01)
    async with websockets.connect(f"ws://127.0.0.1:{served.port}/api/ws") as ws:
        closing = asyncio.ensure_future(served.io.close())
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # uvicorn's "service restart"
        served.release.set()  # type: ignore[attr-defined]
        answer = await asyncio.wait_for(read_response(reader), TIMEOUT)
        assert body_json(answer) == {"slow": "done"} and b"connection: close" in answer.lower()
        await asyncio.wait_for(closing, TIMEOUT)
    writer.close()
    assert served.events[-1] == "shutdown"
    state = served.handover.server_state
    assert not state.connections and not state.tasks and not served.handover._sniffing


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Any:
    devcert = pytest.importorskip("socketeer.integrations.devcert")
    return devcert.development_certificate(tmp_path_factory.mktemp("cert"))


async def test_tls(cert: Any) -> None:
    events: list[str] = []
    io = make_io()
    server = await io.serve(
        "127.0.0.1", 0, app=make_app(events), certfile=cert.certfile, keyfile=cert.keyfile
    )
    context = ssl.create_default_context(cafile=cert.certfile)
    context.check_hostname = False
    try:
        async with httpx.AsyncClient(trust_env=False, verify=context, timeout=TIMEOUT) as http:
            hello = await http.get(f"https://127.0.0.1:{server.port}/api/hello")
            assert hello.json()["scheme"] == "https"
            poll = await http.get(f"https://127.0.0.1:{server.port}{POLL}")
            assert poll.text.startswith('0{"sid":')
        async with websockets.connect(f"wss://127.0.0.1:{server.port}/api/ws", ssl=context) as ws:
            await ws.send("secure")
            assert await ws.recv() == "app says secure"
        client = socketeer.AsyncClient(
            f"https://127.0.0.1:{server.port}", transports=["websocket"], ssl=context
        )
        await client.connect()
        assert await client.emit_with_ack("echo", "over TLS") == "over TLS"
        await client.disconnect()
    finally:
        await io.close()


# -- the CLI ------------------------------------------------------------------------------------

CLI_APP = """
import socketeer
from fastapi import FastAPI

io = socketeer.Server()
api = FastAPI()

@api.get("/api/ping")
async def ping():
    return {"pong": True}

@io.on("echo")
def echo(socket, data):
    return data
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "handover_cli_app.py").write_text(textwrap.dedent(CLI_APP))
    yield tmp_path


async def test_cli_app_option(app_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer", "serve", "handover_cli_app:io", "--app", "handover_cli_app:api",
        "--port", "0", cwd=app_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().strip()
        assert line.startswith("socketeer listening on http://127.0.0.1:"), line
        url = line.removeprefix("socketeer listening on ")
        async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
            assert (await http.get(f"{url}/api/ping")).json() == {"pong": True}
        client = socketeer.AsyncClient(url, transports=["websocket"])
        await client.connect()
        assert await client.emit_with_ack("echo", 7) == 7
        await client.disconnect()
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_cli_app_option_with_workers(app_dir: Path, node_modules: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "socketeer", "serve", "handover_cli_app:io", "--app", "handover_cli_app:api",
        "--port", "0", "--workers", "2", "--no-uvloop",
        cwd=app_dir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith("socketeer listening on http://127.0.0.1:"), line
        url = line.removeprefix("socketeer listening on ").split(" ")[0]
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as http:
                assert (await http.get(f"{url}/api/ping")).json() == {"pong": True}
        clients = await NodeClients.start(node_modules, url)
        try:
            for name, mode in zip(("a", "b", "c"), TRANSPORT_MODES, strict=True):
                assert (await clients.connect(name, mode))["connected"]
                assert await clients.emit_with_ack(name, "echo", name) == [name]
        finally:
            await clients.close()
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--app", "handover_cli_app:nothing"], "has no attribute"),
        (["--app", "handover_cli_app"], "module:attribute"),
    ],
)
def test_cli_refuses_bad_app_options(
    app_dir: Path,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from socketeer.cli import main

    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(str(app_dir))
    assert main(["serve", "handover_cli_app:io", "--port", "0", *argv]) == 2
    assert message in capsys.readouterr().err
