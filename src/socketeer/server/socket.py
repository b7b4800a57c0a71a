"""A ``Socket``: one client connected to one namespace (``socket.id``, ``socket.emit``, ``socket.on``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from .._types import Room, Sid
from ..adapters.base import BroadcastFlags, BroadcastOptions, PersistedSession, RoomsLike, room_set
from ..exceptions import AckTimeout, InvalidPayload, NotConnected
from ..logs import socket_logger
from ..protocol.socketio_packets import (
    RESERVED_EVENTS,
    SocketPacket,
    SocketPacketType,
    ack_packet,
    check_event_name,
    event_packet,
)
from ..protocol.wire import WireMessage
from ..sio.acks import AckResponder, ack_result, reject_payload
from ..sio.handlers import Handler, HandlerSpec
from ..sio.reasons import DisconnectReason
from .broadcast import BroadcastOperator

if TYPE_CHECKING:
    from .client import Client
    from .namespace import Namespace

__all__ = ["HandlerObserver", "Handshake", "RemoteSocket", "Socket"]

logger = logging.getLogger("socketeer.server")

_EVENT = SocketPacketType.EVENT
_ACK = SocketPacketType.ACK
_BINARY_EVENT = SocketPacketType.BINARY_EVENT
_BINARY_ACK = SocketPacketType.BINARY_ACK
_DISCONNECT = SocketPacketType.DISCONNECT

H = TypeVar("H", bound=Handler)
_NO_HANDLERS: dict[str, list[HandlerSpec]] = {}
_NO_ACKS: dict[int, Callable[[list[Any] | None], None]] = {}
_PLAIN = BroadcastFlags()
_VOLATILE = BroadcastFlags(volatile=True)
RECOVERABLE_REASONS = frozenset(
    {
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    }
)


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the client sent when it connected."""

    headers: dict[str, str]
    query: dict[str, str]
    auth: dict[str, Any]
    address: str
    time: str
    issued: int
    url: str
    secure: bool = False
    xdomain: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The official ``socket.handshake`` object, as clustered adapters send it between servers."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            headers=self.headers,
            time=self.time,
            address=self.address,
            xdomain=self.xdomain,
            secure=self.secure,
            issued=self.issued,
            url=self.url,
            query=self.query,
            auth=self.auth,
        )
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Handshake:
        """The handshake of a socket on another server; missing or mistyped fields get empty values."""
        src: dict[str, Any] = obj if isinstance(obj, dict) else {}

        def mapping(key: str) -> dict[str, Any]:
            value = src.get(key)
            return dict(value) if isinstance(value, dict) else {}

        issued = src.get("issued")
        known = {"headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"}
        return cls(
            headers=mapping("headers"),
            query=mapping("query"),
            auth=mapping("auth"),
            address=str(src.get("address", "")),
            time=str(src.get("time", "")),
            issued=int(issued) if isinstance(issued, (int, float)) and not isinstance(issued, bool) else 0,
            url=str(src.get("url", "")),
            secure=bool(src.get("secure", False)),
            xdomain=bool(src.get("xdomain", False)),
            extra={k: v for k, v in src.items() if k not in known},
        )


class Socket:
    """One client in one namespace.

    Created by the server when a client connects; handed to ``connection`` handlers.
    """

    __slots__ = (
        "__weakref__",
        "_acks",
        "_any",
        "_any_outgoing",
        "_handlers",
        "_middlewares",
        "client",
        "connected",
        "data",
        "handshake",
        "id",
        "namespace",
        "recovered",
        "pid",
        "_bucket",
        "_nsp_name",
        "_parser",
        "_recovery",
    )

    def __init__(self, namespace: Namespace, client: Client, sid: Sid, handshake: Handshake) -> None:
        self.namespace = namespace
        self.client = client
        self.id = sid
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        self.connected = False
        self.recovered = False
        self.pid: str | None = None
        # Most sockets never get handlers, catch-alls, middlewares or acks of their own: they share
        # these empty defaults (never mutated: the first addition gives the socket its own container).
        self._handlers: dict[str, list[HandlerSpec]] = _NO_HANDLERS
        self._any: tuple[HandlerSpec, ...] = ()
        self._any_outgoing: tuple[HandlerSpec, ...] = ()
        self._middlewares: tuple[Callable[..., Any], ...] = ()
        self._acks: dict[int, Callable[[list[Any] | None], None]] = _NO_ACKS
        server = namespace.server
        self._parser = server.parser
        self._recovery = server.recovery
        self._nsp_name = namespace.name
        limits = namespace.server.engine_config.limits
        self._bucket: TokenBucket | None = None
        if limits.max_events_per_second is not None:
            self._bucket = TokenBucket(
                limits.max_events_per_second,
                limits.max_events_burst or max(1, int(limits.max_events_per_second)),
                client.conn.loop_time(),
            )

    def __repr__(self) -> str:
        return f"<Socket id={self.id!r} nsp={self.namespace.name!r} connected={self.connected}>"

    # -- properties ----------------------------------------------------------------------------

    @property
    def nsp(self) -> Namespace:
        return self.namespace

    @property
    def server(self) -> Any:
        return self.namespace.server

    @property
    def rooms(self) -> set[Room]:
        """The rooms this socket is in (its own id included)."""
        return set(self.namespace.adapter.socket_rooms(self.id))

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A ``socketeer.server`` logger whose records carry this socket's ``sid`` (Engine.IO session),
        ``socket_id``, ``namespace`` and ``transport`` as attributes, for your handlers too."""
        return socket_logger(self)

    @property
    def transport(self) -> str:
        """``"polling"``, ``"websocket"`` or ``"webtransport"``: the transport in use now."""
        return self.client.conn.transport

    @property
    def disconnected(self) -> bool:
        return not self.connected

    @property
    def broadcast(self) -> BroadcastOperator:
        """Every socket of the namespace but this one."""
        return BroadcastOperator(self.namespace, except_rooms=frozenset((self.id,)))

    @property
    def volatile(self) -> _SocketEmitter:
        return _SocketEmitter(self, volatile=True)

    def timeout(self, seconds: float) -> _SocketEmitter:
        return _SocketEmitter(self, timeout=seconds)

    def compress(self, compress: bool = True) -> _SocketEmitter:
        """``socket.compress(False).emit(...)``: keep this message out of HTTP and WebSocket compression."""
        return _SocketEmitter(self, compress=compress)

    def to(self, *rooms: RoomsLike) -> BroadcastOperator:
        """Sockets in these rooms, this one excluded."""
        return BroadcastOperator(self.namespace, room_set(rooms), frozenset((self.id,)))

    in_ = to

    def except_(self, *rooms: RoomsLike) -> BroadcastOperator:
        return self.broadcast.except_(*rooms)

    # -- listeners -----------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Listen for ``event`` from this client: ``socket.on("btn", fn)`` or as a decorator.

        The handler receives the event's arguments; ``disconnect`` handlers receive the reason.
        """

        def register(fn: H) -> H:
            self._own_handlers().setdefault(event, []).append(HandlerSpec(fn))
            return fn

        return register(handler) if handler is not None else register

    def once(self, event: str, handler: Handler) -> None:
        """Like :meth:`on`, for the next ``event`` only."""
        self._own_handlers().setdefault(event, []).append(HandlerSpec(handler, once=True))

    def _own_handlers(self) -> dict[str, list[HandlerSpec]]:
        if self._handlers is _NO_HANDLERS:
            self._handlers = {}
        return self._handlers

    def off(self, event: str | None = None, handler: Handler | None = None) -> None:
        if event is None:
            self._handlers = _NO_HANDLERS
        elif handler is None:
            self._handlers.pop(event, None)
        else:
            specs = self._handlers.get(event)
            if specs is not None:
                self._handlers[event] = [s for s in specs if s.fn is not handler]

    def _forget(self, event: str, spec: HandlerSpec) -> None:
        specs = self._handlers.get(event)
        if specs is not None and spec in specs:
            self._handlers[event] = [s for s in specs if s is not spec]

    def listeners(self, event: str) -> list[Handler]:
        return [s.fn for s in self._handlers.get(event, [])]

    def on_any(self, handler: Handler) -> Handler:
        """Called for every incoming event with ``(event, *args)``."""
        self._any = (*self._any, HandlerSpec(handler, fixed=1))
        return handler

    def prepend_any(self, handler: Handler) -> Handler:
        self._any = (HandlerSpec(handler, fixed=1), *self._any)
        return handler

    def off_any(self, handler: Handler | None = None) -> None:
        self._any = () if handler is None else tuple(s for s in self._any if s.fn is not handler)

    def on_any_outgoing(self, handler: Handler) -> Handler:
        """Called for every outgoing event with ``(event, *args)``."""
        self._any_outgoing = (*self._any_outgoing, HandlerSpec(handler, fixed=1))
        return handler

    def prepend_any_outgoing(self, handler: Handler) -> Handler:
        self._any_outgoing = (HandlerSpec(handler, fixed=1), *self._any_outgoing)
        return handler

    def off_any_outgoing(self, handler: Handler | None = None) -> None:
        self._any_outgoing = (
            () if handler is None else tuple(s for s in self._any_outgoing if s.fn is not handler)
        )

    def use(self, middleware: Callable[..., Any]) -> Callable[..., Any]:
        """Per-packet middleware ``fn(event, args)`` (sync or async); raising refuses the packet."""
        self._middlewares = (*self._middlewares, middleware)
        return middleware

    # -- sending -------------------------------------------------------------------------------

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send ``event`` with ``args`` to this client. ``callback`` gets the client's acknowledgement."""
        if event in RESERVED_EVENTS:
            check_event_name(event)
        if not self.connected:
            return
        if callback is None and not self._any_outgoing and self._recovery is None:
            # the common case, kept short: encode once and queue on the connection
            self.client.conn.write(self._parser.encode(event_packet(self._nsp_name, [event, *args])))
            return
        ack_id = None
        if callback is not None:
            ack_id = self._register_ack(lambda ack_args: None if ack_args is None else callback(*ack_args))
        self._emit_packet(event, list(args), ack_id, volatile=False)

    send = emit

    def _notify_outgoing(self, message: WireMessage) -> None:
        packet = message.packet
        if packet is not None and packet.type is _EVENT:
            self._call_outgoing(packet.data[0], packet.data[1:])

    def _call_outgoing(self, event: str, args: list[Any]) -> None:
        for spec in self._any_outgoing:
            try:
                spec.fn(event, *args)
            except Exception:
                self.logger.exception("error in outgoing listener of socket %s", self.id)

    def _emit_packet(
        self, event: str, args: list[Any], ack_id: int | None, volatile: bool, compress: bool = True
    ) -> None:
        if self._any_outgoing and (ack_id is not None or self.namespace.server.recovery is None):
            self._call_outgoing(event, args)
        packet = event_packet(self.namespace.name, [event, *args], ack_id)
        if ack_id is None and self.namespace.server.recovery is not None:
            # through the adapter, which gives the packet an offset and keeps it for recovery
            flags = _VOLATILE if volatile else _PLAIN
            if not compress:
                flags = BroadcastFlags(volatile=volatile, compress=False)
            self.namespace.adapter.broadcast(packet, BroadcastOptions(frozenset((self.id,)), flags=flags))
            return
        message = self.namespace.server.parser.encode(packet, volatile)
        if not compress:
            message.compress = False
        self.client.conn.write(message)

    def _register_ack(self, on_ack: Callable[[list[Any] | None], None]) -> int:
        """Keep ``on_ack`` until the acknowledgement arrives (``None`` if the socket disconnects first)."""
        ack_id = self.namespace.next_ack_id()
        self._add_ack(ack_id, on_ack)
        return ack_id

    def _add_ack(self, ack_id: int, on_ack: Callable[[list[Any] | None], None]) -> None:
        if self._acks is _NO_ACKS:
            self._acks = {}
        self._acks[ack_id] = on_ack

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, _compress: bool = True
    ) -> Any:
        """Send ``event`` and wait for the client's acknowledgement.

        Returns the acknowledgement's value (a tuple when the client sent several, ``None`` for none).
        Raises :class:`~socketeer.exceptions.AckTimeout` after ``timeout`` seconds and
        :class:`~socketeer.exceptions.NotConnected` if the socket disconnects first.
        """
        check_event_name(event)
        if not self.connected:
            raise NotConnected("socket is not connected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_ack(ack_args: list[Any] | None) -> None:
            if future.done():
                return
            if ack_args is None:
                future.set_exception(NotConnected("socket disconnected before acknowledging"))
            else:
                future.set_result(ack_result(ack_args))

        ack_id = self._register_ack(on_ack)
        self._emit_packet(event, list(args), ack_id, volatile=False, compress=_compress)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            counters = self.namespace.server.engine.counters
            if counters is not None:
                counters.acks_timed_out += 1
            raise AckTimeout(f"no acknowledgement for {event!r} within {timeout} s") from None
        finally:
            self._acks.pop(ack_id, None)

    call = emit_with_ack

    def _send_packet(self, packet: SocketPacket) -> None:
        self.client.conn.write(self.namespace.server.parser.encode(packet))

    def _send_ack(self, args: list[Any], ack_id: int) -> None:
        if self.connected:
            self.client.conn.write(self._parser.encode(ack_packet(self._nsp_name, args, ack_id)))

    # -- rooms ---------------------------------------------------------------------------------

    def join(self, rooms: RoomsLike) -> None:
        """Join one room or several."""
        self.namespace.adapter.add_all(self.id, [rooms] if isinstance(rooms, str) else list(rooms))

    def leave(self, room: Room) -> None:
        self.namespace.adapter.delete(self.id, room)

    # -- disconnection -------------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace, or (``close=True``) close the whole connection."""
        if not self.connected:
            return
        if close:
            self.client.disconnect_all()
            return
        self._send_packet(SocketPacket(_DISCONNECT, self.namespace.name))
        self._on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    def _on_close(self, reason: DisconnectReason) -> None:
        if not self.connected:
            return
        namespace = self.namespace
        counters = namespace.server.engine.counters
        if counters is not None:
            counters.disconnects[(self._nsp_name, reason.value)] += 1
        namespace._run_lifecycle(self, "disconnecting", reason)
        if self.pid is not None and reason in RECOVERABLE_REASONS and namespace.server.recovery is not None:
            namespace.adapter.persist_session(
                PersistedSession(
                    self.id, self.pid, frozenset(namespace.adapter.socket_rooms(self.id)), self.data
                )
            )
        self.connected = False
        namespace._remove(self)
        self.client._remove(self)
        acks = self._acks
        self._acks = _NO_ACKS
        for on_ack in acks.values():
            on_ack(None)
        namespace._run_lifecycle(self, "disconnect", reason)

    # -- receiving -----------------------------------------------------------------------------

    def _on_packet(self, packet: SocketPacket) -> None:
        ptype = packet.type
        if ptype is _EVENT or ptype is _BINARY_EVENT:
            data = packet.data
            if self._bucket is not None and not self._bucket.take(self.client.conn.loop_time()):
                self._refuse_rate()
                return
            if self._middlewares:
                self.namespace.server._tasks.spawn(self._run_middlewares(data[0], data[1:], packet.id))
            else:
                self._dispatch(data[0], data[1:], packet.id)
        elif ptype is _ACK or ptype is _BINARY_ACK:
            on_ack = self._acks.pop(packet.id, None)  # type: ignore[arg-type]
            if on_ack is not None:
                on_ack(packet.data)
        elif ptype is _DISCONNECT:
            self._on_close(DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)

    def _refuse_rate(self) -> None:
        self.logger.info("disconnecting socket %s: over its incoming event rate", self.id)
        self._send_packet(
            SocketPacket(
                SocketPacketType.CONNECT_ERROR, self.namespace.name, {"message": "rate limit exceeded"}
            )
        )
        self._on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    async def _run_middlewares(self, event: str, args: list[Any], ack_id: int | None) -> None:
        try:
            for middleware in list(self._middlewares):
                result = middleware(event, args)
                if asyncio.iscoroutine(result):
                    await result
        except Exception as exc:
            self.logger.info("packet %r refused by middleware on socket %s: %s", event, self.id, exc)
            message = str(exc) or type(exc).__name__
            # As the official server, nothing is sent for a refused packet; only an acknowledgement
            # the client waits for is answered, with the reason.
            if ack_id is not None:
                self._send_packet(SocketPacket(_ACK, self.namespace.name, [{"message": message}], ack_id))
            return
        if self.connected:
            self._dispatch(event, args, ack_id)

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        if self._any:
            for spec in self._any:
                self._invoke(spec, (event,), args, None, event)
        specs = self._handlers.get(event)
        nsp_specs = self.namespace._handlers.get(event)
        if specs is None and nsp_specs is None:
            return
        ack = AckResponder(self._send_ack, ack_id, self.id) if ack_id is not None else None
        if specs is not None:
            for spec in specs:
                if spec.once:
                    self._forget(event, spec)
                self._invoke(spec, (), args, ack, event)
        if nsp_specs is not None:
            for spec in nsp_specs:
                self._invoke(spec, (self,), args, ack, event)

    def _invoke(
        self,
        spec: HandlerSpec,
        leading: tuple[Any, ...],
        args: list[Any],
        ack: AckResponder | None,
        event: str,
    ) -> None:
        if len(args) == spec.exact:
            call_args = args
        else:
            try:
                call_args = spec.adapt(args)
            except InvalidPayload as exc:
                reject_payload(exc, event, self.id, ack, self.logger)
                return
        server = self.namespace.server
        observer = server.handler_observer
        start = 0.0
        if observer is not None:  # the metrics: one call in observer.every is timed
            countdown = observer.countdown - 1
            if countdown == 0:
                observer.countdown = observer.every
                start = perf_counter()
            else:
                observer.countdown = countdown
        try:
            if spec.wants_ack:
                result = spec.fn(*leading, *call_args, ack=ack if ack is not None else _no_ack)
            else:
                result = spec.fn(*leading, *call_args)
        except Exception:
            if observer is not None:
                observer.finished(event, start, failed=True)
            self.logger.exception("error in handler %s of event %r on socket %s", spec.name, event, self.id)
            return
        if spec.is_async or type(result) is CoroutineType:
            on_done: Callable[[Any], None] | None = None if ack is None or spec.wants_ack else ack.from_task
            if observer is not None:
                on_done = _observed(observer, event, start, on_done, spec.name)
            server._tasks.spawn(result, on_done)
        else:
            if start:
                observer.finished(event, start, failed=False)  # type: ignore[union-attr]
            if ack is not None and not spec.wants_ack:
                ack.answer(result)


def _observed(
    observer: HandlerObserver,
    event: str,
    start: float,
    on_done: Callable[[Any], None] | None,
    name: str,
) -> Callable[[asyncio.Task[Any]], None]:
    """The done-callback of an async handler's task that tells ``observer``, then does ``on_done``'s work."""

    def finished(task: asyncio.Task[Any]) -> None:
        failed = not task.cancelled() and task.exception() is not None
        if failed or start:
            observer.finished(event, start, failed=failed)
        if on_done is not None:
            on_done(task)
        elif failed:
            logger.error("error in handler %s of event %r", name, event, exc_info=task.exception())

    return finished


def _no_ack(*args: Any) -> None:
    pass


class HandlerObserver(Protocol):
    """Told about event handler runs (``Server.handler_observer``; the metrics install one).

    Every failure is told; the run time of one call in ``every`` (``countdown`` counts down to it; a
    negative ``countdown`` never reaches it).
    """

    every: int
    countdown: int

    def finished(self, event: str, start: float, *, failed: bool) -> None:
        """A handler returned (its task ended, for an async one): one that raised (``failed``) or one that
        was timed (``start`` is ``time.perf_counter()`` before it ran, 0.0 when it was not timed)."""
        ...


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; one token per incoming event."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class _SocketEmitter:
    """``socket.volatile.emit(...)``, ``socket.compress(False).emit(...)`` and
    ``socket.timeout(s).emit_with_ack(...)``; the flags chain (``socket.compress(False).volatile``)."""

    __slots__ = ("_compress", "_socket", "_timeout", "_volatile")

    def __init__(
        self, socket: Socket, *, volatile: bool = False, timeout: float | None = None, compress: bool = True
    ) -> None:
        self._socket = socket
        self._volatile = volatile
        self._timeout = timeout
        self._compress = compress

    @property
    def volatile(self) -> _SocketEmitter:
        return _SocketEmitter(self._socket, volatile=True, timeout=self._timeout, compress=self._compress)

    def timeout(self, seconds: float) -> _SocketEmitter:
        return _SocketEmitter(self._socket, volatile=self._volatile, timeout=seconds, compress=self._compress)

    def compress(self, compress: bool = True) -> _SocketEmitter:
        return _SocketEmitter(self._socket, volatile=self._volatile, timeout=self._timeout, compress=compress)

    def emit(self, event: str, *args: Any) -> None:
        check_event_name(event)
        if self._socket.connected:
            self._socket._emit_packet(
                event, list(args), None, volatile=self._volatile, compress=self._compress
            )

    async def emit_with_ack(self, event: str, *args: Any) -> Any:
        return await self._socket.emit_with_ack(event, *args, timeout=self._timeout, _compress=self._compress)


class RemoteSocket:
    """A socket as returned by ``fetch_sockets``, on this server or another one of the cluster: its
    identity and the operations it allows, which go through the adapter (so they reach the server
    the socket is on), as the official ``RemoteSocket``."""

    __slots__ = ("_namespace", "data", "handshake", "id", "rooms")

    def __init__(
        self, namespace: Namespace, sid: Sid, handshake: Handshake, rooms: set[Room], data: Any
    ) -> None:
        self._namespace = namespace
        self.id = sid
        self.handshake = handshake
        self.rooms = rooms
        self.data = data

    def __repr__(self) -> str:
        return f"<RemoteSocket id={self.id!r}>"

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self._namespace, frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> None:
        self._operator().emit(event, *args)

    async def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send ``event`` and return the client's acknowledgement (raises
        :class:`~socketeer.exceptions.AckTimeout` after ``timeout`` seconds)."""
        operator = self._operator()
        if timeout is not None:
            operator = operator.timeout(timeout)
        responses = await operator.emit_with_ack(event, *args)
        if not responses:
            raise NotConnected(f"socket {self.id} is not connected")
        return responses[0]

    async def join(self, rooms: RoomsLike) -> None:
        await self._namespace.adapter.add_sockets(BroadcastOptions(frozenset((self.id,))), room_set((rooms,)))

    async def leave(self, room: Room) -> None:
        await self._namespace.adapter.del_sockets(BroadcastOptions(frozenset((self.id,))), [room])

    async def disconnect(self, close: bool = False) -> None:
        await self._operator().disconnect_sockets(close)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self._operator().timeout(seconds)
