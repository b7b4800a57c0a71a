"""The official browser client in headless Chromium, in each transport mode, same-origin and
cross-origin (the page served from another origin, the server allowing it with ``cors``), and refused
cross-origin when the server does not allow it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import socketeer
from cdp_browser import OpenPage, launch
from socketeer.transports.ports import HttpRequest, HttpResponse

ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
MODES = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}

PAGE = """<!doctype html><meta charset="utf-8"><title>t</title><script src="/client.js"></script>
<script>
window.result = {events: []};
const params = new URLSearchParams(location.search);
const socket = window.socket = io(params.get("server"), {transports: JSON.parse(params.get("transports")),
                                         reconnection: false});
socket.on("connect_error", (err) => { window.result.error = err.message; });
socket.on("hello", (value, bytes) => {
  window.result.events.push(["hello", value, Array.from(new Uint8Array(bytes))]);
  socket.emit("add", 2, 3, (sum) => {
    window.result.sum = sum;
    socket.emit("bytes", new Uint8Array([7, 8, 9]));
  });
});
socket.on("bytes-back", (n) => { window.result.bytes = n; });
</script>"""


def site() -> Any:
    client_js = CLIENT_JS.read_bytes()

    async def handler(request: HttpRequest) -> HttpResponse:
        if request.path == "/client.js":
            return HttpResponse(200, [("Content-Type", "text/javascript")], client_js)
        if request.path == "/":
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], PAGE.encode())
        return HttpResponse(404)

    return handler


def make_server(cors: socketeer.CorsConfig | None) -> socketeer.Server:
    io = socketeer.Server(cors=cors)

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.emit("hello", "world", b"\x01\x02")

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("bytes")
    def on_bytes(socket: socketeer.Socket, data: bytes) -> None:
        socket.emit("bytes-back", list(data))

    return io


@pytest.fixture
async def browser() -> AsyncIterator[OpenPage]:
    assert CLIENT_JS.is_file(), f"{CLIENT_JS} is missing: run npm ci --prefix tests/node"
    async with launch("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") as open_page:
        yield open_page


def _url(page_port: int, server_port: int, mode: str) -> str:
    return (
        f"http://127.0.0.1:{page_port}/?server=http://127.0.0.1:{server_port}"
        f"&transports={json.dumps(MODES[mode])}"
    )


async def _check_transport(page: Any, mode: str) -> None:
    if mode == "polling":
        assert await page.eval("socket.io.engine.transport.name") == "polling"
    else:  # the upgrade completes on its own schedule: wait for it
        await page.wait_for("socket.io.engine.transport.name === 'websocket'", "the WebSocket transport")
        assert await page.eval("socket.emit('add', 1, 1, (s) => { window.again = s }), true")
        assert await page.wait_for("window.again", "an ack over the WebSocket") == 2


@pytest.mark.parametrize("mode", MODES)
async def test_same_origin(browser: OpenPage, mode: str) -> None:
    io = make_server(None)
    srv = await io.serve("127.0.0.1", 0, http_handler=site())
    try:
        page = await browser(_url(srv.port, srv.port, mode), mode)
        result = await page.wait_for(
            "window.result && window.result.bytes && window.result", "the round trip"
        )
        assert result["events"] == [["hello", "world", [1, 2]]]
        assert result["sum"] == 5 and result["bytes"] == [7, 8, 9]
        await _check_transport(page, mode)
    finally:
        await io.close()


@pytest.mark.parametrize("mode", MODES)
async def test_cross_origin_allowed_by_cors(browser: OpenPage, mode: str) -> None:
    pages = socketeer.Server()
    page_srv = await pages.serve("127.0.0.1", 0, http_handler=site())
    origin = f"http://127.0.0.1:{page_srv.port}"
    io = make_server(socketeer.CorsConfig([origin]))
    srv = await io.serve("127.0.0.1", 0)
    try:
        page = await browser(_url(page_srv.port, srv.port, mode), mode)
        result = await page.wait_for(
            "window.result && window.result.bytes && window.result", "the round trip"
        )
        assert result["sum"] == 5 and result["bytes"] == [7, 8, 9]
        await _check_transport(page, mode)
    finally:
        await io.close()
        await pages.close()


@pytest.mark.parametrize("mode", ["polling", "websocket"])
async def test_cross_origin_refused_without_cors(browser: OpenPage, mode: str) -> None:
    pages = socketeer.Server()
    page_srv = await pages.serve("127.0.0.1", 0, http_handler=site())
    io = make_server(None)
    srv = await io.serve("127.0.0.1", 0)
    try:
        page = await browser(_url(page_srv.port, srv.port, mode), mode)
        error = await page.wait_for("window.result && window.result.error", "the connection to be refused")
        assert error in ("xhr poll error", "websocket error"), error
        assert not io.sockets.sockets
    finally:
        await io.close()
        await pages.close()
