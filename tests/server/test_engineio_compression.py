"""EngineIOServer takes the compression options of Server, and send(data, compress=False)."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
import websockets

import socketeer
from socketeer.client.http import HttpConnection
from socketeer.protocol.permessage_deflate import DeflateCodec

BIG = "engine.io message " * 400


async def test_websocket_permessage_deflate(monkeypatch: pytest.MonkeyPatch) -> None:
    compressed: list[int] = []
    compress = DeflateCodec.compress

    def recording(codec: DeflateCodec, payload: bytes) -> bytes:
        compressed.append(len(payload))
        return compress(codec, payload)

    monkeypatch.setattr(DeflateCodec, "compress", recording)
    eio = socketeer.EngineIOServer(per_message_deflate=True)
    eio.on("message", lambda sock, data: (sock.send(data), sock.send(data, compress=False)))
    server = await eio.serve("127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{server.port}/engine.io/?EIO=4&transport=websocket"
        async with websockets.connect(url, proxy=None) as ws:  # offers permessage-deflate by default
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            assert str(await ws.recv()).startswith("0{")
            await ws.send("4" + BIG)
            assert [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)] == ["4" + BIG] * 2
    finally:
        await eio.close()
    assert compressed == [len(BIG) + 1]  # the second went uncompressed


async def test_polling_compression_and_compress_false() -> None:
    eio = socketeer.EngineIOServer(http_compression={"threshold": 1000})
    opened: asyncio.Future[socketeer.EngineIOSocket] = asyncio.get_running_loop().create_future()
    eio.on("connection", lambda sock: opened.set_result(sock))
    server = await eio.serve("127.0.0.1", 0)
    http = HttpConnection("127.0.0.1", server.port)
    headers = [("Accept-Encoding", "gzip")]
    try:
        first = await http.request("GET", "/engine.io/?EIO=4&transport=polling", headers, timeout=5)
        sid = json.loads(first.body[1:])["sid"]
        sock = await asyncio.wait_for(opened, 5)
        target = f"/engine.io/?EIO=4&transport=polling&sid={sid}"
        sock.send(BIG)
        compressed = await http.request("GET", target, headers, timeout=5)
        sock.send(BIG, compress=False)
        plain = await http.request("GET", target, headers, timeout=5)
    finally:
        http.close()
        await eio.close()
    assert compressed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(compressed.body) == b"4" + BIG.encode()
    assert "content-encoding" not in plain.headers and plain.body == b"4" + BIG.encode()
