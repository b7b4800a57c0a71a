"""Raw peers for the abuse tests: a byte-level WebSocket client, a one-shot HTTP client, and a healthy
Socket.IO client written against the wire protocol with ``websockets`` (no socketeer client code).

The hostile peers use socketeer's own sans-I/O frame codec only to *build* frames; everything they send
can be malformed on purpose (unmasked, fragmented control frames, bad UTF-8, lies about lengths).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect as ws_connect

from socketeer.protocol.websocket_frames import (
    FrameReader,
    Opcode,
    build_close_frame,
    build_frame,
    build_handshake_request,
    check_handshake_response,
    generate_client_key,
    generate_mask,
    parse_close_payload,
)

__all__ = [
    "EIO_WS",
    "HttpReply",
    "RawWebSocket",
    "healthy_echo",
    "http",
    "polling_open",
]

EIO_WS = "/socket.io/?EIO=4&transport=websocket"
EIO_POLL = "/socket.io/?EIO=4&transport=polling"


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _read_reply(reader: asyncio.StreamReader) -> HttpReply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return HttpReply(status, headers, body)


async def http(
    port: int,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> HttpReply:
    """One HTTP/1.1 request on a fresh connection (``Connection: close``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        return await asyncio.wait_for(_read_reply(reader), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def polling_open(port: int) -> str:
    """A polling handshake; returns the Engine.IO sid (no Socket.IO namespace joined)."""
    reply = await http(port, "GET", EIO_POLL)
    assert reply.status == 200, reply
    assert reply.body[:1] == b"0", reply.body
    sid = json.loads(reply.body[1:].split(b"\x1e")[0])["sid"]
    return str(sid)


class RawWebSocket:
    """A WebSocket client that writes whatever bytes it is told to, masked or not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._frames = FrameReader(client_side=True, max_message_size=1 << 30)
        self._queue: list[tuple[int, bytes | str]] = []
        self.close_code: int | None = None

    @classmethod
    async def connect(
        cls, port: int, target: str = EIO_WS, headers: dict[str, str] | None = None
    ) -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = generate_client_key()
        extra = list((headers or {}).items())
        writer.write(build_handshake_request(f"127.0.0.1:{port}", target, key, extra))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        response_headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                response_headers[name.strip().lower()] = value.strip()
        check_handshake_response(status, response_headers, key)
        return cls(reader, writer)

    # -- sending -------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def send_text(self, text: str | bytes) -> None:
        payload = text.encode() if isinstance(text, str) else text
        self.send_raw(build_frame(Opcode.TEXT, payload, mask=generate_mask()))

    def send_binary(self, data: bytes) -> None:
        self.send_raw(build_frame(Opcode.BINARY, data, mask=generate_mask()))

    def send_close(self, code: int = 1000) -> None:
        self.send_raw(build_close_frame(code, mask=generate_mask()))

    # -- receiving -----------------------------------------------------------------------------

    async def _fill(self, timeout: float) -> bool:
        """Read more frames; False at EOF."""
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not data:
            return False
        self._queue.extend(self._frames.feed(data))
        return True

    async def recv(self, timeout: float = 2.0) -> str | bytes:
        """The next TEXT or BINARY message (pings answered); raises ``EOFError`` on close."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while self._queue:
                opcode, payload = self._queue.pop(0)
                if opcode in (Opcode.TEXT, Opcode.BINARY):
                    return payload
                if opcode == Opcode.CLOSE:
                    assert isinstance(payload, bytes)
                    self.close_code = parse_close_payload(payload)[0]
                    raise EOFError(self.close_code)
            if not await self._fill(max(0.01, deadline - loop.time())):
                raise EOFError(None)

    async def recv_engine(self, timeout: float = 2.0) -> str | bytes:
        """The next Engine.IO message other than a ping (pings are answered)."""
        while True:
            message = await self.recv(timeout)
            if message == "2":
                self.send_text("3")
                continue
            return message

    async def expect_close(self, timeout: float = 2.0) -> int | None:
        """Read until the server closes; returns the close code (``None``: TCP closed without a frame)."""
        with contextlib.suppress(EOFError, ConnectionError):
            while True:
                await self.recv(timeout)
        return self.close_code

    async def sio_connect(self) -> str:
        """Read the open packet, join the main namespace; returns the Engine.IO sid."""
        opening = await self.recv()
        assert isinstance(opening, str) and opening.startswith("0"), opening
        sid = str(json.loads(opening[1:])["sid"])
        self.send_text("40")
        reply = await self.recv_engine()
        assert isinstance(reply, str) and reply.startswith("40"), reply
        return sid

    async def aclose(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def healthy_echo(port: int, payload: Any = "ping", timeout: float = 2.0) -> None:
    """A well-behaved client over ``websockets``: connect, join ``/``, emit ``echo`` and get it back."""

    async def run() -> None:
        async with ws_connect(f"ws://127.0.0.1:{port}{EIO_WS}", max_size=None) as ws:
            opening = await ws.recv()
            assert isinstance(opening, str) and opening.startswith("0"), opening
            await ws.send("40")
            while True:
                message = await ws.recv()
                if message == "2":
                    await ws.send("3")
                    continue
                assert isinstance(message, str) and message.startswith("40"), message
                break
            await ws.send("42" + json.dumps(["echo", payload]))
            while True:
                message = await ws.recv()
                if message == "2":
                    await ws.send("3")
                    continue
                assert message == "42" + json.dumps(["echo", payload], separators=(",", ":")), message
                return

    await asyncio.wait_for(run(), timeout)
