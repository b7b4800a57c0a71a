"""TLS end to end: socketeer's standalone server with an SSL context, socketeer's client over https/wss
in each transport mode, trusting a certificate made for the test."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

import socketeer
from socketeer.exceptions import NotConnected

MODES = {"polling": ("polling",), "websocket": ("websocket",), "upgrade": ("polling", "websocket")}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is required to make the test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.parametrize("mode", MODES)
async def test_client_over_tls(certificate: tuple[Path, Path], mode: str) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))

    io = socketeer.Server()

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.emit("secure", socket.handshake.secure)

    srv = await io.serve("127.0.0.1", 0, ssl=server_context)
    client = socketeer.AsyncClient(
        f"https://127.0.0.1:{srv.port}", transports=MODES[mode], ssl=client_context, reconnection=False
    )
    secure: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("secure", lambda value: secure.set_result(value))
    try:
        await asyncio.wait_for(client.connect(), 10)
        assert await asyncio.wait_for(secure, 5) is True
        assert await client.emit_with_ack("add", 2, 3, timeout=5) == 5
        if mode != "polling":
            for _ in range(200):
                if client.transport == "websocket":
                    break
                await asyncio.sleep(0.01)
            assert client.transport == "websocket"
    finally:
        await client.disconnect()
        await io.close()


async def test_an_untrusted_certificate_is_refused(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    io = socketeer.Server()
    srv = await io.serve("127.0.0.1", 0, ssl=server_context)
    client = socketeer.AsyncClient(
        f"https://127.0.0.1:{srv.port}",
        transports=("websocket",),
        ssl=ssl.create_default_context(),
        reconnection=False,
    )
    try:
        with pytest.raises(NotConnected, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(client.connect(), 10)
    finally:
        await io.close()
