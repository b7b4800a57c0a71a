"""The Python client with compression: HTTP-compressed polls and permessage-deflate, against socketeer
and against the official Node server (``perMessageDeflate``), observed through the codec calls."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from client_peers import StartNodeServer

import socketeer
from socketeer.protocol.permessage_deflate import DeflateCodec
from socketeer.transports.ports import HttpRequest, HttpResponse

BIG = "".join(f"line {i}: the quick brown fox jumps over the lazy dog. " for i in range(120))
BIG_PACKET = len("42" + json.dumps(["big", BIG], separators=(",", ":")))

Serve = Callable[[socketeer.Server], Awaitable[str]]


def make_io(**options: object) -> tuple[socketeer.Server, list[tuple[str, str | None]]]:
    """A server that sends BIG on connection and answers "echo" with the length it received; the list
    records (method, Content-Encoding) of every engine response."""
    io = socketeer.Server(**options)  # type: ignore[arg-type]
    responses: list[tuple[str, str | None]] = []
    handle = io.engine.handle_request

    async def recording(request: HttpRequest) -> HttpResponse:
        response = await handle(request)
        responses.append((request.method, dict(response.headers).get("Content-Encoding")))
        return response

    io.engine.handle_request = recording  # type: ignore[method-assign]
    io.on("connection", lambda sock: sock.emit("big", BIG))
    io.on("echo", lambda sock, text: len(text) if text == BIG else -1)
    return io, responses


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


async def test_client_decodes_compressed_polls(serve_socketeer: Serve) -> None:
    io, responses = make_io()
    url = await serve_socketeer(io)
    client = socketeer.AsyncClient(url, transports=["polling"], reconnection=False)
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("big", lambda text: received.set_result(text))
    await client.connect()
    try:
        assert await asyncio.wait_for(received, 5) == BIG
        assert await client.emit_with_ack("echo", BIG) == len(BIG)
    finally:
        await client.close()
    assert ("GET", "gzip") in responses


async def test_socketeer_client_and_server_compress_both_ways(
    serve_socketeer: Serve, codec_calls: CodecCalls
) -> None:
    io, _ = make_io(per_message_deflate=True)
    url = await serve_socketeer(io)
    client = socketeer.AsyncClient(url, transports=["websocket"], reconnection=False)
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("big", lambda text: received.set_result(text))
    await client.connect()
    try:
        assert await asyncio.wait_for(received, 5) == BIG
        assert await client.emit_with_ack("echo", BIG) == len(BIG)
    finally:
        await client.close()
    # ours: the server's BIG (compressed by the server, inflated by the client), then the echo
    assert codec_calls.compressed[:2] == [
        BIG_PACKET,
        len("420" + json.dumps(["echo", BIG], separators=(",", ":"))),
    ]
    assert codec_calls.inflated == codec_calls.compressed[:2]


async def test_compress_false_is_sent_uncompressed(serve_socketeer: Serve, codec_calls: CodecCalls) -> None:
    io = socketeer.Server(per_message_deflate=True)
    url = await serve_socketeer(io)
    client = socketeer.AsyncClient(url, transports=["websocket"], reconnection=False)
    got: asyncio.Queue[str] = asyncio.Queue()
    client.on("m", lambda text: got.put_nowait(text))
    await client.connect()
    try:
        [sock] = io.sockets.sockets.values()
        io.compress(False).emit("m", BIG)
        sock.compress(False).emit("m", BIG)
        assert [await asyncio.wait_for(got.get(), 5) for _ in range(2)] == [BIG, BIG]
        assert codec_calls.compressed == []
        io.emit("m", BIG)
        sock.emit("m", BIG)
        assert [await asyncio.wait_for(got.get(), 5) for _ in range(2)] == [BIG, BIG]
        assert codec_calls.compressed == [BIG_PACKET - 2] * 2  # '42["m",...]': "m" is 2 shorter than "big"
    finally:
        await client.close()


async def test_socketeer_client_not_offering_compression(
    serve_socketeer: Serve, codec_calls: CodecCalls
) -> None:
    io, _ = make_io(per_message_deflate=True)
    url = await serve_socketeer(io)
    client = socketeer.AsyncClient(
        url, transports=["websocket"], reconnection=False, per_message_deflate=False
    )
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("big", lambda text: received.set_result(text))
    await client.connect()
    try:
        assert await asyncio.wait_for(received, 5) == BIG
    finally:
        await client.close()
    assert codec_calls.compressed == codec_calls.inflated == []


@pytest.mark.parametrize(
    "server_options", ['{"threshold": 0}', '{"serverNoContextTakeover": true, "threshold": 0}']
)
async def test_socketeer_client_against_the_official_server(
    codec_calls: CodecCalls, node_server: StartNodeServer, server_options: str
) -> None:
    server = await node_server("--per-message-deflate", server_options)
    client = socketeer.AsyncClient(server.url, transports=["websocket"], reconnection=False)
    echoed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("echoed", lambda text: echoed.set_result(text))
    client.on("welcome", lambda *args: None)
    await client.connect()
    try:
        client.emit("emit_back", BIG)
        assert await asyncio.wait_for(echoed, 5) == BIG
    finally:
        await client.close()
    packet = len("42" + json.dumps(["emit_back", BIG], separators=(",", ":")))
    assert packet in codec_calls.compressed
    assert len("42" + json.dumps(["echoed", BIG], separators=(",", ":"))) in codec_calls.inflated


async def test_under_uvicorn_websocket_compression_is_the_asgi_servers(codec_calls: CodecCalls) -> None:
    """The ASGI app leaves WebSocket framing to the ASGI server: uvicorn negotiates permessage-deflate
    (its default) even though socketeer's per_message_deflate is off, and compresses every message."""
    import socket

    import uvicorn

    from socketeer.integrations.asgi import ASGIApp

    io, _ = make_io()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(
        ASGIApp(io), lifespan="on", log_config=None, log_level="warning", ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        client = socketeer.AsyncClient(
            f"http://127.0.0.1:{sock.getsockname()[1]}", transports=["websocket"], reconnection=False
        )
        received: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        client.on("big", lambda text: received.set_result(text))
        await client.connect()
        try:
            assert await asyncio.wait_for(received, 5) == BIG
        finally:
            await client.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()
    assert BIG_PACKET in codec_calls.inflated  # compressed by uvicorn, inflated by our client
