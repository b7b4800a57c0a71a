"""socketeer.logs: one logger tree, quiet by default, per-socket context, and the protocol trace switch."""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import socketeer
from socketeer import Server, Socket
from socketeer.logs import TRACE_FORMAT, trace_logger
from socketeer.testing import next_event
from socketeer.testing.plugin import ClientFactory

SRC = Path(socketeer.__file__).parent


@pytest.fixture
def trace_off() -> Iterator[None]:
    yield
    socketeer.enable_trace(False)
    for handler in list(trace_logger.handlers):
        trace_logger.removeHandler(handler)


def test_every_logger_is_in_the_socketeer_tree() -> None:
    names = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    assert names and all(n == "socketeer" or n.startswith("socketeer.") for n in names), names
    # the modules log under their layer's logger, not the root of the tree
    assert {"socketeer.engine", "socketeer.server", "socketeer.client", "socketeer.trace"} <= names


def test_quiet_by_default() -> None:
    root = logging.getLogger("socketeer")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    assert trace_logger.level == logging.INFO  # a root logger at DEBUG does not turn the trace on
    assert not trace_logger.isEnabledFor(logging.DEBUG)


@dataclass
class Point:
    x: int


async def test_records_carry_the_socket_context(
    socketeer_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    io = Server()
    chat = io.of("/chat")

    @chat.on("hello")
    def hello(socket: Socket, name: str) -> str:
        socket.logger.info("hello from %s", name)
        return "hi"

    @chat.on("boom")
    def boom(socket: Socket) -> None:
        raise ValueError("boom")

    @chat.on("point")
    def point(socket: Socket, p: Point) -> None: ...

    caplog.set_level(logging.INFO, logger="socketeer")
    client = await socketeer_client(io, namespace="/chat", transports=("websocket",))
    [socket] = chat.sockets.values()
    assert await client.emit_with_ack("hello", "ann", timeout=5) == "hi"
    client.emit("boom")
    client.emit("point", {"x": "one"})
    assert await client.emit_with_ack("hello", "bob", timeout=5) == "hi"  # the two above were handled

    by_message = {r.getMessage().split(":")[0]: r for r in caplog.records}
    greeting = by_message["hello from ann"]
    assert greeting.name == "socketeer.server"
    failure = next(r for r in caplog.records if r.getMessage().startswith("error in handler"))
    invalid = next(r for r in caplog.records if r.getMessage().startswith("invalid payload"))
    assert failure.levelno == logging.ERROR and invalid.levelno == logging.WARNING
    for record in (greeting, failure, invalid):
        assert record.sid == socket.client.conn.sid  # type: ignore[attr-defined]
        assert record.socket_id == socket.id == client.id  # type: ignore[attr-defined]
        assert record.namespace == "/chat"  # type: ignore[attr-defined]
        assert record.transport == "websocket"  # type: ignore[attr-defined]


async def test_enable_trace_logs_packets_of_new_connections(
    socketeer_client: ClientFactory, caplog: pytest.LogCaptureFixture, trace_off: None
) -> None:
    io = Server()
    io.on("connection", lambda socket: socket.emit("welcome", b"\x01\x02"))
    io.on("echo", lambda socket, text: text)
    # caplog's handler takes every level; the trace logger's own level is the switch under test
    before = await socketeer_client(io, transports=("polling",))
    socketeer.enable_trace(handler=logging.NullHandler())
    assert trace_logger.isEnabledFor(logging.DEBUG)
    traced = await socketeer_client(io, transports=("websocket",))
    assert await next_event(traced, "welcome") == (b"\x01\x02",)
    assert await traced.emit_with_ack("echo", "x" * 1000, timeout=5) == "x" * 1000
    assert await before.emit_with_ack("echo", "untraced", timeout=5) == "untraced"

    records = [r for r in caplog.records if r.name == "socketeer.trace"]
    lines = [r.getMessage() for r in records]
    assert all(r.transport == "websocket" for r in records)  # type: ignore[attr-defined]
    assert {r.sid for r in records} == {io.sockets.sockets[traced.id].client.conn.sid}  # type: ignore[attr-defined]
    assert "< 40" in lines and any(line.startswith('> 40{"sid":') for line in lines)
    assert '> 451-["welcome",{"_placeholder":true,"num":0}]' in lines and "> <binary 2 bytes>" in lines
    echo_in = next(line for line in lines if line.startswith('< 420["echo"'))
    assert echo_in.endswith("... (1014 chars)")  # long packets are cut: 420["echo","x...x"]
    assert not any("untraced" in line for line in lines)

    socketeer.enable_trace(False)
    assert not trace_logger.isEnabledFor(logging.DEBUG)


def test_enable_trace_without_logging_configured_prints_to_stderr(trace_off: None) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # as in a program that configured no logging
    try:
        socketeer.enable_trace()
    finally:
        root.handlers[:] = saved
    [handler] = trace_logger.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.formatter is not None
    assert handler.formatter._fmt == TRACE_FORMAT
    socketeer.enable_trace()  # idempotent: no second handler
    assert len(trace_logger.handlers) == 1
