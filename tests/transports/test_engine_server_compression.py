"""HTTP compression of long-polling responses (the official ``httpCompression``), over raw HTTP.

Every case runs on both integrations, the standalone server and the ASGI app under uvicorn, because
both reach the one place that compresses: the engine server's poll responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

import socketeer
from socketeer.client.http import HttpConnection, HttpResult
from socketeer.integrations.asgi import ASGIApp

BIG = "".join(f"message {i} of a compressible payload; " for i in range(200))  # about 7 KB


@contextlib.asynccontextmanager
async def serving(io: socketeer.Server, kind: str) -> AsyncIterator[int]:
    if kind == "standalone":
        server = await io.serve("127.0.0.1", 0)
        try:
            yield server.port
        finally:
            await io.close()
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(ASGIApp(io), lifespan="on", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture(params=["standalone", "asgi"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Session:
    """One Engine.IO polling session driven by hand, connected to the main namespace."""

    def __init__(self, port: int) -> None:
        self.http = HttpConnection("127.0.0.1", port)
        self.sid = ""

    def target(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def open(self, accept_encoding: str | None = None) -> HttpResult:
        opened = await self.get("/socket.io/?EIO=4&transport=polling", accept_encoding)
        self.sid = json.loads(decoded(opened)[1:])["sid"]
        assert (await self.http.request("POST", self.target(), [], b"40", timeout=5)).body == b"ok"
        assert decoded(await self.poll()).startswith("40{")
        return opened

    async def get(self, target: str, accept_encoding: str | None) -> HttpResult:
        headers = [] if accept_encoding is None else [("Accept-Encoding", accept_encoding)]
        result = await self.http.request("GET", target, headers, timeout=5)
        assert result.status == 200, result
        return result

    async def poll(self, accept_encoding: str | None = None) -> HttpResult:
        return await self.get(self.target(), accept_encoding)


def decoded(result: HttpResult) -> str:
    encoding = result.headers.get("content-encoding")
    if encoding == "gzip":
        return gzip.decompress(result.body).decode()
    if encoding == "deflate":
        return zlib.decompress(result.body).decode()  # the zlib format, as Node's createDeflate
    assert encoding is None, encoding
    return result.body.decode()


async def _poll_after_emit(
    kind: str, accept_encoding: str | None, emit: Any = None, **options: Any
) -> HttpResult:
    io = socketeer.Server(**options)
    async with serving(io, kind) as port:
        session = Session(port)
        await session.open()
        if emit is None:
            io.emit("big", BIG)
        else:
            emit(io)
        result = await session.poll(accept_encoding)
        session.http.close()
        return result


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_large_poll_responses_are_compressed(kind: str, encoding: str) -> None:
    result = await _poll_after_emit(kind, encoding)
    assert result.headers["content-encoding"] == encoding
    assert int(result.headers["content-length"]) == len(result.body) < len(BIG) // 4
    assert decoded(result) == "42" + json.dumps(["big", BIG], separators=(",", ":"))


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("gzip, deflate, br, zstd", "gzip"),  # what browsers send
        ("deflate, gzip", "deflate"),
        ("gzip;q=0.5, deflate", "deflate"),
        ("br, *", "gzip"),
        ("*;q=0, deflate;q=0.1", "deflate"),
        (None, None),
        ("br, zstd", None),
        ("identity", None),
        ("gzip;q=0, deflate;q=0", None),
    ],
)
async def test_encoding_follows_accept_encoding(kind: str, accept: str | None, chosen: str | None) -> None:
    result = await _poll_after_emit(kind, accept)
    assert result.headers.get("content-encoding") == chosen
    assert json.loads(decoded(result)[2:]) == ["big", BIG]


async def test_responses_under_the_threshold_are_not_compressed(kind: str) -> None:
    result = await _poll_after_emit(kind, "gzip", lambda io: io.emit("small", "x" * 1000))
    assert "content-encoding" not in result.headers
    assert len(result.body) == len('42["small",""]') + 1000


async def test_threshold_is_configurable(kind: str) -> None:
    result = await _poll_after_emit(
        kind, "gzip", lambda io: io.emit("small", "y" * 100), http_compression={"threshold": 50}
    )
    assert result.headers["content-encoding"] == "gzip"
    assert decoded(result) == '42["small","' + "y" * 100 + '"]'
    result = await _poll_after_emit(
        kind, "gzip", http_compression=socketeer.HttpCompression(threshold=len(BIG) * 2)
    )
    assert "content-encoding" not in result.headers


async def test_level_is_passed_to_zlib(kind: str) -> None:
    stored = await _poll_after_emit(kind, "deflate", http_compression={"level": 0})
    best = await _poll_after_emit(kind, "deflate", http_compression={"level": 9})
    assert len(stored.body) > len(BIG) > 10 * len(best.body)
    assert decoded(stored) == decoded(best)


async def test_compression_can_be_turned_off(kind: str) -> None:
    result = await _poll_after_emit(kind, "gzip", http_compression=False)
    assert "content-encoding" not in result.headers
    assert json.loads(result.body[2:]) == ["big", BIG]


async def test_compress_false_messages_are_sent_as_is(kind: str) -> None:
    result = await _poll_after_emit(kind, "gzip", lambda io: io.compress(False).emit("big", BIG))
    assert "content-encoding" not in result.headers

    def mixed(io: socketeer.Server) -> None:
        io.compress(False).emit("big", BIG)
        io.emit("other", 1)  # one packet of the payload may be compressed: the whole response is

    result = await _poll_after_emit(kind, "gzip", mixed)
    assert result.headers["content-encoding"] == "gzip"
    assert decoded(result).split("\x1e")[1] == '42["other",1]'


async def test_socket_compress_false(kind: str) -> None:
    def emit(io: socketeer.Server) -> None:
        [sock] = io.sockets.sockets.values()
        sock.compress(False).emit("big", BIG)

    result = await _poll_after_emit(kind, "gzip", emit)
    assert "content-encoding" not in result.headers
    result = await _poll_after_emit(
        kind, "gzip", lambda io: next(iter(io.sockets.sockets.values())).compress(True).emit("big", BIG)
    )
    assert result.headers["content-encoding"] == "gzip"


async def test_handshake_response_is_compressed_over_the_threshold(kind: str) -> None:
    io = socketeer.Server(http_compression={"threshold": 0})
    async with serving(io, kind) as port:
        session = Session(port)
        opened = await session.open("gzip")
        session.http.close()
    assert opened.headers["content-encoding"] == "gzip"
    assert decoded(opened).startswith('0{"sid":')


async def test_post_responses_and_errors_are_never_compressed(kind: str) -> None:
    io = socketeer.Server(http_compression={"threshold": 0})
    async with serving(io, kind) as port:
        session = Session(port)
        await session.open()
        headers = [("Accept-Encoding", "gzip")]
        posted = await session.http.request("POST", session.target(), headers, b'42["x"]', timeout=5)
        refused = await session.http.request("GET", "/socket.io/?EIO=3&transport=polling", headers, timeout=5)
        session.http.close()
    assert (posted.body, "content-encoding" in posted.headers) == (b"ok", False)
    assert refused.status == 400 and "content-encoding" not in refused.headers


def test_options_are_validated() -> None:
    with pytest.raises(ValueError):
        socketeer.HttpCompression(threshold=-1)
    with pytest.raises(ValueError):
        socketeer.HttpCompression(level=10)
    with pytest.raises(TypeError):
        socketeer.Server(http_compression={"treshold": 10})
    assert socketeer.Server().engine_config.http_compression == socketeer.HttpCompression(1024, -1)
    assert socketeer.Server(http_compression=False).engine_config.http_compression is None
