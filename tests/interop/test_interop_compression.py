"""Compression with the official clients: HTTP compression of long-polling responses and WebSocket
permessage-deflate, observed on the server side of the wire."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import socketeer
from socketeer.protocol.permessage_deflate import DeflateCodec
from socketeer.transports.ports import HttpRequest, HttpResponse

PEER = Path(__file__).with_name("compression_peer.js")
BIG = "".join(f"line {i}: the quick brown fox jumps over the lazy dog. " for i in range(120))

Serve = Callable[[socketeer.Server], Awaitable[str]]


def make_io(**options: Any) -> tuple[socketeer.Server, list[tuple[str, str | None]]]:
    """A server that sends BIG on connection and answers "echo" with the length it received; the list
    records (method, Content-Encoding) of every engine response."""
    io = socketeer.Server(**options)
    responses: list[tuple[str, str | None]] = []
    handle = io.engine.handle_request

    async def recording(request: HttpRequest) -> HttpResponse:
        response = await handle(request)
        responses.append((request.method, dict(response.headers).get("Content-Encoding")))
        return response

    io.engine.handle_request = recording  # type: ignore[method-assign]

    @io.on("connection")
    def on_connection(sock: socketeer.Socket) -> None:
        sock.emit("big", BIG)

    @io.on("echo")
    def echo(sock: socketeer.Socket, text: str) -> int:
        return len(text) if text == BIG else -1

    return io, responses


async def run_peer(node_modules: Path, url: str, **options: Any) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(PEER),
        url,
        json.dumps(options),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert out, err.decode()
    result: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
    return result


# -- HTTP compression ---------------------------------------------------------------------------------


async def test_official_fetch_client_gets_compressed_polls(
    node_modules: Path, serve_socketeer: Serve
) -> None:
    # Node's fetch() sends Accept-Encoding: gzip, deflate and decodes the answer, as browsers do.
    io, responses = make_io()
    result = await run_peer(node_modules, await serve_socketeer(io), transport="fetch")
    assert result == {"ok": True, "transport": "polling", "length": len(BIG), "received": len(BIG)}
    assert ("GET", "gzip") in responses
    assert all(encoding is None for method, encoding in responses if method == "POST")


async def test_official_xhr_client_without_accept_encoding_gets_plain_polls(
    node_modules: Path, serve_socketeer: Serve
) -> None:
    # the Node XMLHttpRequest sends no Accept-Encoding (it may not), so nothing is compressed
    io, responses = make_io()
    result = await run_peer(node_modules, await serve_socketeer(io), transport="polling")
    assert result["ok"] and result["length"] == len(BIG)
    assert responses and all(encoding is None for _, encoding in responses)


async def test_official_client_with_compression_off(node_modules: Path, serve_socketeer: Serve) -> None:
    io, responses = make_io(http_compression=False)
    result = await run_peer(node_modules, await serve_socketeer(io), transport="fetch")
    assert result["ok"] and result["length"] == len(BIG)
    assert all(encoding is None for _, encoding in responses)


# -- WebSocket permessage-deflate ---------------------------------------------------------------------


class CodecCalls:
    """Records what every :class:`DeflateCodec` of this process compresses and inflates."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.compressed: list[int] = []
        self.inflated: list[int] = []
        compress, decompress = DeflateCodec.compress, DeflateCodec.decompress

        def recording_compress(codec: DeflateCodec, payload: bytes) -> bytes:
            self.compressed.append(len(payload))
            return compress(codec, payload)

        def recording_decompress(codec: DeflateCodec, payload: bytes) -> bytes:
            data = decompress(codec, payload)
            self.inflated.append(len(data))
            return data

        monkeypatch.setattr(DeflateCodec, "compress", recording_compress)
        monkeypatch.setattr(DeflateCodec, "decompress", recording_decompress)


@pytest.fixture
def codec_calls(monkeypatch: pytest.MonkeyPatch) -> CodecCalls:
    return CodecCalls(monkeypatch)


BIG_PACKET = len("42" + json.dumps(["big", BIG], separators=(",", ":")))

DEFLATE_OPTIONS = [
    True,
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 11, "level": 9},
]


@pytest.mark.parametrize("options", DEFLATE_OPTIONS, ids=["defaults", "no-context-takeover", "window-bits"])
@pytest.mark.parametrize("transport", ["websocket", "upgrade"])
async def test_official_client_negotiates_permessage_deflate(
    node_modules: Path, serve_socketeer: Serve, codec_calls: CodecCalls, options: Any, transport: str
) -> None:
    io, _ = make_io(per_message_deflate=options)
    result = await run_peer(node_modules, await serve_socketeer(io), transport=transport)
    assert result == {"ok": True, "transport": "websocket", "length": len(BIG), "received": len(BIG)}
    # the client's echo came compressed (the official client's threshold is 1024 too) ...
    assert len(BIG) < max(codec_calls.inflated) < len(BIG) + 100
    if transport == "websocket":  # ... and so did our BIG (sent before the upgrade otherwise)
        assert codec_calls.compressed == [BIG_PACKET]


async def test_official_client_without_compression_connects_uncompressed(
    node_modules: Path, serve_socketeer: Serve, codec_calls: CodecCalls
) -> None:
    io, _ = make_io(per_message_deflate=True)
    result = await run_peer(
        node_modules, await serve_socketeer(io), transport="websocket", perMessageDeflate=False
    )
    assert result["ok"] and result["length"] == len(BIG)
    assert codec_calls.compressed == codec_calls.inflated == []


async def test_server_refusing_compression_still_connects(
    node_modules: Path, serve_socketeer: Serve, codec_calls: CodecCalls
) -> None:
    io, _ = make_io()  # perMessageDeflate is off by default, as in the official server
    result = await run_peer(node_modules, await serve_socketeer(io), transport="websocket")
    assert result["ok"] and result["length"] == len(BIG)
    assert codec_calls.compressed == codec_calls.inflated == []


WS_PEER = """
const WebSocket = require("ws");
const [url, options, big] = [process.argv[1], JSON.parse(process.argv[2]), process.argv[3]];
const ws = new WebSocket(url, { perMessageDeflate: options });
const seen = [];
setTimeout(() => { console.log(JSON.stringify({ error: "timeout", seen })); process.exit(0); }, 8000);
ws.on("message", (data, isBinary) => {
  const text = data.toString();
  seen.push(isBinary ? "binary" : text.slice(0, 2));
  if (text[0] === "0") ws.send("40");
  else if (text.startsWith("40")) {
    for (let i = 0; i < 3; i++) ws.send("42" + i + JSON.stringify(["echo", big]));
  } else if (text.startsWith("43")) {
    if (seen.filter((s) => s === "43").length === 3) {
      console.log(JSON.stringify({ extensions: ws.extensions, seen, acks: text }));
      process.exit(0);
    }
  }
});
ws.on("error", (err) => { console.log(JSON.stringify({ error: err.message, seen })); process.exit(0); });
"""


@pytest.mark.parametrize(
    ("ws_options", "expected_header"),
    [
        ({"threshold": 0}, "permessage-deflate"),
        (
            {
                "threshold": 0,
                "serverNoContextTakeover": True,
                "clientNoContextTakeover": True,
                "serverMaxWindowBits": 10,
                "clientMaxWindowBits": 9,
            },
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=9",
        ),
    ],
)
async def test_node_ws_client_with_requested_parameters(
    node_modules: Path,
    serve_socketeer: Serve,
    codec_calls: CodecCalls,
    ws_options: dict[str, Any],
    expected_header: str,
) -> None:
    io = socketeer.Server(per_message_deflate=True)
    io.on("echo", lambda sock, text: len(text))
    io.on("connection", lambda sock: sock.emit("big", BIG))
    url = (await serve_socketeer(io)).replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    proc = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        WS_PEER,
        url,
        json.dumps(ws_options),
        BIG,
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    result = json.loads(out)
    assert "error" not in result, result
    assert "permessage-deflate" in result["extensions"]
    assert result["seen"] == ["0{", "40", "42", "43", "43", "43"]
    # three messages of the same text, each inflated whole
    assert codec_calls.inflated[-3:] == [len(BIG) + len('42["echo",""]') + 1] * 3
    assert BIG_PACKET in codec_calls.compressed
