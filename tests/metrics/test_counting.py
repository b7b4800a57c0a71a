"""How socketeer.metrics counts messages: exactly, in process through the engine's WebSocket port, and
only on the connections of a server that has metrics (the others keep their plain class)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import socketeer.metrics as metrics_module
from socketeer import Server, Socket
from socketeer.admin import instrument
from socketeer.metrics import Metrics
from socketeer.protocol.wire import WireMessage
from socketeer.transports.engine_server import EngineConnection
from socketeer.transports.ports import HttpRequest


class Port:
    """A WebSocketPort that keeps what the engine writes."""

    def __init__(self) -> None:
        self.receiver: Any = None
        self.written: list[WireMessage] = []
        self.texts: list[str] = []

    def write(self, message: WireMessage) -> None:
        self.written.append(message)

    def send_text(self, text: str) -> None:
        self.texts.append(text)

    def flush(self) -> None:
        pass

    def close(self, code: int = 1000) -> None:
        pass

    def buffered_amount(self) -> int:
        return 0

    def backlogged(self) -> bool:
        return False


def request(eio: str = "4") -> HttpRequest:
    query = {"EIO": eio, "transport": "websocket"}
    return HttpRequest("GET", "/socket.io/", query, {}, b"", ("127.0.0.1", 5000))


def echo_server(**options: Any) -> Server:
    io = Server(**options)

    @io.on("echo")
    def echo(socket: Socket, *args: Any) -> None:
        socket.emit("echo", *args)

    return io


async def opened(io: Server, eio: str = "4") -> tuple[Port, EngineConnection]:
    port = Port()
    io.engine.accept_websocket(request(eio), port)
    for _ in range(20):  # the session opens on a later loop iteration (the id may be awaited)
        if port.receiver is not None and io.engine.connections:
            break
        await asyncio.sleep(0)
    conn = next(c for c in io.engine.connections.values() if c.ws is port)
    return port, conn


async def connected(io: Server, eio: str = "4") -> tuple[Port, EngineConnection]:
    port, conn = await opened(io, eio)
    port.receiver.on_ws_text("40")
    for _ in range(20):
        if port.written:
            break
        await asyncio.sleep(0)
    assert port.written, "no CONNECT reply"
    return port, conn


def sent_totals(port: Port) -> tuple[int, int]:
    return sum(1 + len(m.binaries) for m in port.written), sum(m.nbytes for m in port.written)


async def test_packets_and_bytes_are_counted_exactly() -> None:
    io = echo_server()
    metrics = Metrics(io)
    port, conn = await connected(io)
    port.receiver.on_ws_text('42["echo","héllo"]')  # é is 2 bytes in UTF-8
    port.receiver.on_ws_text('451-["echo",{"_placeholder":true,"num":0}]')
    port.receiver.on_ws_binary(b"\x00\x01\x02")
    counters = metrics.counters
    counters.fold()
    received = ["0", '2["echo","héllo"]', '51-["echo",{"_placeholder":true,"num":0}]']
    assert counters.packets_in == 4  # the CONNECT, two events, one attachment
    assert counters.bytes_in == sum(len(t.encode()) for t in received) + 3
    assert sum(len(m.binaries) for m in port.written) == 1  # the echo of the binary event
    assert (counters.packets_out, counters.bytes_out) == sent_totals(port)
    assert counters.sent == [] and counters.received == []
    await io.close()


async def test_a_server_without_metrics_keeps_plain_connections() -> None:
    io = echo_server()
    _, conn = await connected(io)
    assert type(conn) is EngineConnection  # nothing is counted: no counting code runs per message
    assert io.engine.counters is None
    await io.close()


async def test_metrics_installed_late_count_the_open_sessions_from_then_on() -> None:
    io = echo_server()
    port, conn = await connected(io)
    before = len(port.written)
    metrics = Metrics(io)
    assert type(conn) is not EngineConnection and isinstance(conn, EngineConnection)
    port.receiver.on_ws_text('42["echo",1]')
    metrics.counters.fold()
    assert metrics.counters.packets_in == 1
    assert metrics.counters.bytes_in == len('2["echo",1]')
    assert metrics.counters.packets_out == len(port.written) - before == 1
    await io.close()


async def test_engine_io_v3_sessions_count_binary_frames_decoded() -> None:
    io = echo_server(allow_eio3=True)
    metrics = Metrics(io)
    port, conn = await opened(io, "3")
    port.receiver.on_ws_text('42["echo",1]')
    port.receiver.on_ws_binary(b"\x04abc")  # v3: the type byte first; counted as the 3 bytes of data
    metrics.counters.fold()
    assert metrics.counters.packets_in == 2
    assert metrics.counters.bytes_in == len('2["echo",1]') + 3
    await io.close()


async def test_with_the_admin_ui_both_count() -> None:
    io = echo_server()
    admin = instrument(io, auth=False, mode="production")
    metrics = Metrics(io)
    port, conn = await connected(io)
    port.receiver.on_ws_text('42["echo","x"]')
    assert type(conn).__name__ == "_ObservedCountedConnection"
    metrics.counters.fold()
    assert (metrics.counters.packets_out, metrics.counters.bytes_out) == sent_totals(port)
    taken = admin.buffer.take()
    assert any(event.get("type") == "packetsOut" for event in taken)
    admin.close()
    await io.close()


async def test_the_logged_sizes_are_folded_while_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics_module, "FOLD_INTERVAL", 0.01)
    io = echo_server()
    metrics = Metrics(io)
    port, _ = await connected(io)
    port.receiver.on_ws_text('42["echo",1]')
    assert metrics.counters.received  # logged, not yet added up
    for _ in range(500):  # the timer adds them up (bounded: 5 s)
        if not metrics.counters.received and not metrics.counters.sent:
            break
        await asyncio.sleep(0.01)
    assert metrics.counters.received == [] and metrics.counters.packets_in == 2
    await io.close()
    assert metrics._timer is None
