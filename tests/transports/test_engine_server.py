"""The Engine.IO server driven through its two ports, in process: HTTP requests in, responses out;
a recording WebSocket port. No sockets, no mocks of our own code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from socketeer._types import EngineSid
from socketeer.engine.config import CorsConfig, EngineConfig, Limits
from socketeer.protocol.wire import WireMessage
from socketeer.transports.engine_server import EngineConnection, EngineServer
from socketeer.transports.ports import HttpRequest, HttpResponse, WebSocketReceiver


class Echo:
    """The layer above: echoes every message and records the close reason."""

    def __init__(self, conn: EngineConnection, closed: list[str]) -> None:
        self.conn = conn
        self.closed = closed

    def on_text(self, text: str) -> None:
        self.conn.write(WireMessage(b"4" + text.encode()))

    def on_binary(self, data: bytes) -> None:
        self.conn.write(WireMessage(None, (data,)))

    def on_close(self, reason: str) -> None:
        self.closed.append(reason)


class EchoHandler:
    def __init__(self) -> None:
        self.closed: list[str] = []

    def on_connection(self, connection: EngineConnection) -> Echo:
        return Echo(connection, self.closed)


class RecordingPort:
    """A WebSocketPort that records what the engine sends."""

    def __init__(self) -> None:
        self.receiver: WebSocketReceiver
        self.sent: list[Any] = []
        self.closed: int | None = None
        self.event = asyncio.Event()

    def write(self, message: WireMessage) -> None:
        if message.text is not None:
            self.sent.append(message.text.decode())
        self.sent.extend(message.binaries)
        self.event.set()

    def send_text(self, text: str) -> None:
        self.sent.append(text)
        self.event.set()

    def flush(self) -> None:
        pass

    def close(self, code: int = 1000) -> None:
        self.closed = code
        self.event.set()

    def buffered_amount(self) -> int:
        return 0

    def backlogged(self) -> bool:
        return False

    async def next(self, timeout: float = 2.0) -> Any:
        while not self.sent:
            self.event.clear()
            await asyncio.wait_for(self.event.wait(), timeout)
        return self.sent.pop(0)


def request(
    method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None, **query: str
) -> HttpRequest:
    query.setdefault("EIO", "4")
    query.setdefault("transport", "polling")
    return HttpRequest(method, "/socket.io/", query, headers or {}, body, ("127.0.0.1", 5000))


def make(**options: Any) -> tuple[EngineServer, EchoHandler]:
    handler = EchoHandler()
    return EngineServer(EngineConfig(**options), handler), handler


async def handshake(server: EngineServer) -> str:
    response = await server.handle_request(request())
    assert response.status == 200
    assert response.body.startswith(b"0{")
    return str(json.loads(response.body[1:])["sid"])


def error(response: HttpResponse) -> tuple[int, Any]:
    return response.status, json.loads(response.body)


async def test_handshake_open_packet_and_headers() -> None:
    server, _ = make(ping_interval=0.3, ping_timeout=0.2, cors=CorsConfig(["http://a.example"]))
    response = await server.handle_request(request(headers={"origin": "http://a.example"}))
    open_packet = json.loads(response.body[1:])
    assert list(open_packet) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert open_packet["upgrades"] == ["websocket"]
    assert (open_packet["pingInterval"], open_packet["pingTimeout"], open_packet["maxPayload"]) == (
        300,
        200,
        1000000,
    )
    assert ("Access-Control-Allow-Origin", "http://a.example") in response.headers
    assert len(open_packet["sid"]) == 20


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (request(transport="carrier-pigeon"), (400, {"code": 0, "message": "Transport unknown"})),
        (request(sid="nope"), (400, {"code": 1, "message": "Session ID unknown"})),
        (request("POST"), (400, {"code": 2, "message": "Bad handshake method"})),
        (request(EIO="3"), (400, {"code": 5, "message": "Unsupported protocol version"})),
        (request(transport="websocket"), (400, {"code": 3, "message": "Bad request"})),
    ],
)
async def test_errors_as_the_official_server(req: HttpRequest, expected: tuple[int, Any]) -> None:
    server, _ = make()
    assert error(await server.handle_request(req)) == expected


async def test_allow_request_refusal_is_403_code_4() -> None:
    async def refuse(req: HttpRequest) -> str:
        return "go away"

    server, _ = make(allow_request=refuse)
    assert error(await server.handle_request(request())) == (403, {"code": 4, "message": "go away"})


async def test_post_then_poll_echoes_text_and_binary() -> None:
    server, _ = make()
    sid = await handshake(server)
    posted = await server.handle_request(request("POST", b"4hello\x1ebAQID", sid=sid))
    assert (posted.status, posted.body) == (200, b"ok")
    polled = await server.handle_request(request(sid=sid))
    assert polled.body == b"4hello\x1ebAQID"


async def test_a_held_poll_is_answered_when_a_message_comes() -> None:
    server, _ = make()
    sid = await handshake(server)
    poll = asyncio.create_task(server.handle_request(request(sid=sid)))
    await asyncio.sleep(0)
    server.connections[EngineSid(sid)].write(WireMessage(b'42["x"]'))
    assert (await asyncio.wait_for(poll, 2)).body == b'42["x"]'


async def test_overlapping_polls_close_the_session() -> None:
    server, handler = make()
    sid = await handshake(server)
    first = asyncio.create_task(server.handle_request(request(sid=sid)))
    await asyncio.sleep(0)
    second = await server.handle_request(request(sid=sid))
    assert error(second)[0] == 400
    assert (await asyncio.wait_for(first, 2)).body == b"1"
    assert handler.closed == ["transport error"]
    assert error(await server.handle_request(request(sid=sid)))[1]["code"] == 1


async def test_bad_payload_and_limits() -> None:
    server, handler = make(limits=Limits(max_packets_per_payload=2), max_http_buffer_size=10)
    sid = await handshake(server)
    assert (await server.handle_request(request("POST", b"4a\x1e4b\x1e4c", sid=sid))).status == 400
    assert handler.closed == ["parse error"]
    sid = await handshake(server)
    assert (await server.handle_request(request("POST", b"4" + b"x" * 20, sid=sid))).status == 413
    sid = await handshake(server)
    assert (await server.handle_request(request("POST", b"\xff\xfe", sid=sid))).status == 400


async def test_client_close_answers_the_held_poll_with_noop() -> None:
    server, handler = make()
    sid = await handshake(server)
    poll = asyncio.create_task(server.handle_request(request(sid=sid)))
    await asyncio.sleep(0)
    assert (await server.handle_request(request("POST", b"1", sid=sid))).body == b"ok"
    assert (await asyncio.wait_for(poll, 2)).body == b"6"
    assert handler.closed == ["transport close"]


async def test_upgrade_sequence() -> None:
    server, _ = make()
    sid = await handshake(server)
    poll = asyncio.create_task(server.handle_request(request(sid=sid)))
    await asyncio.sleep(0)
    port = RecordingPort()
    ws_request = request(transport="websocket", sid=sid)
    assert await server.allow_websocket(ws_request) is None
    server.accept_websocket(ws_request, port)
    port.receiver.on_ws_text("2probe")
    assert await port.next() == "3probe"
    assert (await asyncio.wait_for(poll, 2)).body == b"6"
    port.receiver.on_ws_text("5")
    conn = server.connections[EngineSid(sid)]
    assert conn.transport == "websocket"
    port.receiver.on_ws_text("4hello")
    assert await port.next() == "4hello"
    assert error(await server.handle_request(request(sid=sid)))[0] == 400  # polling is over
    second = RecordingPort()
    server.accept_websocket(ws_request, second)
    assert second.closed is not None  # one WebSocket per session


async def test_bad_probe_aborts_the_upgrade_but_keeps_the_session() -> None:
    server, handler = make()
    sid = await handshake(server)
    port = RecordingPort()
    ws_request = request(transport="websocket", sid=sid)
    server.accept_websocket(ws_request, port)
    port.receiver.on_ws_text("5")  # before the probe
    assert port.closed == 1002
    assert handler.closed == []
    assert server.connections[EngineSid(sid)].transport == "polling"


async def test_direct_websocket_heartbeat_and_ping_timeout() -> None:
    server, handler = make(ping_interval=0.05, ping_timeout=0.05)
    port = RecordingPort()
    server.accept_websocket(request(transport="websocket"), port)
    opening = await port.next()
    assert opening.startswith("0{") and json.loads(opening[1:])["upgrades"] == []
    assert await port.next() == "2"
    port.receiver.on_ws_text("3")
    assert await port.next() == "2"  # the next ping, one interval after the pong
    while port.closed is None:  # no pong this time: closed one timeout later
        port.event.clear()
        await asyncio.wait_for(port.event.wait(), 2)
    assert handler.closed == ["ping timeout"]
    assert port.closed == 1000
    assert not server.connections


async def test_server_close_of_a_polling_session_delivers_what_was_queued_then_the_close() -> None:
    server, handler = make()
    sid = await handshake(server)
    conn = server.connections[EngineSid(sid)]
    conn.write(WireMessage(b"41"))
    conn.close()
    assert handler.closed == ["forced close"]
    assert (await server.handle_request(request(sid=sid))).body == b"41"
    assert (await server.handle_request(request(sid=sid))).body == b"1"
    assert error(await server.handle_request(request(sid=sid)))[0] == 400


async def test_preflight() -> None:
    server, _ = make(cors=CorsConfig("*", methods=("GET", "POST")))
    response = await server.handle_request(request("OPTIONS", headers={"origin": "http://x"}))
    assert response.status == 204
    assert ("Access-Control-Allow-Methods", "GET,POST") in response.headers


async def test_connection_error_listeners_see_every_refusal() -> None:
    server, _ = make()
    seen: list[tuple[str, int, str]] = []
    server.on_connection_error(lambda req, code, message: seen.append((req.method, int(code), message)))
    await server.handle_request(request(EIO="3"))
    await server.handle_request(request(sid="nope"))
    await server.allow_websocket(request(transport="websocket", EIO="2"))
    await handshake(server)  # a success reports nothing
    assert seen == [
        ("GET", 5, "Unsupported protocol version"),
        ("GET", 1, "Session ID unknown"),
        ("GET", 5, "Unsupported protocol version"),
    ]
