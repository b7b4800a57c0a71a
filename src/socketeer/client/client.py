"""The Socket.IO client: :class:`AsyncClient`, its :class:`Manager` and namespace sockets.

Behaviour follows the official ``socket.io-client`` 4.8:

- one :class:`Manager` (``client.io``) owns the Engine.IO connection and the reconnection policy; every
  namespace socket (``client.socket("/chat")``) shares it;
- emits made while disconnected are buffered (bounded by ``max_buffer``) and sent in order once
  connected; volatile emits are dropped instead;
- with ``retries`` > 0 each emit gets an acknowledgement and is re-sent until acknowledged, one packet in
  flight at a time, in order (``ack_timeout`` bounds each try);
- with connection state recovery on the server, the session id (``pid``) and the offset of the last
  event are sent back on reconnection; ``recovered`` tells whether the server restored the session.

Handlers: a plain function runs inline on the event loop (keep it short: it delays the heartbeat), an
``async`` function runs as its own task. A handler receives the event's arguments (extra ones are dropped,
missing ones are ``None``); for an event the server sent with an acknowledgement, the handler's return
value answers it, or a handler with a keyword-only ``ack`` parameter receives the callback.

Lifecycle events on a socket: ``connect()``, ``connect_error(error)`` (a
:class:`~socketeer.exceptions.ConnectionRefused` with ``message`` and ``data`` when the server refused,
else the connection error) and ``disconnect(reason)`` (a :class:`~socketeer.DisconnectReason`).
Manager events, registered with ``client.io.on(...)``: ``open``, ``close(reason)``, ``error(error)``, ``ping``,
``reconnect_attempt(attempt)``, ``reconnect(attempt)``, ``reconnect_error(error)``, ``reconnect_failed()``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import ssl as _ssl
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

from ..exceptions import (
    AckTimeout,
    BufferFull,
    ConnectionRefused,
    InvalidPayload,
    NotConnected,
    RemoteProtocolError,
)
from ..protocol.parser import Decoder, JsonParser, Parser
from ..protocol.permessage_deflate import PerMessageDeflate
from ..protocol.socketio_packets import RESERVED_EVENTS, DecodeLimits, SocketPacket, SocketPacketType
from ..sio.acks import AckResponder, ack_result, reject_payload
from ..sio.handlers import Handler, HandlerSpec
from ..sio.reasons import DisconnectReason
from ..transports.tasks import TaskGroupLite
from .engine_client import EngineClient, EngineError, EngineOptions, TransportName
from .reconnect import Backoff

__all__ = ["AsyncClient", "Manager", "NamespaceSocket"]

logger = logging.getLogger("socketeer.client")

H = TypeVar("H", bound=Handler)
Auth = Mapping[str, Any] | Callable[[], Any] | None
AckCallback = Callable[[BaseException | None, list[Any]], None]

_T = SocketPacketType
MANAGER_EVENTS = frozenset(
    {
        "open",
        "close",
        "error",
        "ping",
        "reconnect_attempt",
        "reconnect",
        "reconnect_error",
        "reconnect_failed",
    }
)
_SOCKET_EVENTS = frozenset({"connect", "connect_error", "disconnect"})


class _Listeners:
    """Named event handlers, checked once at registration."""

    __slots__ = ("_entries", "_tasks")

    def __init__(self, tasks: TaskGroupLite) -> None:
        self._entries: dict[Any, list[tuple[HandlerSpec, bool]]] = {}
        self._tasks = tasks

    def add(self, event: Any, fn: Handler, once: bool = False) -> None:
        self._entries.setdefault(event, []).append((HandlerSpec(fn), once))

    def remove(self, event: Any | None = None, fn: Handler | None = None) -> None:
        if event is None:
            self._entries.clear()
        elif fn is None:
            self._entries.pop(event, None)
        else:
            entries = self._entries.get(event)
            if entries:
                entries[:] = [e for e in entries if e[0].fn is not fn]
                if not entries:
                    del self._entries[event]

    def fire(self, event: Any, args: list[Any], ack: AckResponder | None = None, where: object = "") -> bool:
        entries = self._entries.get(event)
        if not entries:
            return False
        snapshot = list(entries)
        if any(once for _, once in snapshot):
            entries[:] = [e for e in entries if not e[1]]
            if not entries:
                del self._entries[event]
        for spec, _ in snapshot:
            invoke(self._tasks, spec, (), args, ack, event, where)
        return True


def invoke(
    tasks: TaskGroupLite,
    spec: HandlerSpec,
    leading: tuple[Any, ...],
    args: list[Any],
    ack: AckResponder | None,
    event: Any,
    where: object = "",
) -> None:
    """Run one handler: inline when it is a plain function, as a task when it is async."""
    if len(args) == spec.exact:
        call_args = args
    else:
        try:
            call_args = spec.adapt(args)
        except InvalidPayload as exc:
            reject_payload(exc, event, where, ack)
            return
    try:
        if spec.wants_ack:
            result = spec.fn(*leading, *call_args, ack=ack if ack is not None else _no_ack)
        else:
            result = spec.fn(*leading, *call_args)
    except Exception:
        logger.exception("error in handler %s of event %r", spec.name, event)
        return
    if inspect.iscoroutine(result):
        on_done = None if ack is None or spec.wants_ack else ack.from_task
        tasks.spawn(result, on_done)
    elif inspect.isawaitable(result):

        async def await_it(awaitable: Awaitable[Any] = result) -> Any:
            return await awaitable

        tasks.spawn(await_it(), None if ack is None or spec.wants_ack else ack.from_task)
    elif ack is not None and not spec.wants_ack:
        ack.answer(result)


def _no_ack(*args: Any) -> None:
    pass


@dataclass(slots=True)
class _PendingAck:
    callback: AckCallback
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Queued:
    """A packet of the retry queue (``retries`` > 0)."""

    event: Any
    args: list[Any]
    done: AckCallback | None
    timeout: float | None
    tries: int = 0
    pending: bool = False


@dataclass(slots=True)
class _Buffered:
    packet: SocketPacket
    volatile: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Manager:
    """The Engine.IO connection shared by namespace sockets, and the reconnection policy (``client.io``)."""

    def __init__(
        self,
        options: EngineOptions,
        *,
        reconnection: bool = True,
        reconnection_attempts: float = math.inf,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        parser: Parser | None = None,
        random: Callable[[], float] | None = None,
    ) -> None:
        self.options = options
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.timeout = timeout
        self.parser: Parser = parser if parser is not None else JsonParser()
        backoff_kwargs: dict[str, Any] = {} if random is None else {"random": random}
        self.backoff = Backoff(
            initial=reconnection_delay,
            maximum=reconnection_delay_max,
            randomization_factor=randomization_factor,
            **backoff_kwargs,
        )
        self.engine: EngineClient | None = None
        self.state = "closed"  # "closed" | "opening" | "open"
        self.reconnecting = False
        self._skip_reconnect = False
        self._task: asyncio.Task[None] | None = None
        self._closed_fut: asyncio.Future[tuple[str, BaseException | None]] | None = None
        self._decoder: Decoder | None = None
        self._sockets: dict[str, NamespaceSocket] = {}
        self._active: dict[str, NamespaceSocket] = {}
        self.tasks = TaskGroupLite()
        self._listeners = _Listeners(self.tasks)

    # ----------------------------------------------------------------------------------------------
    # public

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a manager event handler (``reconnect_attempt``, ``reconnect``, ...); usable as a decorator."""
        if event not in MANAGER_EVENTS:
            raise ValueError(f"unknown manager event {event!r}; one of {sorted(MANAGER_EVENTS)}")

        def register(fn: H) -> H:
            self._listeners.add(event, fn)
            return fn

        return register if handler is None else register(handler)

    def once(self, event: str, handler: Handler) -> None:
        if event not in MANAGER_EVENTS:
            raise ValueError(f"unknown manager event {event!r}")
        self._listeners.add(event, handler, once=True)

    def off(self, event: str | None = None, handler: Handler | None = None) -> None:
        self._listeners.remove(event, handler)

    def socket(self, namespace: str, *, auth: Auth = None, **options: Any) -> NamespaceSocket:
        """The socket for ``namespace`` on this connection (created on first use, then the same one)."""
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        sock = self._sockets.get(namespace)
        if sock is None:
            sock = NamespaceSocket(self, namespace, auth=auth, **options)
            self._sockets[namespace] = sock
        return sock

    @property
    def transport(self) -> TransportName | None:
        """The transport in use (``polling``, ``websocket`` or ``webtransport``), or ``None`` when not connected."""
        engine = self.engine
        return engine.transport if engine is not None and engine.state == "open" else None

    # ----------------------------------------------------------------------------------------------
    # for sockets

    def _emit(self, event: str, *args: Any) -> None:
        self._listeners.fire(event, list(args))

    def _subscribe(self, sock: NamespaceSocket) -> None:
        self._active[sock.namespace] = sock

    def _unsubscribe(self, sock: NamespaceSocket) -> None:
        if self._active.get(sock.namespace) is sock:
            del self._active[sock.namespace]

    async def _close_if_idle(self) -> None:
        """Close the connection when no namespace uses it any more (checked now, not when scheduled)."""
        if not self._active:
            await self._close()

    def _open(self) -> None:
        """Start connecting, unless already connecting, connected or waiting to reconnect."""
        if self._task is not None and not self._task.done():
            return
        self._skip_reconnect = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _close(self) -> None:
        self._skip_reconnect = True
        self.reconnecting = False
        engine = self.engine
        task = self._task
        if engine is not None and engine.state == "open":
            await engine.close()
        elif task is not None and not task.done():
            task.cancel()
        if task is not None and task is not asyncio.current_task():
            await asyncio.gather(task, return_exceptions=True)

    def _send_packet(self, packet: SocketPacket, volatile: bool = False) -> None:
        engine = self.engine
        if engine is not None:
            engine.send(self.parser.encode(packet, volatile))

    def _writable(self) -> bool:
        engine = self.engine
        return engine is not None and engine.writable

    def _ping_expired(self) -> bool:
        engine = self.engine
        if engine is None or engine.state != "open":
            return True
        if engine.ping_expired():
            asyncio.get_running_loop().call_soon(engine.abort, "ping timeout", None)
            return True
        return False

    # ----------------------------------------------------------------------------------------------
    # the connection supervisor: open, wait for the close, back off, reopen

    async def _run(self) -> None:
        first = True
        backoff = self.backoff
        loop = asyncio.get_running_loop()
        while True:
            if not first:
                if backoff.attempts >= self.reconnection_attempts:
                    backoff.reset()
                    self.reconnecting = False
                    self._emit("reconnect_failed")
                    self._give_up(NotConnected("reconnection failed"))
                    return
                self.reconnecting = True
                await asyncio.sleep(backoff.duration())
                if self._skip_reconnect:
                    return
                self._emit("reconnect_attempt", backoff.attempts)
                if self._skip_reconnect:
                    return
            self.state = "opening"
            closed: asyncio.Future[tuple[str, BaseException | None]] = loop.create_future()
            self._closed_fut = closed

            def on_close(reason: str, error: BaseException | None, closed: Any = closed) -> None:
                if not closed.done():
                    closed.set_result((reason, error))

            engine = EngineClient(self.options, self._on_engine_message, on_close, self._on_ping)
            self.engine = engine
            self._decoder = self.parser.decoder(DecodeLimits())
            try:
                await asyncio.wait_for(engine.open(), self.timeout)
            except (OSError, EngineError, asyncio.TimeoutError, RemoteProtocolError) as exc:
                self.state = "closed"
                self.engine = None
                error: BaseException = exc
                if isinstance(exc, asyncio.TimeoutError):
                    error = EngineError("timeout")
                logger.debug("connection failed: %r", error)
                self._emit("error", error)
                for sock in list(self._active.values()):
                    sock._on_error(error)
                if not first:
                    self._emit("reconnect_error", error)
                if not self.reconnection or self._skip_reconnect:
                    self._give_up(NotConnected(str(error) or type(error).__name__))
                    return
                first = False
                continue
            self.state = "open"
            self._emit("open")
            for sock in list(self._active.values()):
                sock._on_open()
            if not first:
                attempt = backoff.attempts
                self.reconnecting = False
                backoff.reset()
                self._emit("reconnect", attempt)
            reason, _error = await closed
            self.state = "closed"
            self.engine = None
            backoff.reset()
            self._emit("close", reason)
            for sock in list(self._active.values()):
                sock._on_close(DisconnectReason.parse(reason))
            if not self.reconnection or self._skip_reconnect:
                if not self._skip_reconnect:
                    self._give_up(NotConnected(f"disconnected: {reason}"))
                return
            first = False

    def _on_ping(self) -> None:
        self._emit("ping")

    def _give_up(self, error: BaseException) -> None:
        for sock in list(self._active.values()):
            sock._on_gave_up(error)

    def _on_engine_message(self, data: str | bytes) -> None:
        decoder = self._decoder
        engine = self.engine
        if decoder is None:
            return
        try:
            packet = decoder.feed_text(data) if isinstance(data, str) else decoder.feed_binary(data)
        except RemoteProtocolError as exc:
            logger.debug("parse error: %s", exc)
            if engine is not None:
                engine.abort("parse error", exc)
            return
        if packet is None:
            return
        sock = self._active.get(packet.namespace)
        if sock is not None:
            sock._on_packet(packet)


class _Emitter:
    """``socket.volatile.emit(...)`` and ``socket.timeout(s).emit(...)`` / ``.emit_with_ack(...)``."""

    __slots__ = ("_socket", "_timeout", "_volatile")

    def __init__(
        self, socket: NamespaceSocket, *, volatile: bool = False, timeout: float | None = None
    ) -> None:
        self._socket = socket
        self._volatile = volatile
        self._timeout = timeout

    @property
    def volatile(self) -> _Emitter:
        return _Emitter(self._socket, volatile=True, timeout=self._timeout)

    def timeout(self, seconds: float) -> _Emitter:
        return _Emitter(self._socket, volatile=self._volatile, timeout=seconds)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        self._socket._check_event(event)
        self._socket._emit_user(event, list(args), callback, volatile=self._volatile, timeout=self._timeout)

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self._socket._emit_with_ack(event, list(args), self._timeout, volatile=self._volatile)


class NamespaceSocket:
    """One namespace on the shared connection: handlers, emits, acknowledgements."""

    def __init__(
        self,
        manager: Manager,
        namespace: str,
        *,
        auth: Auth = None,
        ack_timeout: float | None = None,
        retries: int = 0,
        max_buffer: int | None = 1000,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self._manager = manager
        self.namespace = namespace
        self.auth = auth
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.max_buffer = max_buffer
        self.id: str | None = None
        self.connected = False
        self.recovered = False
        self.active = False
        self._pid: str | None = None
        self._last_offset: str | None = None
        self._tasks = manager.tasks
        self._handlers = _Listeners(self._tasks)
        self._any: list[HandlerSpec] = []
        self._ids = 0
        self._acks: dict[int, _PendingAck] = {}
        self._send_buffer: list[_Buffered] = []
        self._receive_buffer: list[SocketPacket] = []
        self._queue: deque[_Queued] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self._finished = asyncio.Event()
        self._finished.set()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<{type(self).__name__} {self.namespace} {state} id={self.id}>"

    @property
    def io(self) -> Manager:
        """The manager: the shared connection and its reconnection events."""
        return self._manager

    # ----------------------------------------------------------------------------------------------
    # handlers

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler for ``event`` (also ``connect``, ``connect_error``, ``disconnect``)."""

        def register(fn: H) -> H:
            self._handlers.add(event, fn)
            return fn

        return register if handler is None else register(handler)

    def once(self, event: str, handler: Handler) -> None:
        """Register a handler that runs for the next ``event`` only."""
        self._handlers.add(event, handler, once=True)

    def off(self, event: str | None = None, handler: Handler | None = None) -> None:
        """Remove one handler, every handler of ``event``, or every handler."""
        self._handlers.remove(event, handler)

    def on_any(self, handler: H) -> H:
        """Register a handler called as ``handler(event, *args)`` for every event from the server."""
        self._any.append(HandlerSpec(handler, fixed=1))
        return handler

    def off_any(self, handler: Handler | None = None) -> None:
        self._any = [] if handler is None else [s for s in self._any if s.fn is not handler]

    # ----------------------------------------------------------------------------------------------
    # connection

    async def connect(self, *, wait: bool = True) -> None:
        """Connect this namespace (opening the shared connection if needed).

        With ``wait`` (the default), return once connected; raise
        :class:`~socketeer.exceptions.ConnectionRefused` when the server refuses (``message``, ``data``)
        and :class:`~socketeer.exceptions.NotConnected` when the connection fails and no reconnection
        will follow. While reconnection is enabled, failed attempts are retried (bound the wait with
        ``asyncio.wait_for``; the client keeps trying until :meth:`disconnect`).
        """
        if self.connected:
            return
        self._finished.clear()
        waiter: asyncio.Future[None] | None = None
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        if not self.active:
            self.active = True
            self._manager._subscribe(self)
            if not self._manager.reconnecting:
                self._manager._open()
            if self._manager.state == "open":
                self._on_open()
        if waiter is not None:
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def disconnect(self) -> None:
        """Leave the namespace; closes the connection when no other namespace uses it. No reconnection."""
        was_connected = self.connected
        if was_connected:
            self._send_packet(SocketPacket(_T.DISCONNECT, self.namespace))
        self._fail_waiters(NotConnected("disconnected by the client"))
        if was_connected:
            self._on_close(DisconnectReason.IO_CLIENT_DISCONNECT)
        await self._destroy()
        self._finished.set()

    async def wait(self) -> None:
        """Wait until this socket is disconnected for good (by you, by the server, or when reconnection
        gives up); returns at once when it is not connecting."""
        await self._finished.wait()

    # ----------------------------------------------------------------------------------------------
    # emitting

    @property
    def volatile(self) -> _Emitter:
        """Emits that are dropped rather than buffered when they cannot be sent now."""
        return _Emitter(self, volatile=True)

    def timeout(self, seconds: float) -> _Emitter:
        """Emits whose acknowledgement must arrive within ``seconds``."""
        return _Emitter(self, timeout=seconds)

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send ``event`` with ``args`` (``bytes`` anywhere travel as binary attachments).

        ``callback(*ack_args)`` runs when the server acknowledges (an ``async`` callback as a task); it is
        not called when the acknowledgement times out or the connection is lost (use
        :meth:`emit_with_ack` to see those). Raises :class:`~socketeer.exceptions.BufferFull` when the
        emit must be buffered and ``max_buffer`` packets already are.
        """
        self._check_event(event)
        self._emit_user(event, list(args), callback, volatile=False, timeout=None)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and wait for the acknowledgement: ``None``, the one value, or a tuple.

        Raises :class:`~socketeer.exceptions.AckTimeout` after ``timeout`` (default ``ack_timeout``) and
        :class:`~socketeer.exceptions.NotConnected` when the connection is lost first.
        """
        self._check_event(event)
        return await self._emit_with_ack(event, list(args), timeout, volatile=False)

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """``emit("message", *args)``."""
        self.emit("message", *args, callback=callback)

    def _check_event(self, event: Any) -> None:
        if isinstance(event, str) and event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")

    def _emit_user(
        self,
        event: Any,
        args: list[Any],
        callback: Callable[..., Any] | None,
        *,
        volatile: bool,
        timeout: float | None,
    ) -> None:
        done: AckCallback | None = None
        if callback is not None:
            user_callback = callback

            def done(error: BaseException | None, ack_args: list[Any]) -> None:
                if error is not None:
                    logger.debug("acknowledgement of %r not received: %s", event, error)
                    return
                result = user_callback(*ack_args)
                if inspect.iscoroutine(result):
                    self._tasks.spawn(result)

        self._emit(event, args, done, volatile=volatile, timeout=timeout)

    async def _emit_with_ack(
        self, event: Any, args: list[Any], timeout: float | None, *, volatile: bool
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(error: BaseException | None, ack_args: list[Any]) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(ack_result(ack_args))

        self._emit(event, args, done, volatile=volatile, timeout=timeout)
        return await future

    def _buffered_count(self) -> int:
        return len(self._send_buffer) + len(self._queue)

    def _emit(
        self,
        event: Any,
        args: list[Any],
        done: AckCallback | None,
        *,
        volatile: bool,
        timeout: float | None,
        from_queue: bool = False,
    ) -> None:
        if self.retries and not from_queue and not volatile:
            if self.max_buffer is not None and self._buffered_count() >= self.max_buffer:
                raise BufferFull(f"{self._buffered_count()} packets are waiting to be sent")
            self._queue.append(
                _Queued(event, args, done, timeout if timeout is not None else self.ack_timeout)
            )
            self._drain_queue()
            return
        sendable = self.connected and not self._manager._ping_expired()
        if volatile and not (sendable and self._manager._writable()):
            logger.debug("volatile packet %r dropped", event)
            return
        if not sendable and self.max_buffer is not None and self._buffered_count() >= self.max_buffer:
            raise BufferFull(f"{self._buffered_count()} packets are waiting to be sent")
        ack_id: int | None = None
        if done is not None:
            ack_id = self._ids
            self._ids += 1
            self._register_ack(ack_id, done, timeout if timeout is not None else self.ack_timeout)
        packet = SocketPacket(_T.EVENT, self.namespace, [event, *args], ack_id)
        if sendable:
            self._send_packet(packet, volatile)
        else:
            self._send_buffer.append(_Buffered(packet, volatile))

    def _register_ack(self, ack_id: int, done: AckCallback, timeout: float | None) -> None:
        pending = _PendingAck(done)
        if timeout is not None:

            def expire() -> None:
                if self._acks.pop(ack_id, None) is None:
                    return
                self._send_buffer = [b for b in self._send_buffer if b.packet.id != ack_id]
                done(AckTimeout(), [])

            pending.timer = asyncio.get_running_loop().call_later(timeout, expire)
        self._acks[ack_id] = pending

    def _drain_queue(self, force: bool = False) -> None:
        if not self.connected or not self._queue:
            return
        item = self._queue[0]
        if item.pending and not force:
            return
        item.pending = True
        item.tries += 1

        def on_ack(error: BaseException | None, ack_args: list[Any], item: _Queued = item) -> None:
            if not self._queue or self._queue[0] is not item:
                return  # already handled
            if error is not None:
                if item.tries > self.retries:
                    self._queue.popleft()
                    if item.done is not None:
                        item.done(error, [])
            else:
                self._queue.popleft()
                if item.done is not None:
                    item.done(None, ack_args)
            item.pending = False
            self._drain_queue()

        self._emit(item.event, item.args, on_ack, volatile=False, timeout=item.timeout, from_queue=True)

    def _send_packet(self, packet: SocketPacket, volatile: bool = False) -> None:
        self._manager._send_packet(packet, volatile)

    def _send_ack(self, args: list[Any], ack_id: int) -> None:
        if self.connected:
            self._send_packet(SocketPacket(_T.ACK, self.namespace, args, ack_id))

    # ----------------------------------------------------------------------------------------------
    # from the manager

    def _on_open(self) -> None:
        auth = self.auth
        if callable(auth):
            self._tasks.spawn(self._connect_with(auth))
        else:
            self._send_connect(dict(auth) if auth is not None else None)

    async def _connect_with(self, auth: Callable[[], Any]) -> None:
        try:
            data = auth()
            if inspect.isawaitable(data):
                data = await data
        except Exception as exc:
            logger.exception("error in the auth callable")
            self._emit_reserved("connect_error", exc)
            return
        if self.active and self._manager.state == "open":
            self._send_connect(dict(data) if data is not None else None)

    def _send_connect(self, data: dict[str, Any] | None) -> None:
        if self._pid is not None:
            data = {"pid": self._pid, "offset": self._last_offset, **(data or {})}
        self._send_packet(SocketPacket(_T.CONNECT, self.namespace, data))

    def _on_error(self, error: BaseException) -> None:
        if not self.connected:
            self._emit_reserved("connect_error", error)

    def _on_gave_up(self, error: BaseException) -> None:
        self._fail_waiters(error)
        self._finished.set()

    def _on_packet(self, packet: SocketPacket) -> None:
        ptype = packet.type
        if ptype is _T.EVENT or ptype is _T.BINARY_EVENT:
            if self.connected:
                self._on_event(packet)
            else:
                self._receive_buffer.append(packet)
        elif ptype is _T.ACK or ptype is _T.BINARY_ACK:
            pending = self._acks.pop(packet.id, None) if packet.id is not None else None
            if pending is not None:
                if pending.timer is not None:
                    pending.timer.cancel()
                pending.callback(None, list(packet.data or []))
        elif ptype is _T.CONNECT:
            data = packet.data
            if isinstance(data, dict) and isinstance(data.get("sid"), str):
                pid = data.get("pid")
                self._on_connect(data["sid"], pid if isinstance(pid, str) else None)
            else:
                self._emit_reserved(
                    "connect_error",
                    ConnectionRefused(
                        "It seems you are trying to reach a Socket.IO server in v2.x with a v3.x client"
                    ),
                )
        elif ptype is _T.DISCONNECT:
            self._deactivate()
            self._tasks.spawn(self._finish())
            self._on_close(DisconnectReason.IO_SERVER_DISCONNECT)
        elif ptype is _T.CONNECT_ERROR:
            data = packet.data
            if isinstance(data, dict):
                error = ConnectionRefused(str(data.get("message", "")), data.get("data"))
            else:
                error = ConnectionRefused(str(data))
            self._deactivate()
            self._tasks.spawn(self._finish())
            self._emit_reserved("connect_error", error)
            self._fail_waiters(error)

    def _on_connect(self, sid: str, pid: str | None) -> None:
        self.id = sid
        self.recovered = bool(pid) and self._pid == pid
        self._pid = pid
        self.connected = True
        received, self._receive_buffer = self._receive_buffer, []
        for packet in received:
            self._on_event(packet)
        buffered, self._send_buffer = self._send_buffer, []
        for item in buffered:
            self._send_packet(item.packet, item.volatile)
        self._emit_reserved("connect")
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
        self._drain_queue(force=True)

    def _on_event(self, packet: SocketPacket) -> None:
        data = packet.data
        event = data[0]
        args = list(data[1:])
        if self._pid is not None and packet.id is None and args and isinstance(args[-1], str):
            self._last_offset = args.pop()  # the server's offset for connection state recovery
        for spec in list(self._any):
            invoke(self._tasks, spec, (event,), args, None, event, self.id)
        ack = (
            AckResponder(self._send_ack, packet.id, f"on {self.namespace}") if packet.id is not None else None
        )
        if not self._handlers.fire(event, args, ack, self.id) and ack is not None:
            logger.debug("no handler for %r, which asks for an acknowledgement", event)

    def _on_close(self, reason: DisconnectReason) -> None:
        if not self.connected:
            return
        self.connected = False
        self.id = None
        self._emit_reserved("disconnect", reason)
        buffered = {b.packet.id for b in self._send_buffer if b.packet.id is not None}
        for ack_id in [i for i in self._acks if i not in buffered]:
            pending = self._acks.pop(ack_id)
            if pending.timer is not None:
                pending.timer.cancel()
            pending.callback(NotConnected("socket has been disconnected"), [])

    def _deactivate(self) -> None:
        if self.active:
            self.active = False
            self._manager._unsubscribe(self)

    async def _finish(self) -> None:
        """After the server refused or disconnected us: close the connection if it is now unused."""
        try:
            await self._manager._close_if_idle()
        finally:
            if not self.active:
                self._finished.set()

    async def _destroy(self) -> None:
        self._deactivate()
        await self._manager._close_if_idle()

    def _fail_waiters(self, error: BaseException) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._waiters.clear()

    def _emit_reserved(self, event: str, *args: Any) -> None:
        self._handlers.fire(event, list(args))


class AsyncClient(NamespaceSocket):
    """A Socket.IO client for asyncio.

    ``url`` is ``http(s)://host[:port][/namespace][?query]`` (``ws``/``wss`` work too); the namespace may
    also be given with ``namespace``. Options, with the official client's defaults (times in seconds):

    - connection: ``path``, ``transports`` (``("polling", "websocket")`` starts with polling and upgrades;
      ``("websocket",)`` for WebSocket only; ``("webtransport",)`` for WebTransport over HTTP/3, extra
      ``socketeer[webtransport]``, an https URL), ``upgrade``, ``headers``, ``query``, ``ssl`` (an
      ``SSLContext``, or ``True`` for the default context; implied by https/wss), ``timeout``,
      ``per_message_deflate`` (offered by default, as the official client; ``False`` not to offer it, or
      :class:`~socketeer.PerMessageDeflate` options);
    - ``auth``: a dict, or a (sync or async) callable evaluated at each (re)connection;
    - reconnection: ``reconnection``, ``reconnection_attempts``, ``reconnection_delay``,
      ``reconnection_delay_max``, ``randomization_factor`` (``random`` injects the random source);
    - delivery: ``ack_timeout``, ``retries``, ``max_buffer`` (emits held while disconnected, ``None`` for
      no bound), ``parser``.

    Other namespaces on the same connection: ``client.socket("/admin")``. Manager events:
    ``client.io.on("reconnect_attempt", fn)``.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str | None = None,
        path: str = "/socket.io/",
        transports: Iterable[str] = ("polling", "websocket"),
        upgrade: bool = True,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        auth: Auth = None,
        reconnection: bool = True,
        reconnection_attempts: float = math.inf,
        reconnection_delay: float = 1.0,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        timeout: float = 20.0,
        ack_timeout: float | None = None,
        retries: int = 0,
        max_buffer: int | None = 1000,
        parser: Parser | None = None,
        ssl: _ssl.SSLContext | bool | None = None,
        random: Callable[[], float] | None = None,
        per_message_deflate: PerMessageDeflate | dict[str, Any] | bool = True,
    ) -> None:
        parts = urlsplit(url if "://" in url else "http://" + url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "ws", "wss"):
            raise ValueError(f"unsupported URL scheme {parts.scheme!r}")
        secure = scheme in ("https", "wss")
        if ssl is True or (ssl is None and secure):
            ssl_context: _ssl.SSLContext | None = _ssl.create_default_context()
        elif isinstance(ssl, _ssl.SSLContext):
            ssl_context = ssl
        else:
            ssl_context = None
        host = parts.hostname or "localhost"
        port = parts.port or (443 if secure else 80)
        names = tuple(transports)
        for name in names:
            if name not in ("polling", "websocket", "webtransport"):
                raise ValueError(f"unknown transport {name!r}")
        if not path.startswith("/"):
            path = "/" + path
        if not path.endswith("/"):
            path += "/"
        all_query = parse_qsl(parts.query) + list((query or {}).items())
        if per_message_deflate is True:
            per_message_deflate = PerMessageDeflate()
        elif isinstance(per_message_deflate, dict):
            per_message_deflate = PerMessageDeflate(**per_message_deflate)
        options = EngineOptions(
            host=host,
            port=port,
            path=path,
            ssl=ssl_context,
            query=tuple((str(k), str(v)) for k, v in all_query),
            headers=tuple((headers or {}).items()),
            transports=names,  # type: ignore[arg-type]
            upgrade=upgrade,
            timeout=timeout,
            per_message_deflate=per_message_deflate or None,
        )
        manager = Manager(
            options,
            reconnection=reconnection,
            reconnection_attempts=reconnection_attempts,
            reconnection_delay=reconnection_delay,
            reconnection_delay_max=reconnection_delay_max,
            randomization_factor=randomization_factor,
            timeout=timeout,
            parser=parser,
            random=random,
        )
        if namespace is None:
            namespace = parts.path.rstrip("/") or "/"
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        super().__init__(
            manager, namespace, auth=auth, ack_timeout=ack_timeout, retries=retries, max_buffer=max_buffer
        )
        manager._sockets[namespace] = self
        self._socket_options: dict[str, Any] = {
            "ack_timeout": ack_timeout,
            "retries": retries,
            "max_buffer": max_buffer,
        }

    def socket(self, namespace: str, *, auth: Auth = None) -> NamespaceSocket:
        """The socket of another namespace, sharing this client's connection (same options)."""
        return self._manager.socket(namespace, auth=auth, **self._socket_options)

    @property
    def transport(self) -> TransportName | None:
        """``polling``, ``websocket`` or ``webtransport`` while connected."""
        return self._manager.transport

    async def close(self) -> None:
        """Disconnect every namespace socket of this connection and stop reconnecting."""
        for sock in list(self._manager._sockets.values()):
            await sock.disconnect()
        await self._manager._close()
        await self._manager.tasks.cancel_all(timeout=0.5)

    async def __aenter__(self) -> AsyncClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
