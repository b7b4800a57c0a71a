"""Compression with the official clients: HTTP compression of long-polling responses and WebSocket
permessage-deflate, observed on the server side of the wire."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import socketeer
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


async def test_socketeer_client_decodes_compressed_polls(serve_socketeer: Serve) -> None:
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
