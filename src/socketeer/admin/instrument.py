"""``instrument(io, ...)``: serve the official Socket.IO Admin UI (``@socket.io/admin-ui``) from socketeer.

It speaks the UI's protocol on an admin namespace (``/admin``), as the official server-side package
does:

- on connect: ``session`` (after a login with credentials), ``config`` (``supportedFeatures``) and, in
  development mode, ``all_sockets``;
- every ``stats_interval`` seconds (2 s): ``server_stats`` with the server's id, host name, pid, uptime,
  Engine.IO client counts, per-namespace socket counts and the engine events aggregated per second;
- in development mode, live: ``socket_connected``, ``socket_updated`` (data, transport),
  ``socket_disconnected``, ``room_joined``, ``room_left``, ``event_received`` and ``event_sent``;
- the UI's commands, unless ``readonly``: ``emit(nsp, filter, event, *args)``,
  ``join(nsp, room, filter)``, ``leave(nsp, room, filter)`` and ``_disconnect(nsp, close, filter)``,
  where ``filter`` is a room (the UI passes a socket id, every socket being in its own room) or
  nothing for the whole namespace.

Point the UI (https://admin.socket.io, or its bundle served by you) at the server's URL; the
namespace and path are under its advanced options.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket as _socket
import weakref
from collections.abc import Mapping
from typing import Any, Literal

from .._types import Room, Sid
from ..adapters.base import RoomEvent
from ..exceptions import ConnectionRefused
from ..protocol.socketio_packets import RESERVED_EVENTS
from ..protocol.wire import WireMessage
from ..server.broadcast import BroadcastOperator
from ..server.client import Client
from ..server.namespace import Namespace
from ..server.server import ParentNamespace, Server
from ..server.socket import Socket
from ..transports.engine_server import ConnectionHandler, EngineConnection, EngineHandler
from .auth import Authenticator, BasicAuth, InMemorySessionStore, SessionStore
from .stats import EventBuffer, iso_now, process_uptime, serialize_data, serialize_socket

__all__ = ["Feature", "Instrumentation", "instrument"]

logger = logging.getLogger("socketeer.admin")

Mode = Literal["development", "production"]


class Feature:
    """The ``supportedFeatures`` the UI understands."""

    EMIT = "EMIT"
    JOIN = "JOIN"
    LEAVE = "LEAVE"
    DISCONNECT = "DISCONNECT"
    MJOIN = "MJOIN"
    MLEAVE = "MLEAVE"
    MDISCONNECT = "MDISCONNECT"
    AGGREGATED_EVENTS = "AGGREGATED_EVENTS"
    ALL_EVENTS = "ALL_EVENTS"


_COMMANDS = (Feature.EMIT, Feature.JOIN, Feature.LEAVE, Feature.DISCONNECT)
_MULTI = (Feature.MJOIN, Feature.MLEAVE, Feature.MDISCONNECT)
READONLY_ERROR = {"message": "the admin namespace is read-only"}


def instrument(
    io: Server,
    *,
    auth: BasicAuth | Mapping[str, Any] | Literal[False],
    mode: Mode = "development",
    readonly: bool = False,
    namespace_name: str = "/admin",
    server_id: str | None = None,
    stats_interval: float = 2.0,
    store: SessionStore | None = None,
) -> Instrumentation:
    """Let the official Admin UI watch and drive ``io``.

    ``auth`` is required: ``{"type": "basic", "username": "admin", "password": "<bcrypt hash>"}`` (or a
    :class:`BasicAuth`), or ``False`` to let anyone in. ``mode="production"`` sends only the aggregated
    statistics (no per-socket events, no socket list); ``readonly`` refuses the UI's commands.
    ``server_id`` names this server in the UI (host name by default). Call it once per server, before
    or after it starts listening; the returned object stops the statistics with :meth:`close` (also
    done by ``await io.close()``).
    """
    return Instrumentation(
        io,
        auth=auth,
        mode=mode,
        readonly=readonly,
        namespace_name=namespace_name,
        server_id=server_id,
        stats_interval=stats_interval,
        store=store,
    )


class Instrumentation:
    """The admin namespace's state: hooks on the server, the event buffer and the statistics timer."""

    def __init__(
        self,
        io: Server,
        *,
        auth: BasicAuth | Mapping[str, Any] | Literal[False],
        mode: Mode,
        readonly: bool,
        namespace_name: str,
        server_id: str | None,
        stats_interval: float,
        store: SessionStore | None,
    ) -> None:
        if mode not in ("development", "production"):
            raise ValueError(f'mode must be "development" or "production", not {mode!r}')
        if stats_interval <= 0:
            raise ValueError("stats_interval must be positive")
        self.io = io
        self.mode = mode
        self.readonly = readonly
        self.stats_interval = stats_interval
        self.buffer = EventBuffer()
        self.store: SessionStore = store if store is not None else InMemorySessionStore()
        hostname = _socket.gethostname()
        self._base_stats = {"serverId": server_id or hostname, "hostname": hostname, "pid": os.getpid()}
        self._authenticator: Authenticator | None = None
        if auth is False:
            logger.warning("admin UI authentication is disabled: anyone can connect to %s", namespace_name)
        elif isinstance(auth, (BasicAuth, Mapping)):
            self._authenticator = Authenticator(BasicAuth.from_option(auth), self.store)
        else:
            raise ValueError("the `auth` option must be {'type': 'basic', ...}, a BasicAuth, or False")
        features = [] if readonly else [*_COMMANDS, *_MULTI]
        features.append(Feature.AGGREGATED_EVENTS)
        if self.development:
            features.append(Feature.ALL_EVENTS)
        self.supported_features: tuple[str, ...] = tuple(features)

        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._hooked: weakref.WeakSet[Namespace] = weakref.WeakSet()
        self._tracked: weakref.WeakSet[Socket] = weakref.WeakSet()
        self._sessions: weakref.WeakKeyDictionary[Socket, str] = weakref.WeakKeyDictionary()

        self.admin = io.of(namespace_name)
        if self._authenticator is not None:
            self.admin.use(self._authenticate)
        self.admin.on("connection", self._on_admin_connection)
        self._observe_engine()
        if self.development:
            for nsp in list(io.namespaces.values()):
                self._hook_namespace(nsp)
            for parent in io.parent_namespaces:  # dynamic namespaces made before instrument()
                self._hook_namespace(parent)
            io.on_new_namespace(self._hook_namespace)
        io.add_closer(self.close)
        self._ensure_timer()

    @property
    def development(self) -> bool:
        return self.mode == "development"

    def close(self) -> None:
        """Stop the statistics timer (the hooks stay, silent without admin sockets)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the admin namespace -------------------------------------------------------------------

    async def _authenticate(self, socket: Socket) -> None:
        assert self._authenticator is not None
        try:
            session_id = await self._authenticator.authenticate(socket.handshake.auth)
        except PermissionError:
            raise ConnectionRefused("invalid credentials") from None
        if session_id is not None:
            self._sessions[socket] = session_id

    def _on_admin_connection(self, socket: Socket) -> None:
        self._ensure_timer()
        session_id = self._sessions.pop(socket, None)
        if session_id is not None:
            socket.emit("session", session_id)
        self._register_commands(socket)
        socket.emit("config", {"supportedFeatures": list(self.supported_features)})
        if self.development:
            socket.emit("all_sockets", self._all_sockets())
        socket.emit("server_stats", self._stats(aggregated=[]))  # the UI shows the server at once

    def _all_sockets(self) -> list[dict[str, Any]]:
        out = []
        for nsp in list(self.io.namespaces.values()):
            for socket in list(nsp.sockets.values()):
                out.append(serialize_socket(socket))
        return out

    def _emit(self, event: str, *args: Any) -> None:
        """Tell every admin socket; a failure here must never reach the code that caused the event."""
        if not self.admin.sockets:
            return
        try:
            self.admin.emit(event, *args)
        except Exception:
            logger.exception("could not send %r to the admin namespace", event)

    # -- commands ------------------------------------------------------------------------------

    def _register_commands(self, socket: Socket) -> None:
        if self.readonly:
            for event in ("emit", "join", "leave", "_disconnect"):
                socket.on(event, self._refuse)
            return
        socket.on("emit", self._cmd_emit)
        socket.on("join", self._cmd_join)
        socket.on("leave", self._cmd_leave)
        socket.on("_disconnect", self._cmd_disconnect)

    @staticmethod
    def _refuse(*args: Any) -> dict[str, str]:
        logger.info("admin command refused: read-only")
        return dict(READONLY_ERROR)

    def _target(self, nsp_name: Any, filter_: Any) -> BroadcastOperator | None:
        """The sockets of namespace ``nsp_name`` selected by ``filter_`` (``None``: no such namespace)."""
        if not isinstance(nsp_name, str):
            return None
        nsp = self.io.namespaces.get(nsp_name)
        if nsp is None:
            return None
        rooms = _filter_rooms(filter_)
        operator = BroadcastOperator(nsp)
        return operator.to(rooms) if rooms else operator

    def _cmd_emit(self, nsp_name: Any, filter_: Any, event: Any, *args: Any) -> None:
        target = self._target(nsp_name, filter_)
        if target is None or not isinstance(event, str) or event in RESERVED_EVENTS:
            logger.info("admin emit ignored: namespace %r, event %r", nsp_name, event)
            return
        target.emit(event, *args)

    async def _cmd_join(self, nsp_name: Any, room: Any, filter_: Any = None) -> None:
        target = self._target(nsp_name, filter_)
        if target is not None and isinstance(room, str):
            await target.sockets_join(room)

    async def _cmd_leave(self, nsp_name: Any, room: Any, filter_: Any = None) -> None:
        target = self._target(nsp_name, filter_)
        if target is not None and isinstance(room, str):
            await target.sockets_leave(room)

    async def _cmd_disconnect(self, nsp_name: Any, close: Any, filter_: Any = None) -> None:
        target = self._target(nsp_name, filter_)
        if target is not None:
            await target.disconnect_sockets(bool(close))

    # -- statistics ----------------------------------------------------------------------------

    def _ensure_timer(self) -> None:
        if self._timer is not None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running yet: started by the first connection
        self._timer = loop.call_later(self.stats_interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._ensure_timer()
        self._emit("server_stats", self._stats(self.buffer.take()))

    def _stats(self, aggregated: list[dict[str, Any]]) -> dict[str, Any]:
        clients = polling = 0
        for conn in list(self.io.engine.connections.values()):
            if not conn.closed:
                clients += 1
                if conn.transport == "polling":
                    polling += 1
        return {
            **self._base_stats,
            "uptime": process_uptime(),
            "clientsCount": clients,
            "pollingClientsCount": polling,
            "aggregatedEvents": aggregated,
            "namespaces": [
                {"name": nsp.name, "socketsCount": len(nsp.sockets)}
                for nsp in list(self.io.namespaces.values())
            ],
        }

    def _upgraded(self, handler: ConnectionHandler, transport: str) -> None:
        """A connection upgraded: its sockets' new transport, at once (the official ``upgrade`` hook)."""
        if not self.development or not self.admin.sockets or not isinstance(handler, Client):
            return
        for socket in list(handler.sockets.values()):
            if socket in self._tracked:
                self._emit(
                    "socket_updated", {"id": socket.id, "nsp": socket.namespace.name, "transport": transport}
                )

    def _observe_engine(self) -> None:
        engine = self.io.engine
        engine.handler = _EngineObserver(engine.handler, self)

    # -- development mode: every socket, room and event ----------------------------------------

    def _hook_namespace(self, nsp: Namespace) -> None:
        if nsp in self._hooked:
            return
        self._hooked.add(nsp)
        if nsp.parent is None:
            # a dynamic namespace's children share their parent's handlers: hooked through the parent
            nsp.on("connection", self._on_socket)
        if not isinstance(nsp, ParentNamespace):  # a parent has no sockets, its children have the rooms
            name = nsp.name
            nsp.adapter.on_room_event(lambda event, room, sid: self._on_room_event(name, event, room, sid))

    def _on_room_event(self, nsp_name: str, event: str, room: Room, sid: Sid | None) -> None:
        if event == RoomEvent.JOIN_ROOM:
            self._emit("room_joined", nsp_name, room, sid, iso_now())
        elif event == RoomEvent.LEAVE_ROOM:
            # after the socket_disconnected of a leaving socket, as the official server does
            timestamp = iso_now()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._emit("room_left", nsp_name, room, sid, timestamp)
            else:
                loop.call_soon(self._emit, "room_left", nsp_name, room, sid, timestamp)

    def _on_socket(self, socket: Socket) -> None:
        if socket in self._tracked:
            return
        self._tracked.add(socket)
        nsp = socket.namespace
        self._hook_namespace(nsp)  # a child of a dynamic namespace, seen for the first time
        if isinstance(socket.data, dict):
            socket.data = _ObservedData(socket.data, weakref.ref(socket), self)
        if self.admin.sockets:  # no one watching: skip the serialization
            self._emit("socket_connected", serialize_socket(socket), iso_now())
        name = nsp.name
        sid = socket.id
        if nsp is not self.admin:

            def received(*args: Any) -> None:
                self._emit("event_received", name, sid, list(args), iso_now())

            def sent(*args: Any) -> None:
                self._emit("event_sent", name, sid, list(args), iso_now())

            socket.on_any(received)
            socket.on_any_outgoing(sent)

        def disconnected(reason: str) -> None:
            self._emit("socket_disconnected", name, sid, reason, iso_now())

        socket.on("disconnect", disconnected)

    def _data_changed(self, socket: Socket, data: Mapping[str, Any]) -> None:
        if socket.connected and self.admin.sockets:
            self._emit(
                "socket_updated",
                {"id": socket.id, "nsp": socket.namespace.name, "data": serialize_data(data)},
            )


def _filter_rooms(filter_: Any) -> list[Room]:
    """The UI's filter: a room (a socket id is a room), several rooms, or ``{"id"|"room"|"rooms": ...}``."""
    if isinstance(filter_, str):
        return [filter_] if filter_ else []
    if isinstance(filter_, Mapping):
        for key in ("id", "room", "rooms"):
            if key in filter_:
                return _filter_rooms(filter_[key])
        return []
    if isinstance(filter_, (list, tuple)):
        return [room for room in filter_ if isinstance(room, str) and room]
    return []


class _ObservedData(dict[str, Any]):
    """``socket.data``, telling the UI (``socket_updated``) when a key is set or removed.

    Only top-level changes are seen; replacing ``socket.data`` with another object stops the updates.
    """

    __slots__ = ("_instrumentation", "_socket")

    def __init__(
        self, initial: Mapping[str, Any], socket: weakref.ref[Socket], owner: Instrumentation
    ) -> None:
        super().__init__(initial)
        self._socket = socket
        self._instrumentation = owner

    def _changed(self) -> None:
        socket = self._socket()
        if socket is not None:
            self._instrumentation._data_changed(socket, self)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def setdefault(self, key: str, default: Any = None) -> Any:
        had = key in self
        value = super().setdefault(key, default)
        if not had:
            self._changed()
        return value

    def pop(self, key: str, *default: Any) -> Any:
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._changed()
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __reduce__(self) -> Any:  # copies and pickles are plain dicts
        return (dict, (dict(self),))


class _EngineObserver:
    """Sits between the engine and the server to count connections, packets and bytes for the UI."""

    __slots__ = ("inner", "owner")

    def __init__(self, inner: EngineHandler, owner: Instrumentation) -> None:
        self.inner = inner
        self.owner = owner

    def on_connection(self, connection: EngineConnection) -> ConnectionHandler:
        owner = self.owner
        owner.buffer.push("rawConnection")
        owner._ensure_timer()
        handler = self.inner.on_connection(connection)
        connection.observe(_SentCounter(handler, owner))
        return _CountingHandler(handler, owner.buffer)


class _SentCounter:
    """Counts what the server sends, as the official ``packetCreate`` hook: one packet per Engine.IO
    MESSAGE packet (each binary attachment is one), its data's bytes; heartbeats are not counted."""

    __slots__ = ("handler", "owner")

    def __init__(self, handler: ConnectionHandler, owner: Instrumentation) -> None:
        self.handler = handler
        self.owner = owner

    def on_sent(self, message: WireMessage) -> None:
        buffer = self.owner.buffer
        text = message.text
        packets = len(message.binaries)
        size = sum(len(b) for b in message.binaries) if packets else 0
        if text is not None and len(text) > 1 and text[:1] == b"4":  # empty data: not counted, as there
            packets += 1
            size += len(text) - 1
        if packets:
            buffer.push("packetsOut", None, packets)
            buffer.push("bytesOut", None, size)

    def on_upgrade(self, transport: str) -> None:
        self.owner._upgraded(self.handler, transport)


class _CountingHandler:
    __slots__ = ("buffer", "inner")

    def __init__(self, inner: ConnectionHandler, buffer: EventBuffer) -> None:
        self.inner = inner
        self.buffer = buffer

    def on_text(self, text: str) -> None:
        self.buffer.push("packetsIn")
        self.buffer.push("bytesIn", None, len(text.encode()))
        self.inner.on_text(text)

    def on_binary(self, data: bytes) -> None:
        self.buffer.push("packetsIn")
        self.buffer.push("bytesIn", None, len(data))
        self.inner.on_binary(data)

    def on_close(self, reason: str) -> None:
        self.buffer.push("rawDisconnection", reason)
        self.inner.on_close(reason)
