from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from socketeer._types import Sid
from socketeer.adapters.base import BroadcastFlags, BroadcastOptions
from socketeer.adapters.memory import InMemoryAdapter
from socketeer.protocol.socketio_packets import SocketPacket, SocketPacketType


class RecordingDelivery:
    def __init__(self) -> None:
        self.sent: list[tuple[SocketPacket, set[Sid] | None]] = []

    def deliver(self, packet: SocketPacket, sids: Iterable[Sid] | None, flags: BroadcastFlags) -> None:
        self.sent.append((packet, None if sids is None else set(sids)))

    def deliver_with_ack(
        self,
        packet: SocketPacket,
        sids: Iterable[Sid] | None,
        flags: BroadcastFlags,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        self.deliver(packet, sids, flags)

    def has_socket(self, sid: Sid) -> bool:
        return True


def sid(name: str) -> Sid:
    return Sid(name)


def test_two_indexes_stay_consistent_and_emit_room_events() -> None:
    events: list[tuple[str, str, Sid | None]] = []
    adapter = InMemoryAdapter(RecordingDelivery())
    adapter.on_room_event(lambda event, room, s: events.append((event, room, s)))
    adapter.add_all(sid("a"), ["a", "r1", "r2"])
    adapter.add_all(sid("b"), ["b", "r1"])
    assert adapter.rooms()["r1"] == {"a", "b"}
    assert set(adapter.socket_rooms(sid("a"))) == {"a", "r1", "r2"}
    adapter.delete(sid("a"), "r2")
    assert "r2" not in adapter.rooms()
    adapter.delete_all(sid("a"))
    assert adapter.rooms() == {"b": {"b"}, "r1": {"b"}}
    assert ("create-room", "r2", None) in events
    assert ("join-room", "r1", "b") in events
    assert ("leave-room", "r2", "a") in events
    assert ("delete-room", "r2", None) in events


def test_targets() -> None:
    delivery = RecordingDelivery()
    adapter = InMemoryAdapter(delivery)
    for name, rooms in {"a": ["r1"], "b": ["r1", "r2"], "c": ["r2"], "d": []}.items():
        adapter.add_all(sid(name), [name, *rooms])
    packet = SocketPacket(SocketPacketType.EVENT, "/", ["x"])
    adapter.broadcast(packet, BroadcastOptions())
    adapter.broadcast(packet, BroadcastOptions(frozenset({"r1"})))
    adapter.broadcast(packet, BroadcastOptions(frozenset({"r1", "r2"}), frozenset({"b"})))
    adapter.broadcast(packet, BroadcastOptions(except_=frozenset({"r2"})))
    assert [targets for _, targets in delivery.sent] == [None, {"a", "b"}, {"a", "c"}, {"a", "d"}]
    assert adapter.sockets(["missing"]) == set()
