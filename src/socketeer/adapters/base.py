"""The adapter interface, as in the official ``socket.io-adapter``.

An adapter keeps which socket is in which room for one namespace and fans broadcasts out. It knows
sockets only by id; it delivers through the :class:`LocalDelivery` that the namespace passes in, so a
clustered adapter (Redis) can implement the same interface and forward to other servers.

The cluster-wide operations (``add_sockets``, ``del_sockets``, ``disconnect_sockets``,
``fetch_sockets``, ``server_side_emit``, ``server_side_emit_with_ack``, ``server_count``,
``all_rooms``, and ``broadcast_with_ack`` whose ``on_sent`` is called once per server) act on this
process in the base class; a clustered adapter overrides them to reach the other servers too, and
answers their requests with the local ones. The server runs :meth:`Adapter.init` before it serves
(or as soon as a namespace is created on a running server) and :meth:`Adapter.close` when it closes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._types import Room, Sid
from ..protocol.socketio_packets import SocketPacket

__all__ = [
    "Adapter",
    "BroadcastFlags",
    "BroadcastOptions",
    "LocalDelivery",
    "PersistedSession",
    "RestoredSession",
    "RoomEvent",
    "ServerSideAck",
    "SocketDetails",
]


RoomsLike = Room | Iterable[Room]
"""A room, or several: what ``to``, ``except_``, ``join`` and the emitter take."""


def room_set(rooms: tuple[RoomsLike, ...]) -> frozenset[Room]:
    """The rooms named by ``rooms`` (each a room or an iterable of rooms)."""
    out: set[Room] = set()
    for item in rooms:
        if isinstance(item, str):
            out.add(item)
        else:
            out.update(item)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class BroadcastFlags:
    volatile: bool = False
    compress: bool | None = None
    local: bool = False
    timeout: float | None = None


_NO_FLAGS = BroadcastFlags()


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Whom a broadcast reaches: sockets in any of ``rooms`` (all when empty), minus those in ``except_``."""

    rooms: frozenset[Room] = field(default_factory=frozenset)
    except_: frozenset[Room] = field(default_factory=frozenset)
    flags: BroadcastFlags = _NO_FLAGS


class RoomEvent:
    CREATE_ROOM = "create-room"
    DELETE_ROOM = "delete-room"
    JOIN_ROOM = "join-room"
    LEAVE_ROOM = "leave-room"


@dataclass(frozen=True, slots=True)
class SocketDetails:
    """A socket as ``fetch_sockets`` reports it, from this server or another one.

    ``handshake`` is the JSON form of the official ``socket.handshake`` (``headers``, ``time``,
    ``address``, ``xdomain``, ``secure``, ``issued``, ``url``, ``query``, ``auth``), the form in which
    the official adapters send it between servers.
    """

    id: Sid
    handshake: dict[str, Any]
    rooms: frozenset[Room]
    data: Any


ServerSideAck = Callable[[Any], None]
"""Answers a server-side event received from another server (one value; later calls are ignored)."""


class LocalDelivery(Protocol):
    """What the namespace offers its adapter: delivery to local sockets by id, and the local side of
    the cluster-wide operations."""

    name: str
    """The namespace's name (``/``, ``/chat``): clustered adapters derive their channels from it."""

    def deliver(self, packet: SocketPacket, sids: Iterable[Sid] | None, flags: BroadcastFlags) -> None:
        """Encode ``packet`` once and write it to each socket of ``sids`` (every socket when ``None``)."""
        ...

    def deliver_with_ack(
        self,
        packet: SocketPacket,
        sids: Iterable[Sid] | None,
        flags: BroadcastFlags,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None: ...

    def has_socket(self, sid: Sid) -> bool: ...

    def socket_details(self, sids: Iterable[Sid]) -> list[SocketDetails]:
        """The details of those of ``sids`` that are connected here."""
        ...

    def disconnect(self, sids: Iterable[Sid], close: bool) -> None:
        """Disconnect those of ``sids`` that are connected here (``close``: their whole connection)."""
        ...

    def server_side_received(self, packet: list[Any], ack: ServerSideAck | None) -> None:
        """Run the handlers of a server-side event ``[event, *args]`` sent by another server."""
        ...


RoomListener = Callable[[str, Room, Sid | None], None]


class Adapter(ABC):
    """Room registry and fan-out for one namespace."""

    def __init__(self, delivery: LocalDelivery) -> None:
        self.delivery = delivery
        self._listeners: list[RoomListener] = []

    def on_room_event(self, listener: RoomListener) -> None:
        """Be told of ``create-room``, ``delete-room``, ``join-room`` and ``leave-room``."""
        self._listeners.append(listener)

    def _notify(self, event: str, room: Room, sid: Sid | None) -> None:
        for listener in self._listeners:
            listener(event, room, sid)

    async def init(self) -> None:  # noqa: B027 - optional hook
        """Start whatever the adapter needs (connections to a broker)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop what :meth:`init` started."""

    @abstractmethod
    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None: ...

    @abstractmethod
    def delete(self, sid: Sid, room: Room) -> None: ...

    @abstractmethod
    def delete_all(self, sid: Sid) -> None: ...

    @abstractmethod
    def socket_rooms(self, sid: Sid) -> Collection[Room]: ...

    @abstractmethod
    def sockets(self, rooms: Collection[Room] = ()) -> set[Sid]:
        """Ids of the local sockets in any of ``rooms`` (all sockets when empty)."""

    @abstractmethod
    def rooms(self) -> dict[Room, set[Sid]]: ...

    @abstractmethod
    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None: ...

    @abstractmethod
    def broadcast_with_ack(
        self,
        packet: SocketPacket,
        opts: BroadcastOptions,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        """Broadcast ``packet`` asking each client for an acknowledgement.

        ``on_sent(count)`` is called once per server that sent it (this one included), with the number
        of its clients that got it; ``on_ack(value)`` once per acknowledgement. The caller is done when
        :meth:`server_count` servers have reported and as many answers as their counts add up to came.
        """

    def match(self, opts: BroadcastOptions) -> set[Sid]:
        """Ids of the local sockets that ``opts`` selects."""
        if opts.rooms:
            sids = self.sockets(opts.rooms)
        else:
            sids = self.sockets()
        if opts.except_:
            sids -= self.sockets(opts.except_)
        return sids

    # Operations that a clustered adapter makes cluster-wide; the local ones act on this process.
    # ``opts.flags.local`` keeps any of them on this process.
    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        """Make the sockets that ``opts`` selects join ``rooms``."""
        rooms = list(rooms)
        for sid in self.match(opts):
            self.add_all(sid, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        """Make the sockets that ``opts`` selects leave ``rooms``."""
        rooms = list(rooms)
        for sid in self.match(opts):
            for room in rooms:
                self.delete(sid, room)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        """Disconnect the sockets that ``opts`` selects (``close``: their whole connection)."""
        self.delivery.disconnect(self.match(opts), close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        """The sockets that ``opts`` selects, on every server (those of this one first)."""
        return self.delivery.socket_details(self.match(opts))

    async def server_count(self) -> int:
        """How many servers the cluster has, this one included."""
        return 1

    async def all_rooms(self) -> set[Room]:
        """The rooms of every server (socket ids included, as the official adapters report them)."""
        return set(self.rooms())

    async def server_side_emit(self, packet: list[Any]) -> None:  # noqa: B027 - optional hook
        """Send ``[event, *args]`` to the other servers of the cluster (none here: nothing is sent)."""

    async def server_side_emit_with_ack(self, packet: list[Any], timeout: float | None = None) -> list[Any]:
        """Send ``[event, *args]`` to the other servers and return one answer per server.

        Raises :class:`~socketeer.exceptions.AckTimeout` carrying the answers received when some
        server has not answered within ``timeout`` seconds (the adapter's own default when ``None``).
        A single-process adapter has no other servers: the answer is an empty list.
        """
        return []

    # Connection state recovery: adapters that keep sessions override these two.
    def persist_session(self, session: PersistedSession) -> None:  # noqa: B027 - optional hook
        """Keep a disconnected socket's state for a later recovery (no-op without recovery)."""

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        """The state of a socket that reconnects with ``pid`` and ``offset``, or ``None``.

        Asynchronous because a clustered adapter asks its broker (as the official adapters do)."""
        return None


@dataclass(frozen=True, slots=True)
class PersistedSession:
    sid: Sid
    pid: str
    rooms: frozenset[Room]
    data: Any


@dataclass(frozen=True, slots=True)
class RestoredSession:
    sid: Sid
    pid: str
    rooms: frozenset[Room]
    data: Any
    missed_packets: list[list[Any]]
