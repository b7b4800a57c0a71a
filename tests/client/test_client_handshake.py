"""The client's side of the RFC 6455 opening handshake, against a tiny fake server on a raw socket.

The fake answers the upgrade request with a crafted response; every deviation must fail the connection
with an error that says what was wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from socketeer.client.engine_client import EngineClient, EngineError, EngineOptions
from socketeer.protocol.websocket_frames import accept_key

Responder = Callable[[dict[str, str]], bytes]


class FakeServer:
    """Reads one HTTP request per connection and writes what ``respond(request headers)`` returns."""

    def __init__(self) -> None:
        self.respond: Responder = lambda headers: b""
        self.requests: list[dict[str, str]] = []
        self.close_after_response = False
        self.server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        self.requests.append(headers)
        writer.write(self.respond(headers))
        try:
            await writer.drain()
            if not self.close_after_response:
                await reader.read()  # until the client gives up
        except ConnectionError:
            pass
        writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    fake.server = await asyncio.start_server(fake._handle, "127.0.0.1", 0)
    yield fake
    fake.server.close()
    await fake.server.wait_closed()


def response(
    headers: dict[str, str], *, status: str = "101 Switching Protocols", extra: str = ""
) -> Responder:
    def respond(request: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status}"]
        for name, value in headers.items():
            lines.append(f"{name}: {value.replace('$ACCEPT', accept_key(request['sec-websocket-key']))}")
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")

    return respond


GOOD = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "$ACCEPT"}


async def _open(fake: FakeServer) -> EngineClient:
    options = EngineOptions(host="127.0.0.1", port=fake.port, transports=("websocket",), timeout=5.0)
    client = EngineClient(options, lambda data: None, lambda reason, error: None)
    await client.open()
    return client


async def test_request_is_a_valid_rfc6455_handshake(fake: FakeServer) -> None:
    fake.respond = response({**GOOD, "Sec-WebSocket-Accept": "wrong"})
    with pytest.raises(EngineError):
        await _open(fake)
    [request] = fake.requests
    assert request["upgrade"] == "websocket"
    assert "upgrade" in request["connection"].lower()
    assert request["sec-websocket-version"] == "13"
    assert "host" in request


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({**GOOD, "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, "wrong Sec-WebSocket-Accept"),
        ({"Upgrade": "websocket", "Connection": "Upgrade"}, "missing Sec-WebSocket-Accept"),
        ({"Connection": "Upgrade", "Sec-WebSocket-Accept": "$ACCEPT"}, "Upgrade header"),
        ({**GOOD, "Upgrade": "h2c"}, "Upgrade header"),
        ({"Upgrade": "websocket", "Sec-WebSocket-Accept": "$ACCEPT"}, "Connection header"),
        (
            {**GOOD, "Sec-WebSocket-Extensions": "x-webkit-deflate-frame"},
            "not offered: x-webkit-deflate-frame",
        ),
        ({**GOOD, "Sec-WebSocket-Extensions": "permessage-deflate; x=1"}, "unknown parameter 'x'"),
        (
            {**GOOD, "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits=8"},
            "8-bit window",
        ),
        ({**GOOD, "Sec-WebSocket-Protocol": "chat"}, "subprotocol 'chat', which was not offered"),
    ],
)
async def test_bad_answers_fail_with_a_clear_error(
    fake: FakeServer, headers: dict[str, str], message: str
) -> None:
    fake.respond = response(headers)
    with pytest.raises(EngineError, match="websocket handshake failed") as info:
        await _open(fake)
    assert message in str(info.value)


async def test_non_101_status_fails_with_the_status(fake: FakeServer) -> None:
    fake.respond = response({"Content-Length": "2"}, status="400 Bad Request", extra="\r\nno")
    with pytest.raises(EngineError, match="status 400") as info:
        await _open(fake)
    assert info.value.status == 400


async def test_headers_split_over_several_lines_are_joined(fake: FakeServer) -> None:
    fake.respond = response({**GOOD, "Connection": "keep-alive"}, extra="Connection: Upgrade\r\n")
    # the handshake passes (the open packet then never comes: the connection times out quietly)
    options = EngineOptions(host="127.0.0.1", port=fake.port, transports=("websocket",), timeout=0.3)
    client = EngineClient(options, lambda data: None, lambda reason, error: None)
    with pytest.raises((asyncio.TimeoutError, EngineError)) as info:
        await client.open()
    assert "handshake failed" not in str(info.value)


async def test_server_closing_during_the_handshake_fails(fake: FakeServer) -> None:
    fake.respond = lambda headers: b"HTTP/1.1 101 Switching"
    fake.close_after_response = True
    with pytest.raises(EngineError, match="connection closed"):
        await _open(fake)


async def test_without_an_offer_any_extension_fails(fake: FakeServer) -> None:
    fake.respond = response({**GOOD, "Sec-WebSocket-Extensions": "permessage-deflate"})
    options = EngineOptions(
        host="127.0.0.1", port=fake.port, transports=("websocket",), timeout=5.0, per_message_deflate=None
    )
    client = EngineClient(options, lambda data: None, lambda reason, error: None)
    with pytest.raises(EngineError, match="extension that was not offered"):
        await client.open()
    assert "sec-websocket-extensions" not in fake.requests[0]


async def test_the_offer_is_sent_by_default(fake: FakeServer) -> None:
    fake.respond = response({**GOOD, "Sec-WebSocket-Accept": "wrong"})
    with pytest.raises(EngineError):
        await _open(fake)
    assert fake.requests[0]["sec-websocket-extensions"] == "permessage-deflate; client_max_window_bits"
