"""Namespaces: groups of sockets with their own handlers, middlewares and adapter."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._types import Room, Sid
from ..adapters.base import (
    Adapter,
    BroadcastFlags,
    BroadcastOptions,
    RestoredSession,
    RoomsLike,
    ServerSideAck,
    SocketDetails,
)
from ..exceptions import ConnectionRefused, InvalidPayload
from ..protocol.socketio_packets import RESERVED_EVENTS, SocketPacket, SocketPacketType, check_event_name
from ..protocol.wire import WireMessage
from ..sio.acks import ack_result, reject_payload
from ..sio.handlers import Handler, HandlerSpec
from ..sio.reasons import DisconnectReason
from .broadcast import BroadcastOperator
from .socket import Handshake, RemoteSocket, Socket

if TYPE_CHECKING:
    from .client import Client
    from .server import Server

__all__ = ["Middleware", "Namespace"]

logger = logging.getLogger("socketeer.server")

H = TypeVar("H", bound=Handler)
Middleware = Callable[[Socket], Any]

_LIFECYCLE_ALIASES = {"connect": "connection"}
_LIFECYCLE = frozenset({"connection", "disconnect", "disconnecting"})


class Namespace:
    """A namespace such as ``/`` or ``/chat``: ``io.of("/chat")``."""

    def __init__(self, server: Server, name: str, parent: Any = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.sockets: dict[Sid, Socket] = {}
        self._handlers: dict[str, list[HandlerSpec]] = {}
        self._middlewares: list[Middleware] = []
        self._server_side: dict[str, list[HandlerSpec]] = {}
        self._ack_ids = 0
        self.adapter: Adapter = server._adapter_factory(self)
        self._adapter_ready: asyncio.Future[None] | None = None
        server._adapter_created(self)

    def __repr__(self) -> str:
        return f"<Namespace {self.name!r} sockets={len(self.sockets)}>"

    # -- registration --------------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler: ``connection`` (alias ``connect``) receives the socket; ``disconnect`` and
        ``disconnecting`` receive the socket and the reason; any other event receives the socket and the
        event's arguments. Usable as a decorator."""
        event = _LIFECYCLE_ALIASES.get(event, event)

        def register(fn: H) -> H:
            self._handlers.setdefault(event, []).append(HandlerSpec(fn, fixed=1))
            return fn

        return register(handler) if handler is not None else register

    @overload
    def on_server_side_emit(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on_server_side_emit(self, event: str, handler: H) -> H: ...

    def on_server_side_emit(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Handle an event that another server of the cluster sent with :meth:`server_side_emit`
        (the official ``namespace.on(event)`` for server-side events). The handler receives the
        event's arguments; with :meth:`server_side_emit_with_ack` its return value (or its keyword-only
        ``ack`` callback, called with one value) answers. Usable as a decorator."""

        def register(fn: H) -> H:
            self._server_side.setdefault(event, []).append(HandlerSpec(fn))
            return fn

        return register(handler) if handler is not None else register

    def use(self, middleware: Middleware) -> Middleware:
        """Connection middleware ``fn(socket)`` (sync or async), run in order before ``connection``.

        Raising :class:`~socketeer.exceptions.ConnectionRefused` (or any exception) refuses the client
        with CONNECT_ERROR.
        """
        self._middlewares.append(middleware)
        return middleware

    # -- broadcasting --------------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self)

    def emit(self, event: str, *args: Any) -> None:
        """Send to every socket of the namespace."""
        BroadcastOperator(self).emit(event, *args)

    send = emit

    def to(self, *rooms: RoomsLike) -> BroadcastOperator:
        return BroadcastOperator(self).to(*rooms)

    in_ = to

    def except_(self, *rooms: RoomsLike) -> BroadcastOperator:
        return BroadcastOperator(self).except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return BroadcastOperator(self).volatile

    @property
    def local(self) -> BroadcastOperator:
        return BroadcastOperator(self).local

    def compress(self, compress: bool = True) -> BroadcastOperator:
        return BroadcastOperator(self).compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return BroadcastOperator(self).timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await BroadcastOperator(self).emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[RemoteSocket]:
        return await BroadcastOperator(self).fetch_sockets()

    async def sockets_join(self, *rooms: RoomsLike) -> None:
        await BroadcastOperator(self).sockets_join(*rooms)

    async def sockets_leave(self, *rooms: RoomsLike) -> None:
        await BroadcastOperator(self).sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await BroadcastOperator(self).disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        """Send an event to the other Socket.IO servers of the cluster (none with the in-memory adapter);
        they handle it with :meth:`on_server_side_emit`."""
        check_event_name(event)
        await self.adapter.server_side_emit([event, *args])

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Like :meth:`server_side_emit`, and return one answer per other server.

        Raises :class:`~socketeer.exceptions.AckTimeout` (its ``responses`` hold the answers received)
        when some server has not answered within ``timeout`` seconds (the adapter's request timeout
        when ``None``)."""
        check_event_name(event)
        return await self.adapter.server_side_emit_with_ack([event, *args], timeout)

    async def server_count(self) -> int:
        """How many Socket.IO servers the cluster has, this one included."""
        return await self.adapter.server_count()

    async def all_rooms(self) -> set[Room]:
        """The rooms of every server of the cluster."""
        return await self.adapter.all_rooms()

    # -- adapter's LocalDelivery ---------------------------------------------------------------

    def _broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        self.adapter.broadcast(packet, opts)

    def deliver(self, packet: SocketPacket, sids: Iterable[Sid] | None, flags: BroadcastFlags) -> None:
        message = self.server.parser.encode(packet, flags.volatile)
        message.packet = packet
        if flags.compress is False:
            message.compress = False
        self._write(message, sids)

    def _write(self, message: WireMessage, sids: Iterable[Sid] | None) -> None:
        if sids is None:
            for socket in self.sockets.values():
                if socket._any_outgoing:
                    socket._notify_outgoing(message)
                socket.client.conn.write(message)
            return
        sockets = self.sockets
        for sid in sids:
            target = sockets.get(sid)
            if target is not None:
                if target._any_outgoing:
                    target._notify_outgoing(message)
                target.client.conn.write(message)

    def deliver_with_ack(
        self,
        packet: SocketPacket,
        sids: Iterable[Sid] | None,
        flags: BroadcastFlags,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        ack_id = self.next_ack_id()
        targets = (
            list(self.sockets.values())
            if sids is None
            else [s for s in (self.sockets.get(sid) for sid in sids) if s is not None]
        )

        def one_ack(args: list[Any] | None) -> None:
            if args is not None:
                on_ack(ack_result(args))

        for socket in targets:
            socket._add_ack(ack_id, one_ack)
        on_sent(len(targets))
        if targets:
            message = self.server.parser.encode(packet._replace(id=ack_id), flags.volatile)
            if flags.compress is False:
                message.compress = False
            for socket in targets:
                if socket._any_outgoing:
                    socket._call_outgoing(packet.data[0], packet.data[1:])
                socket.client.conn.write(message)

    def has_socket(self, sid: Sid) -> bool:
        return sid in self.sockets

    def next_ack_id(self) -> int:
        ack_id = self._ack_ids
        self._ack_ids = ack_id + 1
        return ack_id

    def socket_details(self, sids: Iterable[Sid]) -> list[SocketDetails]:
        out = []
        sockets = self.sockets
        for sid in sids:
            socket = sockets.get(sid)
            if socket is not None:
                out.append(
                    SocketDetails(sid, socket.handshake.to_json(), frozenset(socket.rooms), socket.data)
                )
        return out

    def disconnect(self, sids: Iterable[Sid], close: bool) -> None:
        sockets = self.sockets
        for sid in list(sids):
            socket = sockets.get(sid)
            if socket is not None:
                socket.disconnect(close)

    def server_side_received(self, packet: list[Any], ack: ServerSideAck | None) -> None:
        if not packet or not isinstance(packet[0], str):
            logger.debug("ignoring a server-side event without a name on %s", self.name)
            return
        event, args = packet[0], list(packet[1:])
        if event in RESERVED_EVENTS:
            logger.debug("ignoring the reserved server-side event %r on %s", event, self.name)
            return
        for spec in self._server_side.get(event, ()):
            call_args = spec.adapt(args)
            try:
                if spec.wants_ack:
                    result = spec.fn(*call_args, ack=ack if ack is not None else _ignore)
                else:
                    result = spec.fn(*call_args)
            except Exception:
                logger.exception("error in server-side handler %s of event %r", spec.name, event)
                continue
            answer = None if spec.wants_ack else ack
            if asyncio.iscoroutine(result):
                self.server._tasks.spawn(result, None if answer is None else _answer_from_task(answer))
            elif answer is not None:
                answer(result)

    async def _fetch_sockets(self, opts: BroadcastOptions) -> list[RemoteSocket]:
        details = await self.adapter.fetch_sockets(opts)
        out = []
        for item in details:
            socket = self.sockets.get(item.id)
            if socket is not None:
                out.append(RemoteSocket(self, item.id, socket.handshake, socket.rooms, socket.data))
            else:
                handshake = Handshake.from_json(item.handshake)
                out.append(RemoteSocket(self, item.id, handshake, set(item.rooms), item.data))
        return out

    async def _disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        await self.adapter.disconnect_sockets(opts, close)

    # -- connection ----------------------------------------------------------------------------

    def _middleware_chain(self) -> list[Middleware]:
        return list(self._middlewares)

    def _add(self, client: Client, auth: dict[str, Any]) -> None:
        """A client asked to connect. Runs the middlewares, then connects or refuses."""
        recovery = self.server.recovery
        if recovery is not None:
            pid, offset = auth.get("pid"), auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):
                client.connecting(self.name)
                self.server._tasks.spawn(self._try_recover(client, auth, pid, offset))
                return
        self._add_new(client, auth)

    async def _try_recover(self, client: Client, auth: dict[str, Any], pid: str, offset: str) -> None:
        recovery = self.server.recovery
        assert recovery is not None
        try:
            session = await self.adapter.restore_session(pid, offset)
        finally:
            client.connected_or_refused(self.name)
        if client.conn.closed:
            return
        if session is not None and session.sid not in self.sockets:
            self._recover(client, auth, session, recovery.skip_middlewares)
        else:
            self._add_new(client, auth)

    def _add_new(self, client: Client, auth: dict[str, Any]) -> None:
        recovery = self.server.recovery
        if client.conn.protocol == 3:  # the v4 protocol's ids, as the official server makes them
            sid = Sid(client.conn.sid if self.name == "/" else f"{self.name}#{client.conn.sid}")
        else:
            sid = Sid(secrets.token_urlsafe(15))
        socket = Socket(self, client, sid, client.handshake(auth))
        if recovery is not None and client.conn.protocol != 3:
            socket.pid = secrets.token_urlsafe(15)
        middlewares = self._middleware_chain()
        if not middlewares:
            self._connect(socket, auth)
            return
        client.connecting(self.name)
        self.server._tasks.spawn(self._run_middlewares(socket, middlewares, auth))

    def _recover(
        self, client: Client, auth: dict[str, Any], session: RestoredSession, skip_middlewares: bool
    ) -> None:
        socket = Socket(self, client, session.sid, client.handshake(auth))
        socket.pid = session.pid
        socket.data = session.data
        socket.recovered = True
        rooms = [room for room in session.rooms if room != session.sid]
        missed = session.missed_packets
        middlewares = [] if skip_middlewares else self._middleware_chain()
        if not middlewares:
            self._connect(socket, auth, rooms, missed)
            return
        client.connecting(self.name)
        self.server._tasks.spawn(self._run_middlewares(socket, middlewares, auth, rooms, missed))

    async def _run_middlewares(
        self,
        socket: Socket,
        middlewares: list[Middleware],
        auth: dict[str, Any],
        rooms: list[Room] | None = None,
        missed: list[list[Any]] | None = None,
    ) -> None:
        client = socket.client
        try:
            for middleware in middlewares:
                result = middleware(socket)
                if asyncio.iscoroutine(result):
                    await result
        except ConnectionRefused as exc:
            client.connected_or_refused(self.name)
            client.refuse(self.name, exc.message, exc.data)
            return
        except Exception as exc:
            client.connected_or_refused(self.name)
            logger.info("middleware refused socket on %s: %r", self.name, exc)
            client.refuse(self.name, str(exc) or type(exc).__name__, getattr(exc, "data", None))
            return
        client.connected_or_refused(self.name)
        if not client.conn.closed:
            self._connect(socket, auth, rooms, missed)

    def _connect(
        self,
        socket: Socket,
        auth: dict[str, Any],
        rooms: list[Room] | None = None,
        missed: list[list[Any]] | None = None,
    ) -> None:
        client = socket.client
        socket.connected = True
        self.sockets[socket.id] = socket
        client.sockets[self.name] = socket
        client.joined()
        self.adapter.add_all(socket.id, [socket.id, *(rooms or ())])
        payload: dict[str, Any] | None = {"sid": socket.id}
        if client.conn.protocol == 3:
            payload = None  # the v4 protocol's CONNECT carries no sid
        elif socket.pid is not None:
            payload["pid"] = socket.pid  # type: ignore[index]
        socket._send_packet(SocketPacket(SocketPacketType.CONNECT, self.name, payload))
        # The CONNECT reply leaves in its own write, ahead of what the handlers send: clients that
        # handle one frame per read event (like the official conformance suite's) see it alone.
        client.conn.flush()
        if missed:
            for data in missed:
                socket._send_packet(SocketPacket(SocketPacketType.EVENT, self.name, data))
        for spec in self._handlers.get("connection", ()):
            if not socket.connected:
                break
            self._call(spec, socket, [auth], "connection")

    def _call(self, spec: HandlerSpec, socket: Socket, args: list[Any], event: str) -> None:
        try:
            result = spec.fn(socket, *spec.adapt(args))
        except InvalidPayload as exc:
            reject_payload(exc, event, socket.id, None, socket.logger)
            return
        except Exception:
            socket.logger.exception("error in %r handler %s on socket %s", event, spec.name, socket.id)
            return
        if asyncio.iscoroutine(result):
            self.server._tasks.spawn(result)

    def _run_lifecycle(self, socket: Socket, event: str, reason: DisconnectReason) -> None:
        for spec in socket._handlers.get(event, ()):
            try:
                result = spec.fn(*spec.adapt([reason.value]))
            except Exception:
                socket.logger.exception("error in %r handler of socket %s", event, socket.id)
                continue
            if asyncio.iscoroutine(result):
                self.server._tasks.spawn(result)
        for spec in self._handlers.get(event, ()):
            self._call(spec, socket, [reason.value], event)

    def _remove(self, socket: Socket) -> None:
        self.sockets.pop(socket.id, None)
        self.adapter.delete_all(socket.id)
        if not self.sockets and self.parent is not None:
            self.server._namespace_emptied(self)

    def rooms_of(self, sid: Sid) -> set[Room]:
        return set(self.adapter.socket_rooms(sid))


def _ignore(*args: Any) -> None:
    pass


def _answer_from_task(answer: ServerSideAck) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("error in an async server-side handler", exc_info=exc)
            return
        answer(task.result())

    return done
