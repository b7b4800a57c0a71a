"""socketeer's AsyncClient with ``transports=("webtransport",)`` against socketeer's standalone server
over HTTP/3: events, acks, binary, rooms, the certificate checked, the server closing, reconnection."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

import socketeer
from socketeer.integrations.devcert import DevCertificate, development_certificate


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    return development_certificate(tmp_path_factory.mktemp("cert"))


def trusting(cert: DevCertificate) -> ssl.SSLContext:
    """No verification: the development certificate is no CA, so an SSL context cannot hand it to
    aioquic as a trust anchor (only CA certificates are exported from a context)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def make_server() -> socketeer.Server:
    io = socketeer.Server()

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.join("room")
        socket.emit("hello", "world", b"\x01\x02")

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("bytes")
    def on_bytes(socket: socketeer.Socket, data: bytes) -> bytes:
        return data[::-1]

    @io.on("shout")
    def shout(socket: socketeer.Socket, text: str) -> None:
        io.to("room").emit("shouted", text, socket.transport)

    return io


async def serve(io: socketeer.Server, cert: DevCertificate, port: int = 0) -> Any:
    return await io.serve("127.0.0.1", port, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)


async def test_events_acks_binary_and_rooms(cert: DevCertificate) -> None:
    io = make_server()
    srv = await serve(io, cert)
    client = socketeer.AsyncClient(
        f"https://127.0.0.1:{srv.port}", transports=("webtransport",), ssl=trusting(cert), reconnection=False
    )
    hello: asyncio.Future[tuple[str, bytes]] = asyncio.get_running_loop().create_future()
    shouted: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
    client.on("hello", lambda text, data: hello.set_result((text, data)))
    client.on("shouted", lambda text, transport: shouted.set_result((text, transport)))
    try:
        await client.connect()
        assert client.transport == "webtransport"
        assert await asyncio.wait_for(hello, 5) == ("world", b"\x01\x02")
        assert await client.emit_with_ack("add", 2, 3) == 5
        assert await client.emit_with_ack("bytes", b"\x01\x02\x03") == b"\x03\x02\x01"
        client.emit("shout", "hi")
        assert await asyncio.wait_for(shouted, 5) == ("hi", "webtransport")
        (socket,) = io.sockets.sockets.values()
        assert socket.transport == "webtransport"
    finally:
        await client.close()
        await io.close()


async def test_an_untrusted_certificate_is_refused(cert: DevCertificate) -> None:
    io = make_server()
    srv = await serve(io, cert)
    client = socketeer.AsyncClient(
        f"https://127.0.0.1:{srv.port}", transports=("webtransport",), reconnection=False, timeout=3
    )
    try:
        with pytest.raises(ConnectionError):
            await client.connect()
        assert not io.sockets.sockets
    finally:
        await client.close()
        await io.close()


async def test_reconnects_after_the_server_restarts(cert: DevCertificate) -> None:
    io = make_server()
    srv = await serve(io, cert)
    port = srv.port
    client = socketeer.AsyncClient(
        f"https://127.0.0.1:{port}",
        transports=("webtransport",),
        ssl=trusting(cert),
        reconnection_delay=0.05,
        reconnection_delay_max=0.1,
    )
    connects = asyncio.Queue[None]()
    disconnects = asyncio.Queue[str]()
    client.on("connect", lambda: connects.put_nowait(None))
    client.on("disconnect", lambda reason, *rest: disconnects.put_nowait(reason))
    try:
        await client.connect()
        await asyncio.wait_for(connects.get(), 5)
        await io.close()
        assert await asyncio.wait_for(disconnects.get(), 5) in ("transport close", "io server disconnect")
        io = make_server()
        await serve(io, cert, port)
        await asyncio.wait_for(connects.get(), 10)
        assert client.transport == "webtransport"
        assert await client.emit_with_ack("add", 1, 1) == 2
    finally:
        await client.close()
        await io.close()
