"""The client's HTTP/1.1 connection: a request is sent at most once."""

from __future__ import annotations

import asyncio

import pytest

from socketeer.client.http import HttpConnection

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


class RawServer:
    """A loopback server that answers each request with ``OK`` and then does what ``after`` says."""

    def __init__(self, after: list[str]) -> None:
        self.after = after  # per request: "keep", "close" (FIN after the answer), "drop" (FIN, no answer)
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self.handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head.split(b"\r\n", 1)[0])
                action = self.after[len(self.requests) - 1]
                if action != "drop":
                    writer.write(OK)
                    await writer.drain()
                if action != "keep":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        await writer.wait_closed()

    async def close(self) -> None:
        """Once the client closed its side: every handler has seen the end of its connection."""
        assert self.server is not None
        self.server.close()
        await asyncio.wait_for(asyncio.gather(*self.handlers, return_exceptions=True), 5)
        await self.server.wait_closed()


async def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    server = await RawServer(["close", "keep"]).start()
    conn = HttpConnection("127.0.0.1", server.port)
    try:
        assert (await conn.request("GET", "/a", [])).body == b"ok"
        while conn._reader is not None and not conn._reader.at_eof():  # the FIN has arrived
            await asyncio.sleep(0.005)
        assert (await conn.request("GET", "/b", [])).body == b"ok"
        assert server.requests == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1"]
        assert server.connections == 2
    finally:
        conn.close()
        await server.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_request_written_then_unanswered_is_not_resent(method: str) -> None:
    # the regression: a kept-alive connection that closes before any response byte used to be retried
    server = await RawServer(["keep", "drop", "keep"]).start()
    conn = HttpConnection("127.0.0.1", server.port)
    try:
        await conn.request("GET", "/first", [])
        with pytest.raises(ConnectionError, match="before any response byte"):
            await conn.request(method, "/second", [], b"4x" if method == "POST" else None)
        assert server.requests == [b"GET /first HTTP/1.1", f"{method} /second HTTP/1.1".encode()]
        assert server.connections == 1
    finally:
        conn.close()
        await server.close()


async def test_truncated_response_is_an_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK[:-1])
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    conn = HttpConnection("127.0.0.1", srv.sockets[0].getsockname()[1])
    try:
        with pytest.raises(ConnectionError, match="before the end of the response"):
            await conn.request("GET", "/", [])
    finally:
        conn.close()
        srv.close()
        await srv.wait_closed()
