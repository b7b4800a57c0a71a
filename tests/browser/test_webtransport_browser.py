"""The official browser client in headless Chromium over WebTransport (HTTP/3), against socketeer's
standalone server with ``webtransport=True``: WebTransport alone (the certificate trusted through
``serverCertificateHashes``), and the default upgrade path (polling, then WebTransport)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import socketeer
from cdp_browser import launch
from socketeer.integrations.devcert import DevCertificate, development_certificate
from socketeer.transports.ports import HttpRequest, HttpResponse

ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

DOC_PAGE = ROOT / "docs" / "webtransport.md"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')


def page_javascript(page: Path = DOC_PAGE) -> bytes:
    """The JavaScript the documentation page shows, as the site shows it: its ``js`` blocks, with the
    files they include (pymdownx.snippets) in place. This is what the browser runs below."""
    blocks: list[str] = []
    lines: list[str] | None = None
    for line in page.read_text().splitlines():
        if lines is None:
            if re.match(r"^```(js|javascript)\s*$", line.strip()):
                lines = []
        elif line.strip().startswith("```"):
            blocks.append("\n".join(lines))
            lines = None
        else:
            match = SNIPPET.match(line.strip())
            lines.append((ROOT / match.group(1)).read_text() if match else line)
    assert blocks, f"{page.name} shows no JavaScript"
    return "\n".join(blocks).encode()


PAGE = """<!doctype html><meta charset="utf-8"><title>t</title><script src="/client.js"></script>
<script src="/sample.js"></script>
<script>
window.result = {events: [], connects: 0};
const params = new URLSearchParams(location.search);
const options = JSON.parse(params.get("options"));
const hash = params.get("hash");
if (hash) {
  const value = Uint8Array.from(atob(hash), (c) => c.charCodeAt(0));
  options.transportOptions = {webtransport: {serverCertificateHashes: [{algorithm: "sha-256", value}]}};
}
const sample = params.get("sample");
const socket = window.socket = sample === "webtransport"
  ? connectOverWebTransport(params.get("server"), options.transportOptions.webtransport.serverCertificateHashes[0].value)
  : sample === "upgrade" ? connectWithUpgrades(params.get("server"), options.transportOptions.webtransport)
  : io(params.get("server"), options);
socket.on("connect_error", (err) => { window.result.error = err.message; });
socket.on("connect", () => { window.result.connects += 1; });
socket.on("hello", (value, bytes) => {
  window.result.events.push(["hello", value, Array.from(new Uint8Array(bytes))]);
  socket.emit("add", 2, 3, (sum) => {
    window.result.sum = sum;
    socket.emit("bytes", new Uint8Array([7, 8, 9]));
  });
});
socket.on("bytes-back", (n) => { window.result.bytes = n; });
socket.on("room", (n) => { window.result.room = n; });
</script>"""


def site() -> Any:
    client_js = CLIENT_JS.read_bytes()
    sample_js = page_javascript()

    async def handler(request: HttpRequest) -> HttpResponse:
        if request.path == "/client.js":
            return HttpResponse(200, [("Content-Type", "text/javascript")], client_js)
        if request.path == "/sample.js":  # the JavaScript of the documentation's page
            return HttpResponse(200, [("Content-Type", "text/javascript")], sample_js)
        if request.path == "/":
            return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], PAGE.encode())
        return HttpResponse(404)

    return handler


def make_server(origin: str) -> socketeer.Server:
    io = socketeer.Server(cors=socketeer.CorsConfig([origin]))

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.join("r")
        socket.emit("hello", "world", b"\x01\x02")

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("bytes")
    def on_bytes(socket: socketeer.Socket, data: bytes) -> None:
        socket.emit("bytes-back", list(data))
        io.to("r").emit("room", socket.transport)

    return io


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    return development_certificate(tmp_path_factory.mktemp("cert"), hosts=("127.0.0.1", "localhost"))


@pytest.fixture
async def pages() -> AsyncIterator[int]:
    """A plain-HTTP server for the page (a secure context on 127.0.0.1), another origin than the server's."""
    host = socketeer.Server()
    srv = await host.serve("127.0.0.1", 0, http_handler=site())
    yield srv.port
    await host.close()


def url(
    page_port: int, server_port: int, options: dict[str, Any], cert: DevCertificate | None, sample: str = ""
) -> str:
    query = f"server=https://127.0.0.1:{server_port}&options={json.dumps(options)}&sample={sample}"
    if cert is not None:
        query += "&hash=" + base64.b64encode(cert.sha256).decode().replace("+", "%2B").replace("/", "%2F")
    return f"http://127.0.0.1:{page_port}/?{query}"


async def round_trip(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.wait_for(
        "window.result && window.result.room && window.result", "the round trip"
    )
    assert result["events"] == [["hello", "world", [1, 2]]]
    assert result["sum"] == 5 and result["bytes"] == [7, 8, 9]
    return result


async def test_webtransport_only_with_certificate_hashes(cert: DevCertificate, pages: int) -> None:
    io = make_server(f"http://127.0.0.1:{pages}")
    srv = await io.serve("127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
    try:
        async with launch("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", quic=True) as browser:
            page = await browser(url(pages, srv.port, {}, cert, sample="webtransport"), "webtransport")
            result = await round_trip(page)
            assert result["room"] == "webtransport"
            assert await page.eval("socket.io.engine.transport.name") == "webtransport"
            (socket,) = io.sockets.sockets.values()
            assert socket.transport == "webtransport"
    finally:
        await io.close()


async def test_default_upgrade_path_ends_on_webtransport(cert: DevCertificate, pages: int) -> None:
    """Polling first, then the client probes WebSocket and WebTransport (favoured): it ends on the latter.
    The polling requests go over HTTPS with the same certificate, trusted here through its key's hash."""
    io = make_server(f"http://127.0.0.1:{pages}")
    srv = await io.serve("127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
    spki = base64.b64encode(cert.spki_sha256).decode()
    try:
        async with launch(
            "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            quic=True,
            extra_args=(f"--ignore-certificate-errors-spki-list={spki}",),
        ) as browser:
            page = await browser(url(pages, srv.port, {}, cert, sample="upgrade"), "upgrade")
            await round_trip(page)
            await page.wait_for(
                "socket.io.engine.transport.name === 'webtransport'", "the upgrade to WebTransport"
            )
            assert await page.eval("socket.emit('add', 1, 1, (s) => { window.again = s }), true")
            assert await page.wait_for("window.again", "an ack over WebTransport") == 2
            (socket,) = io.sockets.sockets.values()
            assert socket.transport == "webtransport"
    finally:
        await io.close()


async def test_reconnects_after_the_server_restarts(cert: DevCertificate, pages: int) -> None:
    io = make_server(f"http://127.0.0.1:{pages}")
    srv = await io.serve("127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
    port = srv.port
    try:
        async with launch("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", quic=True) as browser:
            options = {"transports": ["webtransport"], "reconnectionDelay": 100, "reconnectionDelayMax": 200}
            page = await browser(url(pages, port, options, cert), "restart")
            await round_trip(page)
            await io.close()
            await page.wait_for("!socket.connected", "the disconnection")
            io = make_server(f"http://127.0.0.1:{pages}")
            await io.serve("127.0.0.1", port, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
            await page.wait_for("window.result.connects >= 2", "the reconnection")
            assert await page.eval("socket.io.engine.transport.name") == "webtransport"
            assert len(io.sockets.sockets) == 1
    finally:
        await io.close()


def test_what_the_browser_runs_is_the_pages_javascript() -> None:
    shown = page_javascript().decode()
    assert "function connectOverWebTransport(" in shown and "function connectWithUpgrades(" in shown
    assert "--8<--" not in shown
