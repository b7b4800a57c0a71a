"""The in-memory adapter: two indexes, room -> sids and sid -> rooms."""

from __future__ import annotations

import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from typing import Any

from .._types import Room, Sid
from ..protocol.socketio_packets import SocketPacket
from .base import Adapter, BroadcastOptions, LocalDelivery, PersistedSession, RestoredSession, RoomEvent

__all__ = ["InMemoryAdapter", "SessionAwareAdapter"]


class InMemoryAdapter(Adapter):
    def __init__(self, delivery: LocalDelivery) -> None:
        super().__init__(delivery)
        self._rooms: dict[Room, set[Sid]] = {}
        self._sids: dict[Sid, set[Room]] = {}

    def add_all(self, sid: Sid, rooms: Iterable[Room]) -> None:
        own = self._sids.get(sid)
        if own is None:
            own = self._sids[sid] = set()
        for room in rooms:
            own.add(room)
            members = self._rooms.get(room)
            if members is None:
                members = self._rooms[room] = set()
                if self._listeners:
                    self._notify(RoomEvent.CREATE_ROOM, room, None)
            if sid not in members:
                members.add(sid)
                if self._listeners:
                    self._notify(RoomEvent.JOIN_ROOM, room, sid)

    def delete(self, sid: Sid, room: Room) -> None:
        own = self._sids.get(sid)
        if own is not None:
            own.discard(room)
        self._leave(sid, room)

    def _leave(self, sid: Sid, room: Room) -> None:
        members = self._rooms.get(room)
        if members is None or sid not in members:
            return
        members.discard(sid)
        if self._listeners:
            self._notify(RoomEvent.LEAVE_ROOM, room, sid)
        if not members:
            del self._rooms[room]
            if self._listeners:
                self._notify(RoomEvent.DELETE_ROOM, room, None)

    def delete_all(self, sid: Sid) -> None:
        own = self._sids.pop(sid, None)
        if own is None:
            return
        for room in own:
            self._leave(sid, room)

    def socket_rooms(self, sid: Sid) -> Collection[Room]:
        return self._sids.get(sid, set())

    def sockets(self, rooms: Collection[Room] = ()) -> set[Sid]:
        if not rooms:
            return set(self._sids)
        out: set[Sid] = set()
        for room in rooms:
            members = self._rooms.get(room)
            if members:
                out.update(members)
        return out

    def rooms(self) -> dict[Room, set[Sid]]:
        return self._rooms

    def _targets(self, opts: BroadcastOptions) -> Iterable[Sid] | None:
        if not opts.rooms and not opts.except_:
            return None  # everyone: the namespace iterates its sockets directly
        if len(opts.rooms) == 1 and not opts.except_:
            (room,) = opts.rooms
            return tuple(self._rooms.get(room, ()))
        return self.match(opts)

    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        self.delivery.deliver(packet, self._targets(opts), opts.flags)

    def broadcast_with_ack(
        self,
        packet: SocketPacket,
        opts: BroadcastOptions,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        self.delivery.deliver_with_ack(packet, self._targets(opts), opts.flags, on_sent, on_ack)


class SessionAwareAdapter(InMemoryAdapter):
    """The in-memory adapter with connection state recovery, as the official ``SessionAwareAdapter``.

    Every broadcast EVENT (not volatile, without acknowledgement) gets an offset as its last argument
    and is kept for ``max_disconnection_duration`` seconds; a socket that disconnected for a recoverable
    reason is kept as long, so that a client reconnecting with its ``pid`` and last offset gets its id,
    rooms and data back, and every packet it missed.
    """

    def __init__(
        self,
        delivery: LocalDelivery,
        max_disconnection_duration: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(delivery)
        self.max_disconnection_duration = max_disconnection_duration
        self._clock = clock
        self._sessions: dict[str, tuple[float, PersistedSession]] = {}
        self._packets: deque[tuple[str, float, BroadcastOptions, list[Any]]] = deque()
        self._offsets = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    def _next_offset(self) -> str:
        return f"{self._prefix}-{next(self._offsets):x}"

    def _expire(self, now: float) -> None:
        horizon = now - self.max_disconnection_duration
        packets = self._packets
        while packets and packets[0][1] < horizon:
            packets.popleft()
        if self._sessions:
            for pid in [pid for pid, (at, _) in self._sessions.items() if at < horizon]:
                del self._sessions[pid]

    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        if packet.type == 2 and packet.id is None and not opts.flags.volatile:  # EVENT
            now = self._clock()
            self._expire(now)
            offset = self._next_offset()
            data = [*packet.data, offset]
            self._packets.append((offset, now, opts, data))
            packet = packet._replace(data=data)
        super().broadcast(packet, opts)

    def persist_session(self, session: PersistedSession) -> None:
        now = self._clock()
        self._expire(now)
        self._sessions[session.pid] = (now, session)

    async def restore_session(self, pid: str, offset: str) -> RestoredSession | None:
        now = self._clock()
        self._expire(now)
        entry = self._sessions.pop(pid, None)
        if entry is None:
            return None
        session = entry[1]
        missed: list[list[Any]] = []
        found = False
        for packet_offset, _, opts, data in self._packets:
            if found:
                if _includes(session.rooms, opts):
                    missed.append(data)
            elif packet_offset == offset:
                found = True
        if not found:
            return None
        return RestoredSession(session.sid, session.pid, session.rooms, session.data, missed)


def _includes(rooms: frozenset[Room], opts: BroadcastOptions) -> bool:
    included = not opts.rooms or not rooms.isdisjoint(opts.rooms)
    return included and rooms.isdisjoint(opts.except_)
