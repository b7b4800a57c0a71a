"""The Engine.IO v4 server: handshakes, the session registry, long-polling, WebSocket and the upgrade.

Integrations hand requests in through :meth:`EngineServer.handle_request` (HTTP, long-polling) and
:meth:`EngineServer.accept_websocket` (an accepted WebSocket, as a :class:`WebSocketPort`). The layer
above receives each new connection through :class:`EngineHandler` and its messages through the
:class:`ConnectionHandler` it returns.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from .._types import EngineSid
from ..engine.config import EngineConfig
from ..engine.session import ServerSession, SessionState, TimerAction
from ..exceptions import ConnectionRefused, RemoteProtocolError
from ..logs import trace, trace_enabled
from ..protocol.engineio_errors import EngineErrorCode, error_body, error_status
from ..protocol.engineio_handshake import OpenPayload
from ..protocol.engineio_packets import EnginePacket, EnginePacketType, decode_payload
from ..protocol.engineio_v3 import (
    decode_binary_payload,
    decode_text_payload,
    decode_ws_binary,
    encode_binary_payload,
    encode_text_payload,
    encode_ws_binary,
)
from ..protocol.http_compression import choose_encoding, encode_body
from ..protocol.wire import WireMessage
from .cors import cors_headers, preflight_headers
from .counters import Counters, text_size
from .forwarding import SessionRouter
from .ports import NO_RECEIVER, HttpRequest, HttpResponse, WebSocketPort

__all__ = [
    "CloseReason",
    "ConnectionHandler",
    "ConnectionObserver",
    "EngineConnection",
    "EngineHandler",
    "EngineHost",
    "EngineServer",
    "HeadersListener",
    "IdGenerator",
]

logger = logging.getLogger("socketeer.engine")


class CloseReason:
    """Engine.IO close reasons, as the official server names them."""

    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    FORCED_CLOSE = "forced close"
    SERVER_SHUTTING_DOWN = "server shutting down"


_LINGERING_REASONS = frozenset({CloseReason.FORCED_CLOSE, CloseReason.SERVER_SHUTTING_DOWN})
PING = WireMessage(b"2")
NOOP = WireMessage(b"6")
PONG = WireMessage(b"3")
PONG_PROBE_TEXT = "3probe"
_TEXT_HEADERS = [("Content-Type", "text/plain; charset=UTF-8")]
_BINARY_HEADERS = [("Content-Type", "application/octet-stream")]


def _v3_payload(messages: list[WireMessage], binary: bool, head: str | None = None) -> bytes:
    """Messages as one Engine.IO v3 polling payload (binary if allowed and needed)."""
    packets: list[str | bytes] = [] if head is None else [head]
    for message in messages:
        if message.text is not None:
            packets.append(message.text.decode())
        packets.extend(message.binaries)
    if binary and any(isinstance(p, bytes) for p in packets):
        return encode_binary_payload(packets)
    return encode_text_payload(packets).encode()


def _v3_ws_message(message: WireMessage) -> WireMessage:
    """A message whose binary packets carry their type byte, as v3 WebSocket frames do."""
    if not message.binaries:
        return message
    binaries = tuple(encode_ws_binary(b) for b in message.binaries)
    v3 = WireMessage(message.text, binaries, message.volatile, message.compress)
    v3.packet = message.packet
    return v3


ConnectionErrorListener = Callable[[HttpRequest, EngineErrorCode, str], Any]
HeadersListener = Callable[[dict[str, str], HttpRequest], Any]
"""``fn(headers, request)``: add to (or change) ``headers``, the extra headers of the response."""
IdGenerator = Callable[[HttpRequest], "str | Awaitable[str]"]
"""``fn(request) -> str`` (or a coroutine function): the id of a new session."""


def _default_id(request: HttpRequest) -> str:
    return secrets.token_urlsafe(15)


class ConnectionHandler(Protocol):
    """The layer above, for one connection: messages in, then one close."""

    def on_text(self, text: str) -> None: ...
    def on_binary(self, data: bytes) -> None: ...
    def on_close(self, reason: str) -> None: ...


class ConnectionObserver(Protocol):
    """Watches one connection from the side (the admin UI's counters): what is sent, and upgrades."""

    def on_sent(self, message: WireMessage) -> None:
        """``message`` was queued on the transport (not called for heartbeats and dropped messages)."""
        ...

    def on_upgrade(self, transport: str) -> None:
        """The connection moved to ``transport`` (``"websocket"``)."""
        ...


class EngineHandler(Protocol):
    def on_connection(self, connection: EngineConnection) -> ConnectionHandler: ...


class EngineHost(Protocol):
    """What the integrations serve: a :class:`~socketeer.Server` or an :class:`~socketeer.EngineIOServer`."""

    engine: EngineServer
    engine_config: EngineConfig

    @property
    def started(self) -> bool: ...
    async def start(self) -> None: ...
    def add_closer(self, closer: Callable[[], Any]) -> None: ...
    async def close(self, timeout: float = ...) -> None: ...


class _NullHandler:
    def on_text(self, text: str) -> None:
        pass

    def on_binary(self, data: bytes) -> None:
        pass

    def on_close(self, reason: str) -> None:
        pass


_NULL_HANDLER = _NullHandler()


class EngineConnection:
    """One Engine.IO session: the current transport, the heartbeat timer, the polling buffers."""

    __slots__ = (
        "_compress_poll",
        "_outbox",
        "_outbox_bytes",
        "_lingering",
        "_overflowed",
        "_poll",
        "_posting",
        "_probe",
        "_server",
        "_timer",
        "_trace",
        "_wake_at",
        "binary_payloads",
        "handler",
        "observer",
        "protocol",
        "request",
        "session",
        "sid",
        "ws",
    )

    def __init__(
        self, server: EngineServer, sid: EngineSid, request: HttpRequest, now: float, protocol: int = 4
    ) -> None:
        config = server.config
        self._server = server
        self.sid = sid
        self.request = request
        self.protocol = protocol
        """The Engine.IO revision the client speaks: 4, or 3 (socket.io-client 2.x, ``allow_eio3``)."""
        self.binary_payloads = protocol == 3 and "b64" not in request.query
        self.session = ServerSession(
            now,
            config.ping_interval,
            config.ping_timeout,
            config.upgrade_timeout,
            client_pings=protocol == 3,
        )
        self.handler: ConnectionHandler = _NULL_HANDLER
        self._trace = trace_enabled()  # read once: socketeer.enable_trace() applies to new connections
        self.observer: ConnectionObserver | None = None
        self.ws: WebSocketPort | None = None
        self._probe: _UpgradeProbe | None = None
        self._outbox: list[WireMessage] = []
        self._outbox_bytes = 0
        self._lingering = False
        self._overflowed = False
        self._poll: asyncio.Future[bytes] | None = None
        self._compress_poll = True  # whether the body the poll was answered with may be compressed
        self._posting = False
        self._timer: asyncio.TimerHandle | None = None  # the linger after a close only
        self._wake_at: float | None = None  # when the server's heartbeat wheel wakes this session

    # -- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.session.closed

    def loop_time(self) -> float:
        return self._server.loop.time()

    @property
    def transport(self) -> str:
        ws = self.ws
        if ws is None:
            return "polling"
        name: str = getattr(ws, "name", "websocket")  # a WebTransport session's port says so
        return name

    # -- sending -------------------------------------------------------------------------------

    def write(self, message: WireMessage) -> bool:
        """Queue a message on the current transport; ``False`` when it was dropped. Never blocks, and
        never calls back into the layer above (a slow client over its send buffer limit is closed on
        the next loop iteration)."""
        if self._overflowed:
            return False
        if self._trace:
            self._trace_out(message)
        ws = self.ws
        if ws is not None:
            if message.volatile and ws.backlogged():
                self._dropped_volatile()
                return False
            buffered = ws.buffered_amount()
            if buffered and buffered + message.nbytes > self._server.config.limits.max_send_buffer:
                self._overflow("send buffer")
                return False
            ws.write(message)
            return True
        if self.session.closed:
            return False
        if message.volatile and self._poll is None:
            self._dropped_volatile()
            return False
        size = message.nbytes
        if self._outbox_bytes + size > self._server.config.limits.max_send_buffer:
            self._overflow("polling buffer")
            return False
        self._outbox.append(message)
        self._outbox_bytes += size
        if self._poll is not None:
            self._flush_poll()
        return True

    def observe(self, observer: ConnectionObserver) -> None:
        """Tell ``observer`` what this connection sends and when it upgrades (the admin UI's counters).

        Connections nobody observes pay nothing for it: the observing ``write`` is a subclass's."""
        self.observer = observer
        self.__class__ = _OBSERVED[type(self)]

    def _trace_out(self, message: WireMessage) -> None:
        if message.text is not None:
            trace(self.sid, self.transport, ">", message.text.decode("utf-8", "replace"))
        for blob in message.binaries:
            trace(self.sid, self.transport, ">", blob)

    def _dropped_volatile(self) -> None:
        counters = self._server.counters
        if counters is not None:
            counters.volatile_drops += 1

    def _overflow(self, what: str) -> None:
        counters = self._server.counters
        if self._server.config.limits.send_buffer_policy == "drop":
            if counters is not None:
                counters.send_buffer_drops += 1
            logger.debug("dropping a message for %s: %s over its limit (slow client)", self.sid, what)
            return
        # Not closed here: write() runs inside broadcasts and handlers, which iterate over the sockets
        # that closing would remove. What is written until the close is dropped.
        logger.warning("closing %s: %s over its limit (slow client)", self.sid, what)
        if counters is not None:
            counters.send_buffer_closes += 1
        self._overflowed = True
        self._server.loop.call_soon(self.close, CloseReason.TRANSPORT_ERROR)

    def flush(self) -> None:
        """Send what is queued on a WebSocket now, in its own write (used after a CONNECT reply)."""
        if self.ws is not None:
            self.ws.flush()

    def _flush_poll(self) -> None:
        poll = self._poll
        if poll is None or not self._outbox:
            return
        self._poll = None
        if poll.done():
            return
        outbox = self._outbox
        self._outbox = []
        self._outbox_bytes = 0
        if self.protocol == 3:
            self._compress_poll = any(message.compress for message in outbox)
            poll.set_result(_v3_payload(outbox, self.binary_payloads))
            return
        if len(outbox) == 1 and outbox[0].text is not None and not outbox[0].binaries:
            text = outbox[0].text
            assert text is not None
            self._compress_poll = outbox[0].compress
            poll.set_result(text)
            return
        segments: list[str] = []
        compress = False
        for message in outbox:
            segments.extend(message.segments())
            compress = compress or message.compress
        self._compress_poll = compress
        poll.set_result("\x1e".join(segments).encode())

    def _control_body(self, body: bytes) -> bytes:
        """A control packet alone in a poll response (``b"6"``, ``b"1"``), framed for the protocol."""
        if self.protocol == 3:
            return encode_text_payload([body.decode()]).encode()
        return body

    def _answer_poll(self, body: bytes) -> None:
        body = self._control_body(body)
        poll = self._poll
        if poll is not None:
            self._poll = None
            if not poll.done():
                self._compress_poll = False  # control packets only
                poll.set_result(body)

    # -- timers --------------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Have the server's heartbeat wheel wake this session at its next deadline (no timer of its own:
        one shared timer serves every session)."""
        deadline = self.session.next_deadline()
        wake = self._wake_at
        if deadline is None:
            if wake is not None:
                self._wake_at = None
                self._server._wakeup_stale()
            return
        if wake is not None:
            if wake <= deadline:
                return  # woken first, it registers its deadline then
            self._server._wakeup_stale()
        self._wake_at = deadline
        self._server._wake(deadline, self)

    def _on_timer(self) -> None:
        now = self._server.loop.time()
        while True:
            action = self.session.handle_timeout(now)
            if action is TimerAction.NONE:
                break
            if action is TimerAction.SEND_PING:
                self.write(PING)
            elif action is TimerAction.PING_TIMEOUT:
                self._finish_close(CloseReason.PING_TIMEOUT, b"1")
                return
            elif action is TimerAction.UPGRADE_TIMEOUT:
                probe = self._probe
                self._probe = None
                if probe is not None:
                    probe.port.close()
        if not self.session.closed:
            self._schedule()

    # -- receiving -----------------------------------------------------------------------------

    def on_ws_text(self, text: str) -> None:
        if self._trace:
            trace(self.sid, "websocket", "<", text)
        if text[:1] == "4":
            self.handler.on_text(text[1:])
            return
        self._on_control(text, from_polling=False)

    def on_ws_binary(self, data: bytes) -> None:
        if self._trace:
            trace(self.sid, "websocket", "<", data)
        self.handler.on_binary(data)

    def on_ws_close(self, reason: str) -> None:
        if not self.session.closed:
            self._finish_close(reason, None)

    def _on_control(self, text: str, *, from_polling: bool) -> None:
        kind = text[:1]
        if kind == "3":
            self.session.receive_pong(self._server.loop.time())
            self._schedule()
        elif kind == "1":
            self._finish_close(CloseReason.TRANSPORT_CLOSE, b"6")
        elif kind == "2":
            if self.session.receive_ping(self._server.loop.time()):  # v3: the client pings
                self.write(PONG)
                self._schedule()
        elif kind == "6":
            pass  # a noop
        else:
            logger.info("closing %s: unexpected packet %r", self.sid, text[:20])
            self._finish_close(CloseReason.PARSE_ERROR, b"1")

    # -- closing -------------------------------------------------------------------------------

    def close(self, reason: str = CloseReason.FORCED_CLOSE) -> None:
        """Close the session from the server side."""
        if not self.session.closed:
            self._finish_close(reason, b"1")

    def _finish_close(self, reason: str, poll_reply: bytes | None) -> None:
        if not self.session.close():
            return
        counters = self._server.counters
        if counters is not None:
            counters.engine_closes[reason] += 1
        if self._wake_at is not None:
            self._wake_at = None
            self._server._wakeup_stale()
        probe = self._probe
        self._probe = None
        if probe is not None:
            probe.port.close()
        if self.ws is not None:
            self.ws.close(1000)
        linger = False
        if self.ws is None and reason in _LINGERING_REASONS:
            # Closed by the server: what is queued (DISCONNECT packets, say) goes out on the pending poll
            # or the next one, and the close packet on the poll after it, as with the official server
            # (the official client handles a close packet before the packets that preceded it in the
            # same payload).
            if self._poll is not None:
                if self._outbox:
                    self._flush_poll()
                    linger = True
                else:
                    self._answer_poll(b"1")
            else:
                linger = True
        elif poll_reply is not None:
            self._answer_poll(poll_reply)
        else:
            self._answer_poll(b"1")
        if linger:
            self._lingering = True
            self._timer = self._server.loop.call_later(self._server.config.ping_timeout, self._end_linger)
        else:
            self._end_linger()
        handler = self.handler
        self.handler = _NULL_HANDLER
        try:
            handler.on_close(reason)
        except Exception:
            logger.exception("error in close handler of %s", self.sid)

    def _end_linger(self) -> None:
        self._lingering = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._outbox = []
        self._outbox_bytes = 0
        self._server._forget(self)

    def _take_final_poll(self) -> bytes:
        """A poll on a session the server closed: what was still queued, then (alone) the close packet."""
        if not self._outbox:
            self._end_linger()
            return self._control_body(b"1")
        if self.protocol == 3:
            outbox = self._outbox
            self._outbox = []
            self._outbox_bytes = 0
            return _v3_payload(outbox, self.binary_payloads)
        segments: list[str] = []
        for message in self._outbox:
            segments.extend(message.segments())
        self._outbox = []
        self._outbox_bytes = 0
        return "\x1e".join(segments).encode()


class _V3Connection(EngineConnection):
    """A session with an Engine.IO v3 client: binary WebSocket frames carry their type byte."""

    __slots__ = ()

    def write(self, message: WireMessage) -> bool:
        if self.ws is not None and message.binaries:
            message = _v3_ws_message(message)
        return super().write(message)

    def on_ws_binary(self, data: bytes) -> None:
        try:
            data = decode_ws_binary(data)
        except RemoteProtocolError:
            self._finish_close(CloseReason.PARSE_ERROR, None)
            return
        super().on_ws_binary(data)  # counted and traced decoded, as v4 frames


class _ObservedConnection(EngineConnection):
    __slots__ = ()

    def write(self, message: WireMessage) -> bool:
        sent = super().write(message)
        if sent and self.observer is not None:
            self.observer.on_sent(message)
        return sent


class _ObservedV3Connection(_ObservedConnection, _V3Connection):
    __slots__ = ()


class _CountedConnection(EngineConnection):
    """A connection of an engine with :class:`Counters` (the metrics): counts the messages it sends and
    receives, a few integer additions each. Engines without counters make plain connections, whose
    methods have no counting in them at all (the class is swapped, as for observers)."""

    __slots__ = ()

    def write(self, message: WireMessage) -> bool:
        ws = self.ws
        if ws is not None and not (message.volatile or self._overflowed or self._trace):
            # the common case, EngineConnection.write's first branch without a call in between
            buffered = ws.buffered_amount()
            if not buffered or buffered + message.nbytes <= self._server.config.limits.max_send_buffer:
                ws.write(message)
                counters: Counters = self._server.counters  # type: ignore[assignment]
                counters.sent.append(message.nbytes)  # an append: no integer allocated per message
                if message.binaries:
                    counters.packets_out += len(message.binaries)
                return True
        if EngineConnection.write(self, message):  # every other case, by the rules of the base class
            counters = self._server.counters  # type: ignore[assignment]
            counters.sent.append(message.nbytes)  # an append: no integer allocated per message
            if message.binaries:
                counters.packets_out += len(message.binaries)
            return True
        return False

    def on_ws_text(self, text: str) -> None:
        if self._trace:
            trace(self.sid, "websocket", "<", text)
        if text[:1] == "4":
            counters: Counters = self._server.counters  # type: ignore[assignment]
            counters.received.append((len(text) if text.isascii() else text_size(text)) - 1)
            self.handler.on_text(text[1:])
            return
        self._on_control(text, from_polling=False)

    def on_ws_binary(self, data: bytes) -> None:
        counters: Counters = self._server.counters  # type: ignore[assignment]
        counters.received.append(len(data))
        EngineConnection.on_ws_binary(self, data)


class _CountedV3Connection(_V3Connection, _CountedConnection):
    """v3 first: what is counted is what a v4 connection counts (binary frames decoded)."""

    __slots__ = ()


class _ObservedCountedConnection(_ObservedConnection, _CountedConnection):
    __slots__ = ()


class _ObservedCountedV3Connection(_ObservedConnection, _CountedV3Connection):
    __slots__ = ()


_OBSERVED: dict[type[EngineConnection], type[EngineConnection]] = {
    EngineConnection: _ObservedConnection,
    _V3Connection: _ObservedV3Connection,
    _ObservedConnection: _ObservedConnection,
    _ObservedV3Connection: _ObservedV3Connection,
    _CountedConnection: _ObservedCountedConnection,
    _CountedV3Connection: _ObservedCountedV3Connection,
    _ObservedCountedConnection: _ObservedCountedConnection,
    _ObservedCountedV3Connection: _ObservedCountedV3Connection,
}

_COUNTED: dict[type[EngineConnection], type[EngineConnection]] = {
    EngineConnection: _CountedConnection,
    _V3Connection: _CountedV3Connection,
    _ObservedConnection: _ObservedCountedConnection,
    _ObservedV3Connection: _ObservedCountedV3Connection,
    _CountedConnection: _CountedConnection,
    _CountedV3Connection: _CountedV3Connection,
    _ObservedCountedConnection: _ObservedCountedConnection,
    _ObservedCountedV3Connection: _ObservedCountedV3Connection,
}


class _UpgradeProbe:
    """Receives on a WebSocket opened to upgrade a polling session, until the upgrade completes."""

    __slots__ = ("connection", "port")

    def __init__(self, connection: EngineConnection, port: WebSocketPort) -> None:
        self.connection = connection
        self.port = port

    def on_ws_text(self, text: str) -> None:
        conn = self.connection
        session = conn.session
        if text == "2probe" and session.state is SessionState.UPGRADING:
            session.receive_probe()
            self.port.send_text(PONG_PROBE_TEXT)
            conn._answer_poll(b"6")
        elif text == "5" and session.state is SessionState.PROBED:
            session.receive_upgrade()
            conn._probe = None
            conn.ws = self.port
            self.port.receiver = conn
            conn._answer_poll(b"6")
            outbox = conn._outbox
            conn._outbox = []
            conn._outbox_bytes = 0
            for message in outbox:
                self.port.write(_v3_ws_message(message) if conn.protocol == 3 else message)
            conn._schedule()
            if conn.observer is not None:
                try:
                    conn.observer.on_upgrade(getattr(self.port, "name", "websocket"))
                except Exception:
                    logger.exception("error in the upgrade observer of %s", conn.sid)
        else:
            logger.info("aborting upgrade of %s: unexpected packet %r", conn.sid, text[:20])
            self._abort()

    def on_ws_binary(self, data: bytes) -> None:
        self._abort()

    def on_ws_close(self, reason: str) -> None:
        conn = self.connection
        if conn._probe is self:
            conn._probe = None
            conn.session.abort_upgrade()
            conn._schedule()

    def _abort(self) -> None:
        conn = self.connection
        if conn._probe is self:
            conn._probe = None
            conn.session.abort_upgrade()
            conn._schedule()
        self.port.close(1002)


class _PendingOpen:
    """The receiver of a new WebSocket while an asynchronous ``generate_id`` runs: the client sends
    nothing before the open packet, so only a close matters."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False

    def on_ws_text(self, text: str) -> None:
        pass

    def on_ws_binary(self, data: bytes) -> None:
        pass

    def on_ws_close(self, reason: str) -> None:
        self.closed = True


def _error(code: EngineErrorCode, extra: list[tuple[str, str]], message: str | None = None) -> HttpResponse:
    return HttpResponse(
        error_status(code), [("Content-Type", "application/json"), *extra], error_body(code, message)
    )


class EngineServer:
    """Accepts Engine.IO connections on one path and keeps their sessions."""

    def __init__(
        self,
        config: EngineConfig,
        handler: EngineHandler,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        generate_id: IdGenerator | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self._loop = loop
        self.connections: dict[EngineSid, EngineConnection] = {}
        self.generate_id: IdGenerator = generate_id or _default_id
        """The id of each new session, as the official ``io.engine.generateId``: ``fn(request)``
        returning a string, or a coroutine function; replace it to use your own ids."""
        self._initial_headers: list[HeadersListener] = []
        self._headers: list[HeadersListener] = []
        self._upgrades = ["websocket"] if config.allow_upgrades and "websocket" in config.transports else []
        self._handshakes: dict[str, tuple[float, int]] = {}
        self._error_listeners: list[ConnectionErrorListener] = []
        self.counters: Counters | None = None
        """What :mod:`socketeer.metrics` reads; ``None`` until :meth:`count` installs it."""
        self.router: SessionRouter | None = None
        # The heartbeat wheel: one timer for every session's deadlines (PING due, PONG overdue, upgrade
        # overdue), a heap of (time, order, session); an entry whose time is no longer the session's
        # ``_wake_at`` is stale and skipped.
        self._wakeups: list[tuple[float, int, EngineConnection]] = []
        self._wakeups_order = itertools.count()
        self._wakeups_stale = 0
        self._wakeup_timer: asyncio.TimerHandle | None = None
        self._wakeup_at = float("inf")

    def count(self, counters: Counters) -> None:
        """Count what this engine does into ``counters`` from now on (:mod:`socketeer.metrics`).

        The sessions, open ones included, become counting connections (their class is swapped): an
        engine that never counts pays nothing per message for it."""
        self.counters = counters
        for conn in self.connections.values():
            conn.__class__ = _COUNTED[type(conn)]

    def use_router(self, router: SessionRouter | None) -> None:
        """Share the sessions with other servers without sticky sessions: new session ids name this server,
        and polling requests for another server's sessions are relayed to it (see ``forwarding``)."""
        self.router = router
        if router is not None:
            inner = self.generate_id
            prefix = router.node_id

            async def prefixed(result: str | Awaitable[str], ready: Awaitable[None] | None) -> str:
                if ready is not None:
                    await ready
                return prefix + (result if isinstance(result, str) else await result)

            def routed(request: HttpRequest) -> str | Awaitable[str]:
                ready = router.session_created()
                result = inner(request)
                if ready is None and isinstance(result, str):
                    return prefix + result
                return prefixed(result, ready)

            self.generate_id = routed

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def release_loop(self) -> None:
        """Forget the event loop once every connection is closed: the next one binds to the loop running
        then (a server closed and served again, as tests do)."""
        if not self.connections:
            self._loop = None
            self._handshakes = {}  # timestamps of the old loop's clock
            if self._wakeup_timer is not None:
                self._wakeup_timer.cancel()
                self._wakeup_timer = None
            self._wakeup_at = float("inf")
            self._wakeups = []
            self._wakeups_stale = 0

    # -- the heartbeat wheel -------------------------------------------------------------------

    def _wake(self, at: float, conn: EngineConnection) -> None:
        heapq.heappush(self._wakeups, (at, next(self._wakeups_order), conn))
        if at < self._wakeup_at:
            if self._wakeup_timer is not None:
                self._wakeup_timer.cancel()
            self._wakeup_at = at
            self._wakeup_timer = self.loop.call_at(at, self._on_wakeups)

    def _wakeup_stale(self) -> None:
        """An entry of the wheel no longer counts (its session closed or moved its deadline earlier)."""
        self._wakeups_stale += 1
        if self._wakeups_stale > 256 and 2 * self._wakeups_stale > len(self._wakeups):
            # drop what is stale at once (closed sessions are not kept until their old deadline):
            # amortised, each stale entry is copied over at most once
            heap = self._wakeups = [entry for entry in self._wakeups if entry[2]._wake_at is entry[0]]
            heapq.heapify(heap)
            self._wakeups_stale = 0

    def _on_wakeups(self) -> None:
        self._wakeup_timer = None
        self._wakeup_at = float("inf")
        heap = self._wakeups
        now = self.loop.time()
        while heap and heap[0][0] <= now:
            at, _, conn = heapq.heappop(heap)
            if conn._wake_at is not at:
                self._wakeups_stale -= 1
                continue
            conn._wake_at = None
            try:
                conn._on_timer()
            except Exception:
                logger.exception("error in the heartbeat of %s", conn.sid)
        # the sessions woken may have armed the timer again (``_wake``): one timer, never two
        if heap and heap[0][0] < self._wakeup_at:
            if self._wakeup_timer is not None:
                self._wakeup_timer.cancel()
            self._wakeup_at = heap[0][0]
            self._wakeup_timer = self.loop.call_at(self._wakeup_at, self._on_wakeups)

    def _forget(self, conn: EngineConnection) -> None:
        if self.connections.get(conn.sid) is conn:
            del self.connections[conn.sid]

    # -- request checks ------------------------------------------------------------------------

    def verify(self, request: HttpRequest, *, websocket: bool) -> tuple[EngineErrorCode, str | None] | None:
        """Check a request's query, as the official server does, before anything else happens."""
        query = request.query
        transport = query.get("transport")
        if transport is None or transport not in self.config.transports:
            return EngineErrorCode.UNKNOWN_TRANSPORT, None  # "webtransport" too: it is never HTTP/1
        if websocket != (transport == "websocket"):
            return EngineErrorCode.BAD_REQUEST, None
        if query.get("EIO") != "4" and not self.config.allow_eio3:
            return EngineErrorCode.UNSUPPORTED_PROTOCOL_VERSION, None
        sid = query.get("sid")
        if sid is not None:
            conn = self.connections.get(EngineSid(sid))
            if conn is None:
                return EngineErrorCode.UNKNOWN_SID, None
            if not websocket and conn.ws is not None:
                return EngineErrorCode.BAD_REQUEST, None
            if websocket and (conn.ws is not None or conn.session.upgrading):
                return None  # accepted, then closed: as the official server
        else:
            if not websocket and request.method != "GET":
                return EngineErrorCode.BAD_HANDSHAKE_METHOD, None
            refusal = self._check_admission(request)
            if refusal is not None:
                return refusal
        return None

    def _check_admission(self, request: HttpRequest) -> tuple[EngineErrorCode, str | None] | None:
        limits = self.config.limits
        if limits.max_connections is not None and len(self.connections) >= limits.max_connections:
            return EngineErrorCode.FORBIDDEN, "Too many connections"
        address = request.remote_address[0] if request.remote_address else ""
        if limits.max_connections_per_address is not None:
            count = sum(
                1
                for c in self.connections.values()
                if c.request.remote_address and c.request.remote_address[0] == address
            )
            if count >= limits.max_connections_per_address:
                return EngineErrorCode.FORBIDDEN, "Too many connections from this address"
        rate = limits.max_handshakes_per_second_per_address
        if rate is not None:
            now = self.loop.time()
            start, count = self._handshakes.get(address, (now, 0))
            if now - start >= 1.0:
                start, count = now, 0
            if count >= rate:
                return EngineErrorCode.FORBIDDEN, "Too many handshakes"
            self._handshakes[address] = (start, count + 1)
            if len(self._handshakes) > 10_000:
                self._handshakes = {k: v for k, v in self._handshakes.items() if now - v[0] < 1.0}
        return None

    async def _allow(self, request: HttpRequest) -> str | None:
        """Run ``allow_request``; returns a refusal message or ``None``."""
        hook = self.config.allow_request
        if hook is None:
            return None
        try:
            result = await hook(request)
        except ConnectionRefused as exc:
            return exc.message
        except Exception:
            logger.exception("allow_request raised; refusing the handshake")
            return EngineErrorCode.FORBIDDEN.message
        if result is False:
            return EngineErrorCode.FORBIDDEN.message
        if isinstance(result, str):
            return result
        return None

    # -- HTTP ----------------------------------------------------------------------------------

    def on_connection_error(self, listener: ConnectionErrorListener) -> ConnectionErrorListener:
        """Call ``listener(request, code, message)`` for every request refused with an Engine.IO error
        (the official server's ``connection_error`` event); usable as a decorator."""
        self._error_listeners.append(listener)
        return listener

    def on_initial_headers(self, listener: HeadersListener) -> HeadersListener:
        """Call ``listener(headers, request)`` before the response to each handshake (polling or
        WebSocket) is written: what it puts in the ``headers`` dict is sent with the response (the
        official ``initial_headers`` event); usable as a decorator."""
        self._initial_headers.append(listener)
        return listener

    def on_headers(self, listener: HeadersListener) -> HeadersListener:
        """Call ``listener(headers, request)`` before every successful Engine.IO response (the handshake,
        each poll and post, and every WebSocket's ``101``) is written; what it puts in ``headers`` is
        sent (the official ``headers`` event); usable as a decorator."""
        self._headers.append(listener)
        return listener

    def _extra_headers(self, request: HttpRequest, initial: dict[str, str] | None) -> list[tuple[str, str]]:
        """The listeners' headers for one response; ``initial`` (for a handshake) is what the engine
        itself adds (the cookie), given to the listeners first."""
        headers = {} if initial is None else initial
        try:
            if initial is not None:
                for listener in self._initial_headers:
                    listener(headers, request)
            for listener in self._headers:
                listener(headers, request)
        except Exception:
            logger.exception("error in a headers listener")
        extra = []
        for name, value in headers.items():
            name, value = str(name), str(value)
            if not name or any(c in name for c in "\r\n: ") or "\r" in value or "\n" in value:
                logger.error("dropping the invalid header %r from a headers listener", name)
                continue
            extra.append((name, value))
        return extra

    def websocket_headers(self, request: HttpRequest) -> list[tuple[str, str]]:
        """The extra headers of the ``101`` answering a WebSocket request that passed the checks."""
        if not self._headers and not self._initial_headers:
            return []
        return self._extra_headers(request, {} if request.query.get("sid") is None else None)

    def _respond(
        self, request: HttpRequest, headers: list[tuple[str, str]], body: bytes, status: int = 200
    ) -> HttpResponse:
        if self._headers:
            headers = headers + self._extra_headers(request, None)
        return HttpResponse(status, headers, body)

    def _report(self, request: HttpRequest, response: HttpResponse) -> None:
        try:
            error = json.loads(response.body)
            code, message = EngineErrorCode(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            return
        for listener in self._error_listeners:
            try:
                listener(request, code, message)
            except Exception:
                logger.exception("error in a connection_error listener")

    async def handle_request(self, request: HttpRequest) -> HttpResponse:
        """Serve one HTTP request on the engine's path (handshake, poll or post)."""
        response = await self._handle_request(request)
        if self._error_listeners and response.status in (400, 403):
            self._report(request, response)
        return response

    async def _handle_request(self, request: HttpRequest) -> HttpResponse:
        cors = cors_headers(self.config.cors, request.headers)
        if request.method == "OPTIONS":
            return HttpResponse(204, preflight_headers(self.config.cors, request.headers))
        router = self.router
        if router is not None:
            sid = request.query.get("sid")
            if sid is not None and sid not in self.connections:
                owner = await router.locate(sid)
                if owner is not None:
                    return await router.forward(owner, request)
        failure = self.verify(request, websocket=False)
        if failure is not None:
            return _error(failure[0], cors, failure[1])
        sid = request.query.get("sid")
        if sid is None:
            return await self._handshake_polling(request, cors)
        conn = self.connections.get(EngineSid(sid))
        if conn is None:
            return _error(EngineErrorCode.UNKNOWN_SID, cors)
        deadline = conn.session.next_deadline()
        if deadline is not None and deadline <= self.loop.time():
            conn._on_timer()  # due already (a busy loop runs timers late): settle it before the request
            if conn.session.closed and not conn._lingering:
                return _error(EngineErrorCode.UNKNOWN_SID, cors)
        if request.method == "GET":
            return await self._poll(conn, request, cors)
        if request.method == "POST":
            return self._post(conn, request, cors)
        return _error(EngineErrorCode.BAD_REQUEST, cors)

    async def _handshake_polling(self, request: HttpRequest, cors: list[tuple[str, str]]) -> HttpResponse:
        refusal = await self._allow(request)
        if refusal is not None:
            return _error(EngineErrorCode.FORBIDDEN, cors, refusal)
        sid = await self._new_sid(request)
        if sid is None:
            return _error(EngineErrorCode.BAD_REQUEST, cors)
        conn = self._open(request, sid)
        headers = (_BINARY_HEADERS if conn.binary_payloads else _TEXT_HEADERS) + cors
        if self._initial_headers or self._headers:
            cookie = self._cookie(conn)
            headers = headers + self._extra_headers(request, dict(cookie))
        else:
            headers += self._cookie(conn)
        body = b"0" + self._open_payload(conn, self._upgrades).encode()
        conn.handler = self.handler.on_connection(conn)
        if conn.protocol == 3:
            outbox = conn._outbox
            conn._outbox = []
            conn._outbox_bytes = 0
            body = _v3_payload(outbox, conn.binary_payloads, body.decode())
            if body[:1] not in (b"\x00", b"\x01"):
                headers[0] = _TEXT_HEADERS[0]
        elif conn._outbox:
            # the layer above already wrote (e.g. a server-side CONNECT): send it with the open packet
            segments = [body.decode()]
            for message in conn._outbox:
                segments.extend(message.segments())
            conn._outbox = []
            conn._outbox_bytes = 0
            body = "\x1e".join(segments).encode()
        headers, body = self._compressed(request, headers, body, True)
        return HttpResponse(200, headers, body)

    async def _new_sid(self, request: HttpRequest) -> EngineSid | None:
        """A fresh session id from :attr:`generate_id`, or ``None`` when it failed (logged)."""
        for _ in range(10):
            try:
                result = self.generate_id(request)
                if inspect.isawaitable(result):
                    result = await result
            except Exception:
                logger.exception("generate_id raised; refusing the handshake")
                return None
            if not isinstance(result, str) or not result:
                logger.error("generate_id returned %r, not a non-empty string", result)
                return None
            if EngineSid(result) not in self.connections:
                return EngineSid(result)
        logger.error("generate_id returned ids already in use")
        return None

    def _new_sid_now(self, request: HttpRequest) -> EngineSid | Awaitable[EngineSid | None] | None:
        """As :meth:`_new_sid`, without a task when the generator is the (synchronous) default."""
        if self.generate_id is _default_id:
            sid = EngineSid(_default_id(request))
            while sid in self.connections:
                sid = EngineSid(_default_id(request))
            return sid
        return self._new_sid(request)

    def _open(self, request: HttpRequest, sid: EngineSid) -> EngineConnection:
        if request.query.get("EIO") == "4":
            conn = EngineConnection(self, sid, request, self.loop.time())
        else:  # as the official server: 3 by default
            conn = _V3Connection(self, sid, request, self.loop.time(), 3)
        if self.counters is not None:
            conn.__class__ = _COUNTED[type(conn)]
        self.connections[sid] = conn
        conn._schedule()
        return conn

    def _open_payload(self, conn: EngineConnection, upgrades: list[str]) -> str:
        config = self.config
        return OpenPayload(
            conn.sid,
            upgrades,
            round(config.ping_interval * 1000),
            round(config.ping_timeout * 1000),
            config.max_http_buffer_size,
        ).to_json()

    def _cookie(self, conn: EngineConnection) -> list[tuple[str, str]]:
        cookie = self.config.cookie
        if cookie is None:
            return []
        value = f"{cookie.name}={conn.sid}; Path={cookie.path}"
        if cookie.http_only:
            value += "; HttpOnly"
        if cookie.same_site:
            value += f"; SameSite={cookie.same_site}"
        return [("Set-Cookie", value)]

    def _compressed(
        self, request: HttpRequest, headers: list[tuple[str, str]], body: bytes, compress: bool
    ) -> tuple[list[tuple[str, str]], bytes]:
        """A poll's headers and body, compressed as ``http_compression`` and the request's Accept-Encoding
        say (as the official polling transport: only at ``threshold`` bytes or more, and not when every
        packet of the payload was sent with ``compress(False)``)."""
        options = self.config.http_compression
        if options is None or not compress or len(body) < options.threshold:
            return headers, body
        encoding = choose_encoding(request.headers.get("accept-encoding"))
        if encoding is None:
            return headers, body
        return [*headers, ("Content-Encoding", encoding)], encode_body(body, encoding, options.level)

    async def _poll(
        self, conn: EngineConnection, request: HttpRequest, cors: list[tuple[str, str]]
    ) -> HttpResponse:
        if conn._poll is not None:
            logger.info("closing %s: overlapping polls", conn.sid)
            conn._finish_close(CloseReason.TRANSPORT_ERROR, b"1")
            return _error(EngineErrorCode.BAD_REQUEST, cors)
        if conn.session.closed:
            if conn._lingering:
                return self._respond(
                    request, *self._compressed(request, _TEXT_HEADERS + cors, conn._take_final_poll(), True)
                )
            return _error(EngineErrorCode.UNKNOWN_SID, cors)
        headers = _TEXT_HEADERS + cors
        if conn.session.state is SessionState.PROBED:
            return self._respond(request, headers, conn._control_body(b"6"))
        future: asyncio.Future[bytes] = self.loop.create_future()
        conn._poll = future
        if conn._outbox:
            conn._flush_poll()
        try:
            body = await future
        except asyncio.CancelledError:
            if conn._poll is future:
                conn._poll = None
                if not conn.session.closed and conn.ws is None:
                    conn._finish_close(CloseReason.TRANSPORT_CLOSE, None)
            raise
        if conn.protocol == 3 and body[:1] in (b"\x00", b"\x01"):
            headers = _BINARY_HEADERS + cors  # a v3 binary payload
        return self._respond(request, *self._compressed(request, headers, body, conn._compress_poll))

    def _post(
        self, conn: EngineConnection, request: HttpRequest, cors: list[tuple[str, str]]
    ) -> HttpResponse:
        if conn._posting:
            conn._finish_close(CloseReason.TRANSPORT_ERROR, b"1")
            return _error(EngineErrorCode.BAD_REQUEST, cors)
        if len(request.body) > self.config.max_http_buffer_size:
            logger.info("closing %s: POST body of %d bytes over the limit", conn.sid, len(request.body))
            conn._finish_close(CloseReason.TRANSPORT_ERROR, b"1")
            return HttpResponse(413, list(cors), b"")
        conn._posting = True
        try:
            try:
                packets = self._decode_post(conn, request)
            except (UnicodeDecodeError, RemoteProtocolError) as exc:
                logger.info("closing %s: bad payload (%s)", conn.sid, exc)
                conn._finish_close(CloseReason.PARSE_ERROR, b"1")
                return _error(EngineErrorCode.BAD_REQUEST, cors)
            counters = self.counters
            if conn._trace:
                trace(conn.sid, "polling", "<", request.body.decode("utf-8", "replace"))
            for packet in packets:
                if conn.session.closed:
                    break
                if packet.type is EnginePacketType.MESSAGE:
                    if isinstance(packet.data, bytes):
                        if counters is not None:
                            counters.packets_in += 1
                            counters.bytes_in += len(packet.data)
                        conn.handler.on_binary(packet.data)
                    else:
                        if counters is not None:
                            counters.packets_in += 1
                            counters.bytes_in += text_size(packet.data)
                        conn.handler.on_text(packet.data)
                else:
                    data = packet.data if isinstance(packet.data, str) else ""
                    conn._on_control(f"{int(packet.type)}{data}", from_polling=True)
        finally:
            conn._posting = False
        return self._respond(request, [("Content-Type", "text/html"), *cors], b"ok")

    def _decode_post(self, conn: EngineConnection, request: HttpRequest) -> list[EnginePacket]:
        max_packets = self.config.limits.max_packets_per_payload
        if conn.protocol == 3:
            if request.headers.get("content-type", "").startswith("application/octet-stream"):
                return decode_binary_payload(request.body, max_packets=max_packets)
            return decode_text_payload(request.body.decode("utf-8"), max_packets=max_packets)
        return decode_payload(request.body.decode("utf-8"), max_packets=max_packets)

    # -- WebSocket -----------------------------------------------------------------------------

    def accept_websocket(self, request: HttpRequest, port: WebSocketPort) -> None:
        """Take over a WebSocket whose request passed :meth:`verify` and ``allow_request``."""
        sid = request.query.get("sid")
        if sid is None:
            new_sid = self._new_sid_now(request)
            if new_sid is None or isinstance(new_sid, str):
                self._open_websocket(request, port, new_sid)
            else:
                pending = _PendingOpen()
                port.receiver = pending
                self.loop.create_task(self._open_websocket_later(request, port, pending, new_sid))
            return
        conn_or_none = self.connections.get(EngineSid(sid))
        if (
            conn_or_none is None
            or conn_or_none.ws is not None
            or conn_or_none.session.upgrading
            or conn_or_none.session.closed
        ):
            port.receiver = NO_RECEIVER
            port.close(1000)
            return
        conn = conn_or_none
        probe = _UpgradeProbe(conn, port)
        conn._probe = probe
        port.receiver = probe
        conn.session.start_upgrade(self.loop.time())
        conn._schedule()

    async def _open_websocket_later(
        self,
        request: HttpRequest,
        port: WebSocketPort,
        pending: _PendingOpen,
        new_sid: Awaitable[EngineSid | None],
    ) -> None:
        sid = await new_sid
        if not pending.closed:
            self._open_websocket(request, port, sid)

    def _open_websocket(self, request: HttpRequest, port: WebSocketPort, sid: EngineSid | None) -> None:
        if sid is None:
            port.receiver = NO_RECEIVER
            port.close(1011)
            if self._error_listeners:
                self._report(request, _error(EngineErrorCode.BAD_REQUEST, []))
            return
        conn = self._open(request, sid)
        conn.ws = port
        port.receiver = conn
        port.send_text("0" + self._open_payload(conn, []))
        conn.handler = self.handler.on_connection(conn)

    async def allow_websocket(self, request: HttpRequest) -> HttpResponse | None:
        """Checks for a WebSocket request; ``None`` to accept, or the HTTP error to answer."""
        response = await self._allow_websocket(request)
        if response is not None and self._error_listeners:
            self._report(request, response)
        return response

    async def _allow_websocket(self, request: HttpRequest) -> HttpResponse | None:
        cors = cors_headers(self.config.cors, request.headers)
        failure = self.verify(request, websocket=True)
        if failure is not None:
            return _error(failure[0], cors, failure[1])
        if request.query.get("sid") is None:
            refusal = await self._allow(request)
            if refusal is not None:
                return _error(EngineErrorCode.FORBIDDEN, cors, refusal)
        return None

    # -- WebTransport --------------------------------------------------------------------------

    def enable_webtransport(self) -> None:
        """Advertise the ``webtransport`` upgrade in handshakes (called once its listener runs)."""
        if self.config.allow_upgrades and "webtransport" not in self._upgrades:
            self._upgrades.append("webtransport")

    async def allow_webtransport(self, request: HttpRequest) -> HttpResponse | None:
        """Checks for a new session over WebTransport (an open packet without a sid): the admission
        limits and ``allow_request``, as for a new WebSocket. ``None`` to accept, or the refusal.

        The official client sends no query on WebTransport; one that does must say
        ``EIO=4&transport=webtransport``.
        """
        query = request.query
        failure: tuple[EngineErrorCode, str | None] | None = None
        if query.get("transport", "webtransport") != "webtransport":
            failure = EngineErrorCode.UNKNOWN_TRANSPORT, None
        elif query.get("EIO", "4") != "4":
            failure = EngineErrorCode.UNSUPPORTED_PROTOCOL_VERSION, None
        else:
            failure = self._check_admission(request)
            if failure is None:
                refusal = await self._allow(request)
                if refusal is not None:
                    failure = EngineErrorCode.FORBIDDEN, refusal
        if failure is None:
            return None
        response = _error(failure[0], [], failure[1])
        if self._error_listeners:
            self._report(request, response)
        return response

    def accept_webtransport(self, request: HttpRequest, port: WebSocketPort, open_data: str) -> None:
        """Take over a WebTransport session whose first packet was an open packet carrying ``open_data``:
        empty for a new session, ``{"sid": ...}`` to upgrade that session (then probed as a WebSocket)."""
        query = {k: v for k, v in request.query.items() if k != "sid"}
        query["EIO"] = "4"  # the official client sends no query on WebTransport: it speaks v4
        query["transport"] = "webtransport"
        if open_data:
            try:
                sid = json.loads(open_data)["sid"]
            except (ValueError, KeyError, TypeError):
                sid = None
            if not isinstance(sid, str) or EngineSid(sid) not in self.connections:
                port.receiver = NO_RECEIVER
                port.close(1000)
                return
            query["sid"] = sid
        request = HttpRequest(
            request.method,
            request.path,
            query,
            request.headers,
            request.body,
            request.remote_address,
            request.query_string,
            request.scheme,
        )
        self.accept_websocket(request, port)

    # -- shutdown ------------------------------------------------------------------------------

    def close_all(self, reason: str = CloseReason.SERVER_SHUTTING_DOWN) -> None:
        for conn in list(self.connections.values()):
            conn.close(reason)
