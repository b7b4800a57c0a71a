"""Tests for socketeer.integrations.webtransport over loopback, with a raw aioquic WebTransport client:
the handshake as the official server does it, the upgrade from polling, heartbeats, and bad input
closing only the session that sent it."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import socketeer
from socketeer.integrations.devcert import DevCertificate, development_certificate
from wt_client import WtClient, wt_connect


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> DevCertificate:
    return development_certificate(tmp_path_factory.mktemp("cert"))


def make_server(**options: Any) -> socketeer.Server:
    io = socketeer.Server(**options)

    @io.on("echo")
    def echo(socket: socketeer.Socket, *args: Any) -> Any:
        return list(args) if len(args) != 1 else args[0]

    return io


@pytest.fixture
async def served(cert: DevCertificate) -> AsyncIterator[tuple[socketeer.Server, Any]]:
    io = make_server(ping_interval=0.3, ping_timeout=2.0, max_http_buffer_size=1000)
    srv = await io.serve("127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
    yield io, srv
    await io.close()


async def open_engine(client: WtClient) -> tuple[int, int, dict[str, Any]]:
    session = await client.open_session()
    stream = client.open_stream(session)
    client.send_text(stream, "0")
    text = await client.receive_text(stream)
    assert text[0] == "0"
    return session, stream, json.loads(text[1:])


async def connect_sio(client: WtClient) -> tuple[int, int]:
    session, stream, _ = await open_engine(client)
    client.send_text(stream, "40")
    assert (await client.receive_text(stream)).startswith("40{")
    return session, stream


async def echo(client: WtClient, stream: int, value: str = "hi") -> None:
    client.send_text(stream, f'421["echo",{json.dumps(value)}]')
    while True:
        text = await client.receive_text(stream)
        if text == "2":  # a heartbeat on the way
            client.send_text(stream, "3")
            continue
        assert text == f"431[{json.dumps(value)}]"
        return


async def test_new_session_handshake_as_the_official_server(served: Any) -> None:
    io, srv = served
    async with wt_connect(srv.port) as client:
        _, stream, handshake = await open_engine(client)
        assert handshake["upgrades"] == []  # nothing to upgrade to from WebTransport
        assert handshake["pingInterval"] == 300 and handshake["maxPayload"] == 1000
        client.send_text(stream, "40")
        assert (await client.receive_text(stream)).startswith("40{")
        await echo(client, stream)
        client.send_binary(stream, b"\x00\x01")  # a binary frame is a binary MESSAGE
        (socket,) = io.sockets.sockets.values()
        assert socket.transport == "webtransport"


async def test_heartbeats_and_the_ping_timeout(served: Any) -> None:
    io, srv = served
    async with wt_connect(srv.port) as client:
        session, stream = await connect_sio(client)
        assert await client.receive_text(stream) == "2"
        client.send_text(stream, "3")
        assert await client.receive_text(stream) == "2"
        await client.wait_session_closed(session, timeout=5)  # no pong: the server closes the session
        assert not io.sockets.sockets


async def test_handshake_offers_webtransport_only_when_it_listens(cert: DevCertificate) -> None:
    for enabled, upgrades in ((True, ["websocket", "webtransport"]), (False, ["websocket"])):
        io = make_server()
        srv = await io.serve(
            "127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=enabled
        )
        try:
            async with httpx.AsyncClient(verify=False) as http:
                r = await http.get(f"https://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=polling")
                assert json.loads(r.text[1:])["upgrades"] == upgrades
                # and never webtransport over HTTP/1.1
                r = await http.get(f"https://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=webtransport")
                assert r.status_code == 400 and r.json()["code"] == 0
        finally:
            await io.close()


async def test_upgrade_from_polling(served: Any) -> None:
    io, srv = served
    base = f"https://127.0.0.1:{srv.port}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient(verify=False) as http, wt_connect(srv.port) as client:
        r = await http.get(base)
        sid = json.loads(r.text[1:])["sid"]
        assert (await http.post(f"{base}&sid={sid}", content="40")).text == "ok"
        assert (await http.get(f"{base}&sid={sid}")).text.startswith("40{")
        session = await client.open_session()
        stream = client.open_stream(session)
        client.send_text(stream, "0" + json.dumps({"sid": sid}))
        client.send_text(stream, "2probe")
        assert await client.receive_text(stream) == "3probe"
        client.send_text(stream, "5")
        await echo(client, stream, "upgraded")
        (socket,) = io.sockets.sockets.values()
        assert socket.transport == "webtransport"
        # a second upgrade attempt, and one for an unknown sid, are closed
        for data in (json.dumps({"sid": sid}), '{"sid":"nope"}', "not json"):
            other = await client.open_session()
            s2 = client.open_stream(other)
            client.send_text(s2, "0" + data)
            await client.wait_session_closed(other)
        await echo(client, stream, "still")


BAD_INPUTS = {
    "empty frame": lambda c, s, st: c.send_raw(st, b"\x00"),
    "oversized frame": lambda c, s, st: c.send_raw(st, b"\x7e\x10\x00" + b"4" * 100),
    "not utf-8": lambda c, s, st: c.send_raw(st, b"\x02\xff\xfe"),
    "unknown packet": lambda c, s, st: c.send_text(st, "9x"),
    "second stream": lambda c, s, st: c.send_text(c.open_stream(s), "2probe"),
    "unidirectional stream": lambda c, s, st: c.send_text(c.open_stream(s, unidirectional=True), "4x"),
    "datagram": lambda c, s, st: (c.http.send_datagram(s, b"hello"), c.transmit()),
}


@pytest.mark.parametrize("kind", BAD_INPUTS)
async def test_bad_input_closes_only_that_session(served: Any, kind: str) -> None:
    io, srv = served
    async with wt_connect(srv.port) as good, wt_connect(srv.port) as bad:
        _, good_stream = await connect_sio(good)
        bad_session, bad_stream = await connect_sio(bad)
        assert len(io.sockets.sockets) == 2
        BAD_INPUTS[kind](bad, bad_session, bad_stream)
        await bad.wait_session_closed(bad_session)
        await echo(good, good_stream, kind)
        assert len(io.sockets.sockets) == 1


@pytest.mark.parametrize("first", [b"\x024x", b"\x81\x00", b"\x011"])
async def test_the_first_packet_must_be_an_open_packet(served: Any, first: bytes) -> None:
    _, srv = served
    async with wt_connect(srv.port) as client:
        session = await client.open_session()
        stream = client.open_stream(session)
        client.send_raw(stream, first)
        await client.wait_session_closed(session)


async def test_other_paths_and_methods_are_refused(served: Any) -> None:
    _, srv = served
    async with wt_connect(srv.port) as client:
        with pytest.raises(ConnectionError, match="404"):
            await client.open_session("/elsewhere")
        with pytest.raises(ConnectionError, match="400"):
            await client.open_session("/socket.io/?EIO=3&transport=webtransport")
        await open_engine(client)  # the connection still serves


async def test_allow_request_refuses_a_new_session(cert: DevCertificate) -> None:
    async def allow(request: Any) -> bool:
        return request.headers.get("x-token") == "yes"

    io = make_server(allow_request=allow)
    srv = await io.serve("127.0.0.1", 0, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True)
    try:
        async with wt_connect(srv.port) as client:
            session = await client.open_session()
            client.send_text(client.open_stream(session), "0")
            await client.wait_session_closed(session)
            assert not io.engine.connections
    finally:
        await io.close()


async def test_webtransport_needs_a_certificate() -> None:
    io = make_server()
    with pytest.raises(ValueError, match="certfile"):
        await io.serve("127.0.0.1", 0, webtransport=True)
    await io.close()


def test_development_certificate(tmp_path: Path) -> None:
    cert = development_certificate(tmp_path, days=14)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert.certfile, cert.keyfile)
    assert len(cert.sha256) == 32 and cert.hash_js().startswith('{algorithm: "sha-256"')
    with pytest.raises(ValueError):
        development_certificate(tmp_path, days=15)
