"""``Server(allow_eio3=True)``: socket.io-client 2.x (Engine.IO v3, the v4 Socket.IO protocol) against
socketeer in each transport mode, and the v3 wire details checked with a raw HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
import websockets.asyncio.client
from v2_clients import MODES, options_for

from conftest import StartV2
from socketeer import ASGIApp, ConnectionRefused, EngineIOServer, Server, Socket

TIMEOUT = 5.0


def legacy_app(**options: Any) -> Server:
    io = Server(allow_eio3=True, **options)

    @io.on("connection")
    def welcome(sock: Socket) -> None:
        sock.emit("welcome", sock.id, sock.handshake.query.get("token"))

    @io.on("echo")
    def echo(sock: Socket, *args: Any) -> None:
        sock.emit("echo", *args)

    @io.on("add")
    def add(sock: Socket, a: int, b: int) -> int:
        return a + b

    @io.on("bin")
    def binary(sock: Socket, data: bytes) -> tuple[bytes, str]:
        return data + b"\xff", "ok"

    @io.on("join")
    def join(sock: Socket, room: str) -> str:
        sock.join(room)
        return "joined"

    @io.on("shout")
    def shout(sock: Socket, room: str, message: Any) -> None:
        sock.to(room).emit("shout", message)

    admin = io.of("/admin")

    @admin.on("whoami")
    def whoami(sock: Socket) -> dict[str, Any]:
        return {"id": sock.id, "auth": sock.handshake.auth, "nsp": sock.namespace.name}

    private = io.of("/private")

    @private.use
    def deny(sock: Socket) -> None:
        raise ConnectionRefused("not allowed")

    return io


B64 = {"$bin": "AAEC/w=="}  # b"\x00\x01\x02\xff"


@pytest.mark.parametrize("mode", MODES)
async def test_connect_events_acks_and_binary(start_v2: StartV2, serve_socketeer: Any, mode: str) -> None:
    io = legacy_app()
    url = await serve_socketeer(io)
    clients = await start_v2(url)
    await clients.command("open", client="a", opts={**options_for(mode), "query": {"token": "t"}})
    connected = await clients.expect(ev="connect", client="a")
    # the main namespace without a CONNECT from the client; the socket id is the Engine.IO id there
    assert list(io.engine.connections) == [connected["id"]]
    assert io.engine.connections[connected["id"]].protocol == 3
    welcome = await clients.expect(ev="event", event="welcome")
    assert welcome["args"] == [connected["id"], "t"]
    if mode == "upgrade":
        await clients.expect(ev="upgrade", transport="websocket")

    assert (await clients.command("emit", client="a", event="add", args=[2, 3], ack=True))["ack"] == [5]
    await clients.command("emit", client="a", event="echo", args=["hi", B64, {"nested": [B64]}, "é😀"])
    echoed = await clients.expect(ev="event", event="echo")
    assert echoed["args"] == ["hi", B64, {"nested": [B64]}, "é😀"]
    answer = await clients.command("emit", client="a", event="bin", args=[B64], ack=True)
    assert answer["ack"] == [{"$bin": "AAEC//8="}, "ok"]
    info = await clients.command("info", client="a")
    assert info["transport"] == ("polling" if mode == "polling" else "websocket")


@pytest.mark.parametrize("mode", MODES)
async def test_rooms_and_namespaces(start_v2: StartV2, serve_socketeer: Any, mode: str) -> None:
    io = legacy_app()
    url = await serve_socketeer(io)
    clients = await start_v2(url)
    for name in ("a", "b"):
        await clients.command("open", client=name, opts=options_for(mode))
        await clients.expect(ev="connect", client=name)
    assert (await clients.command("emit", client="a", event="join", args=["r"], ack=True))["ack"] == [
        "joined"
    ]
    await clients.command("emit", client="b", event="shout", args=["r", {"to": "room"}])
    heard = await clients.expect(ev="event", event="shout")
    assert heard["client"] == "a" and heard["args"] == [{"to": "room"}]

    # another namespace: its query is the auth, the id is "<nsp>#<engine id>" on both sides
    await clients.command(
        "open", client="c", nsp="/admin", opts={**options_for(mode), "query": {"token": "abc"}}
    )
    connected = await clients.expect(ev="connect", client="c")
    answer = await clients.command("emit", client="c", event="whoami", ack=True)
    assert answer["ack"] == [{"id": connected["id"], "auth": {"token": "abc"}, "nsp": "/admin"}]
    assert connected["id"].startswith("/admin#")

    # refusals: the v4 protocol's CONNECT_ERROR, which a 2.x client reports as an "error" event
    await clients.command("open", client="d", nsp="/nope", opts=options_for(mode))
    assert (await clients.expect(ev="error", client="d"))["error"] == {"message": "Invalid namespace"}
    await clients.command("open", client="e", nsp="/private", opts=options_for(mode))
    assert (await clients.expect(ev="error", client="e"))["error"] == "not allowed"
    # the sockets that were accepted are unharmed
    assert (await clients.command("emit", client="a", event="add", args=[1, 1], ack=True))["ack"] == [2]


@pytest.mark.parametrize("mode", MODES)
async def test_reconnection_after_the_server_restarts(start_v2: StartV2, mode: str) -> None:
    first = legacy_app()
    server = await first.serve("127.0.0.1", 0)
    port = server.port
    second = legacy_app()
    try:
        clients = await start_v2(f"http://127.0.0.1:{port}")
        await clients.command("open", client="a", opts=options_for(mode))
        before = await clients.expect(ev="connect", client="a")
        await first.close()
        await clients.expect(ev="disconnect", client="a")
        await second.serve("127.0.0.1", port)
        mark = len(clients.observed)
        await clients.expect(ev="reconnect", client="a", after=mark)
        after = await clients.expect(ev="connect", client="a", after=mark)
        assert after["id"] != before["id"]
        assert (await clients.command("emit", client="a", event="add", args=[4, 5], ack=True))["ack"] == [9]
    finally:
        await first.close()
        await second.close()


# -- the wire, with a raw client -----------------------------------------------------------------


def frames(payload: str) -> list[str]:
    """Split a v3 text payload (ASCII here) into its packets."""
    out = []
    while payload:
        length, _, rest = payload.partition(":")
        out.append(rest[: int(length)])
        payload = rest[int(length) :]
    return out


async def test_off_by_default_a_v3_client_gets_the_official_error(serve_socketeer: Any) -> None:
    url = await serve_socketeer(Server())
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
        for query in ("EIO=3&transport=polling", "transport=polling"):  # no EIO is v3, as there
            refused = await client.get(f"{url}/socket.io/?{query}")
            assert (refused.status_code, refused.json()) == (
                400,
                {"code": 5, "message": "Unsupported protocol version"},
            )


async def test_v3_polling_handshake_heartbeat_and_binary(serve_socketeer: Any) -> None:
    io = legacy_app(ping_interval=10.0, ping_timeout=5.0)
    url = await serve_socketeer(io)
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
        opened = await client.get(f"{url}/socket.io/?EIO=3&transport=polling&b64=1")
        assert opened.headers["content-type"].startswith("text/plain")
        open_packet, connect, welcome = frames(opened.text)
        handshake = json.loads(open_packet[1:])
        assert open_packet[0] == "0" and list(handshake) == [
            "sid",
            "upgrades",
            "pingInterval",
            "pingTimeout",
            "maxPayload",
        ]
        assert (handshake["pingInterval"], handshake["pingTimeout"]) == (10000, 5000)
        sid = handshake["sid"]
        assert connect == "40"  # the main namespace, implicitly, with no sid in it
        assert welcome == f'42["welcome","{sid}",null]'
        poll = f"{url}/socket.io/?EIO=3&transport=polling&sid={sid}"

        # the client pings, the server answers
        assert (await client.post(poll, content=b"1:2")).text == "ok"
        assert frames((await client.get(poll)).text) == ["3"]

        # binary in a text payload (b64): b4<base64>; events and acks as in the v4 protocol
        event = '451-0["bin",{"_placeholder":true,"num":0}]'
        await client.post(poll, content=f"{len(event)}:{event}6:b4AAE=".encode())
        polled = await client.get(poll)
        assert frames(polled.text) == ['461-0[{"_placeholder":true,"num":0},"ok"]', "b4AAH/"]


async def test_v3_binary_payloads_when_the_client_supports_them(serve_socketeer: Any) -> None:
    io = legacy_app()
    url = await serve_socketeer(io)
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
        opened = await client.get(f"{url}/socket.io/?EIO=3&transport=polling")
        sid = json.loads(frames(opened.text)[0][1:])["sid"]
        poll = f"{url}/socket.io/?EIO=3&transport=polling&sid={sid}"
        event = b'451-0["bin",{"_placeholder":true,"num":0}]'
        body = (
            b"\x00" + bytes(int(d) for d in str(len(event))) + b"\xff" + event + b"\x01\x03\xff\x04\x00\x01"
        )
        posted = await client.post(poll, content=body, headers={"Content-Type": "application/octet-stream"})
        assert posted.text == "ok"
        polled = await client.get(poll)
        assert polled.headers["content-type"] == "application/octet-stream"
        ack = b'461-0[{"_placeholder":true,"num":0},"ok"]'
        head = b"\x00" + bytes(int(d) for d in str(len(ack))) + b"\xff"
        assert polled.content == head + ack + b"\x01\x04\xff\x04\x00\x01\xff"


async def test_v3_ping_timeout_includes_the_ping_interval(serve_socketeer: Any) -> None:
    io = Server(allow_eio3=True, ping_interval=0.4, ping_timeout=0.1)
    closed: asyncio.Future[tuple[str, float]] = asyncio.get_running_loop().create_future()

    @io.on("connection")
    def watch(sock: Socket) -> None:
        started = asyncio.get_running_loop().time()

        @sock.on("disconnect")
        def gone(reason: str) -> None:
            closed.set_result((reason, asyncio.get_running_loop().time() - started))

    url = await serve_socketeer(io)
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
        await client.get(f"{url}/socket.io/?EIO=3&transport=polling&b64=1")
        reason, after = await asyncio.wait_for(closed, TIMEOUT)
    assert reason == "ping timeout"
    # ping_interval + ping_timeout (0.5 s), not ping_timeout alone (0.1 s); the clock starts a little
    # after the handshake, so leave room for a loaded machine
    assert after >= 0.35


@contextlib.asynccontextmanager
async def uvicorn_serving(app: Any) -> AsyncIterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, ws="websockets-sansio", log_config=None, log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


@pytest.mark.parametrize("mode", MODES)
async def test_under_an_asgi_server(start_v2: StartV2, mode: str) -> None:
    io = legacy_app()
    async with uvicorn_serving(ASGIApp(io)) as port:
        clients = await start_v2(f"http://127.0.0.1:{port}")
        await clients.command("open", client="a", opts=options_for(mode))
        await clients.expect(ev="connect", client="a")
        answer = await clients.command("emit", client="a", event="bin", args=[B64], ack=True)
        assert answer["ack"] == [{"$bin": "AAEC//8="}, "ok"]
        await clients.command("close", client="a")
        await io.close()


async def test_v3_polling_responses_are_compressed_as_v4_ones(serve_socketeer: Any) -> None:
    io = legacy_app()

    @io.on("big")
    def big(sock: Socket, compress: bool) -> None:
        sock.compress(compress).emit("big", "x" * 4000)

    url = await serve_socketeer(io)
    async with httpx.AsyncClient(trust_env=False, timeout=TIMEOUT) as client:
        opened = await client.get(f"{url}/socket.io/?EIO=3&transport=polling&b64=1")
        sid = json.loads(frames(opened.text)[0][1:])["sid"]
        poll = f"{url}/socket.io/?EIO=3&transport=polling&sid={sid}"
        for compress, encoding in ((True, "gzip"), (False, None), (True, "gzip")):
            event = f'42["big",{json.dumps(compress)}]'
            await client.post(poll, content=f"{len(event)}:{event}".encode())
            polled = await client.get(poll, headers={"Accept-Encoding": "gzip"})
            assert polled.headers.get("content-encoding") == encoding
            assert frames(polled.text) == ['42["big","' + "x" * 4000 + '"]']


async def test_a_bare_engine_io_server_speaks_v3_over_websocket(serve_socketeer: Any) -> None:
    eio = EngineIOServer(allow_eio3=True, ping_interval=10.0)

    @eio.on("message")
    def echo(sock: Any, data: Any) -> None:
        sock.send(data)

    url = await serve_socketeer(eio)
    ws_url = url.replace("http", "ws") + "/engine.io/?EIO=3&transport=websocket"
    async with websockets.asyncio.client.connect(ws_url, proxy=None, open_timeout=TIMEOUT) as ws:
        opening = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert opening[0] == "0" and json.loads(opening[1:])["pingInterval"] == 10000
        await ws.send("2")  # the client pings
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "3"
        await ws.send("4text")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "4text"
        await ws.send(b"\x04\x00\xff")  # a binary MESSAGE carries its type byte in v3
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x04\x00\xff"
        await ws.send(b"\x02\x00")  # any other type byte is a parse error
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
