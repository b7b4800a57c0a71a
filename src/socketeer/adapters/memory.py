"""The in-memory adapter: two indexes, room -> sids and sid -> rooms."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from .._types import Room, Sid
from ..protocol.socketio_packets import SocketPacket
from .base import Adapter, BroadcastOptions, LocalDelivery, RoomEvent

__all__ = ["InMemoryAdapter"]


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
