"""The standalone server enforces every requirement of the RFC 6455 opening handshake (section 4.2)."""

from __future__ import annotations

import asyncio

import pytest

import socketeer

TARGET = "/socket.io/?EIO=4&transport=websocket"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD = {
    "Host": "127.0.0.1",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
}


async def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
        return status, headers, body
    finally:
        writer.close()


def _request(
    changes: dict[str, str | None] | None = None, *, method: str = "GET", version: str = "1.1"
) -> bytes:
    headers = {**GOOD, **(changes or {})}
    lines = [f"{method} {TARGET} HTTP/{version}"]
    lines += [f"{name}: {value}" for name, value in headers.items() if value is not None]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@pytest.fixture
async def port() -> int:
    io = socketeer.Server()
    server = await io.serve("127.0.0.1", 0)
    yield server.port
    await io.close()


async def test_valid_handshake_is_accepted(port: int) -> None:
    status, headers, _ = await _exchange(port, _request())
    assert status == 101
    assert headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


async def test_token_lists_are_case_insensitive(port: int) -> None:
    request = _request({"Upgrade": "WebSocket", "Connection": "keep-alive, UPGRADE"})
    status, _, _ = await _exchange(port, request)
    assert status == 101


@pytest.mark.parametrize("version", ["8", "12", "14", "13, 8", "abc"])
async def test_unsupported_version_gets_426_with_the_supported_one(port: int, version: str) -> None:
    status, headers, body = await _exchange(port, _request({"Sec-WebSocket-Version": version}))
    assert status == 426
    assert headers["sec-websocket-version"] == "13"
    assert b"Sec-WebSocket-Version" in body


async def test_missing_version_gets_426(port: int) -> None:
    status, headers, _ = await _exchange(port, _request({"Sec-WebSocket-Version": None}))
    assert (status, headers["sec-websocket-version"]) == (426, "13")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (None, b"missing Sec-WebSocket-Key"),
        ("", b"16 bytes"),
        ("not base64!", b"not base64"),
        ("AAAAAAAAAAAAAAAAAAAA", b"16 bytes"),  # 15 bytes
        ("dGhlIHNhbXBsZSBub25jZQ", b"not base64"),  # padding missing
    ],
)
async def test_missing_or_malformed_key_gets_400(port: int, key: str | None, reason: bytes) -> None:
    status, headers, body = await _exchange(port, _request({"Sec-WebSocket-Key": key}))
    assert status == 400
    assert reason in body
    assert headers["connection"] == "close"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Upgrade": None}, b"Upgrade header"),
        ({"Upgrade": "h2c"}, b"Upgrade header"),
        ({"Connection": None}, b"Connection header"),
        ({"Connection": "keep-alive"}, b"Connection header"),
        ({"Host": None}, b"Host header"),
    ],
)
async def test_missing_tokens_and_host_get_400(
    port: int, changes: dict[str, str | None], reason: bytes
) -> None:
    status, _, body = await _exchange(port, _request(changes))
    assert status == 400
    assert reason in body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_non_get_gets_400(port: int, method: str) -> None:
    status, _, body = await _exchange(port, _request({"Content-Length": "0"}, method=method))
    assert status == 400
    assert b"GET" in body


async def test_http_1_0_gets_400(port: int) -> None:
    status, _, body = await _exchange(port, _request(version="1.0"))
    assert status == 400
    assert b"HTTP/1.1" in body


async def test_a_plain_poll_is_not_taken_for_a_handshake(port: int) -> None:
    request = b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
    status, _, body = await _exchange(port, request)
    assert status == 200
    assert body.startswith(b"0{")
