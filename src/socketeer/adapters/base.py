"""The adapter interface, as in the official ``socket.io-adapter``.

An adapter keeps which socket is in which room for one namespace and fans broadcasts out. It knows
sockets only by id; it delivers through the :class:`LocalDelivery` that the namespace passes in, so a
clustered adapter (Redis) can implement the same interface and forward to other servers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Iterable
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
]


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


class LocalDelivery(Protocol):
    """What the namespace offers its adapter: delivery to local sockets by id."""

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
    ) -> None: ...

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
    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for sid in self.match(opts):
            self.add_all(sid, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for sid in self.match(opts):
            for room in rooms:
                self.delete(sid, room)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[Sid]:
        return list(self.match(opts))

    def server_count(self) -> Awaitable[int] | int:
        return 1

    async def server_side_emit(
        self, packet: list[Any], expect_acks: bool = False, timeout: float = 5.0
    ) -> list[Any]:
        """Send ``[event, *args]`` to the other servers of the cluster; their answers when asked.

        A single-process adapter has no other servers: nothing is sent and there are no answers.
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
