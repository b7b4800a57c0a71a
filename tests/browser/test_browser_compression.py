"""Compression with the official browser client in headless Chromium, which asks for both: long-polling
responses come gzip-compressed (Chromium sends Accept-Encoding and decodes), and the WebSocket offers
permessage-deflate; in each transport mode, large messages cross both ways intact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import socketeer
from cdp_browser import OpenPage, launch
from socketeer.protocol.permessage_deflate import DeflateCodec
from socketeer.transports.ports import HttpRequest, HttpResponse

ROOT = Path(__file__).resolve().parents[2]
CLIENT_JS = ROOT / "tests" / "node" / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
MODES = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}
BIG = "".join(f"row {i}: lorem ipsum dolor sit amet, consectetur adipiscing elit. " for i in range(100))

PAGE = """<!doctype html><meta charset="utf-8"><title>t</title><script src="/client.js"></script>
<script>
const params = new URLSearchParams(location.search);
const socket = window.socket = io({transports: JSON.parse(params.get("transports")), reconnection: false});
socket.on("big", (text) => {
  // once upgraded (if upgrading), send the text back: a large client message on the final transport
  const echo = () => socket.emit("echo", text, (n) => { window.result = {length: text.length, echoed: n,
                                                         transport: socket.io.engine.transport.name}; });
  if (params.get("upgrade") === "1" && socket.io.engine.transport.name !== "websocket") {
    socket.io.engine.once("upgrade", echo);
  } else echo();
});
</script>"""


def site() -> Any:
    client_js = CLIENT_JS.read_bytes()

    async def handler(request: HttpRequest) -> HttpResponse:
        if request.path == "/client.js":
            return HttpResponse(200, [("Content-Type", "text/javascript")], client_js)
        return HttpResponse(200, [("Content-Type", "text/html; charset=utf-8")], PAGE.encode())

    return handler


@pytest.fixture
async def browser() -> AsyncIterator[OpenPage]:
    assert CLIENT_JS.is_file(), f"{CLIENT_JS} is missing: run npm ci --prefix tests/node"
    async with launch("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") as open_page:
        yield open_page


@pytest.mark.parametrize("mode", MODES)
async def test_browser_client_with_both_compressions(
    browser: OpenPage, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    inflated: list[int] = []
    compressed: list[int] = []
    decompress, compress = DeflateCodec.decompress, DeflateCodec.compress

    def recording(codec: DeflateCodec, payload: bytes) -> bytes:
        data = decompress(codec, payload)
        inflated.append(len(data))
        return data

    def recording_compress(codec: DeflateCodec, payload: bytes) -> bytes:
        compressed.append(len(payload))
        return compress(codec, payload)

    monkeypatch.setattr(DeflateCodec, "decompress", recording)
    monkeypatch.setattr(DeflateCodec, "compress", recording_compress)
    io = socketeer.Server(per_message_deflate=True)
    encodings: list[str | None] = []
    handle = io.engine.handle_request

    async def record(request: HttpRequest) -> HttpResponse:
        response = await handle(request)
        if request.method == "GET":
            encodings.append(dict(response.headers).get("Content-Encoding"))
        return response

    io.engine.handle_request = record  # type: ignore[method-assign]
    io.on("connection", lambda sock: sock.emit("big", BIG))
    io.on("echo", lambda sock, text: len(text) if text == BIG else -1)
    srv = await io.serve("127.0.0.1", 0, http_handler=site())
    try:
        query = f"transports={json.dumps(MODES[mode])}&upgrade={int(mode == 'upgrade')}"
        page = await browser(f"http://127.0.0.1:{srv.port}/?{query}", mode)
        result = await page.wait_for("window.result", "the echo of the large message")
    finally:
        await io.close()
    final = "polling" if mode == "polling" else "websocket"
    assert result == {"length": len(BIG), "echoed": len(BIG), "transport": final}
    big_by_gzip = "gzip" in encodings  # BIG came in a compressed poll
    big_by_deflate = any(n > len(BIG) for n in compressed)  # or compressed over the WebSocket
    if mode == "polling":
        assert big_by_gzip and not compressed
    elif mode == "websocket":
        assert big_by_deflate and encodings == []
    else:  # before or after the upgrade, as the timing goes
        assert big_by_gzip or big_by_deflate
    if mode != "polling":
        assert len(BIG) < max(inflated)  # the echo came compressed over the WebSocket
