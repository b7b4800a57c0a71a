"""The Redis adapter's wire codec and the decoder of every channel it reads, fuzzed.

Whatever arrives on a channel (random bytes, truncated msgpack, msgpack or JSON of the wrong shape,
unknown request types, this server's own uid, another namespace), the adapter ignores it with a debug
line or acts on it; nothing raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketeer._types import Room, Sid
from socketeer.adapters.base import BroadcastFlags, BroadcastOptions, SocketDetails
from socketeer.adapters.redis import RedisAdapter, glob_escape
from socketeer.adapters.redis_codec import (
    MalformedMessage,
    RequestType,
    decode_broadcast,
    decode_message,
    encode_broadcast,
    encode_json,
    encode_msgpack,
    room_of,
)
from socketeer.adapters.redis_link import RedisLink
from socketeer.protocol.socketio_packets import SocketPacket, event_packet

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


class RecordingDelivery:
    name = "/"

    def __init__(self) -> None:
        self.delivered: list[tuple[SocketPacket, set[Sid] | None]] = []
        self.disconnected: list[tuple[list[Sid], bool]] = []
        self.server_side: list[list[Any]] = []

    def deliver(self, packet: SocketPacket, sids: Iterable[Sid] | None, flags: BroadcastFlags) -> None:
        self.delivered.append((packet, None if sids is None else set(sids)))

    def deliver_with_ack(
        self,
        packet: SocketPacket,
        sids: Iterable[Sid] | None,
        flags: BroadcastFlags,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        self.deliver(packet, sids, flags)
        on_sent(1)
        on_ack("ok")

    def has_socket(self, sid: Sid) -> bool:
        return sid == "s1"

    def socket_details(self, sids: Iterable[Sid]) -> list[SocketDetails]:
        return [SocketDetails(sid, {"auth": {}}, frozenset({sid}), {"n": 1}) for sid in sids]

    def disconnect(self, sids: Iterable[Sid], close: bool) -> None:
        self.disconnected.append((list(sids), close))

    def server_side_received(self, packet: list[Any], ack: Callable[[Any], None] | None) -> None:
        self.server_side.append(packet)
        if ack is not None:
            ack("answer")


def make_adapter() -> tuple[RedisAdapter, RecordingDelivery, RedisLink]:
    delivery = RecordingDelivery()
    link = RedisLink("redis://127.0.0.1:1/0")  # never connected: publications stay queued
    adapter = RedisAdapter(delivery, link)
    adapter.add_all(Sid("s1"), ["s1", "red"])
    return adapter, delivery, link


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
wire_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | st.integers(-(2**63), 2**63 - 1), inner, max_size=4),
    max_leaves=12,
)
rooms = st.frozensets(st.text(min_size=1, max_size=10), max_size=4)


@FUZZ
@given(
    data=st.lists(json_values | st.binary(max_size=10), max_size=4),
    event=st.text(min_size=1, max_size=10),
    rooms=rooms,
    except_=rooms,
    volatile=st.booleans(),
    timeout=st.none() | st.integers(0, 10_000),
)
def test_broadcast_round_trip(
    data: list[Any], event: str, rooms: frozenset[Room], except_: frozenset[Room], volatile: bool, timeout: int | None
) -> None:
    flags = BroadcastFlags(volatile=volatile, timeout=None if timeout is None else timeout / 1000)
    opts = BroadcastOptions(rooms, except_, flags)
    packet = event_packet("/chat", [event, *data])
    message = decode_broadcast(encode_broadcast("abc123", packet, opts))
    assert message.uid == "abc123"
    assert message.packet == packet
    assert message.opts.rooms == rooms and message.opts.except_ == except_
    assert message.opts.flags.volatile == volatile
    assert message.opts.flags.timeout == flags.timeout


def test_broadcast_bytes_as_node_writes_them() -> None:
    # [uid, {type, data, nsp}, {rooms, except, flags}] with notepack's undefined (ext 0) in a field
    raw = msgpack.packb(
        [
            "node01",
            {"type": 2, "data": ["hi", b"\x01"], "nsp": "/", "id": msgpack.ExtType(0, b"\x00")},
            {"rooms": ["r", 7], "except": [], "flags": {"volatile": True, "timeout": 1500}},
        ],
        use_bin_type=True,
    )
    message = decode_broadcast(raw)
    assert message.packet.data == ["hi", b"\x01"] and message.packet.id is None
    assert message.opts.rooms == {"r", "7"} and message.opts.flags == BroadcastFlags(volatile=True, timeout=1.5)


@FUZZ
@given(st.binary(max_size=64))
def test_decoders_are_total_on_random_bytes(raw: bytes) -> None:
    for decode in (decode_broadcast, decode_message):
        try:
            decode(raw)
        except MalformedMessage:
            pass


@FUZZ
@given(wire_values)
def test_decoders_are_total_on_wrong_shapes(value: Any) -> None:
    raw = msgpack.packb(value, use_bin_type=True)
    for data in (raw, raw[: len(raw) // 2]):
        for decode in (decode_broadcast, decode_message):
            try:
                decode(data)
            except MalformedMessage:
                pass


request_shapes = st.fixed_dictionaries(
    {"type": st.integers(-2, 12) | st.booleans() | st.text(max_size=3) | st.none()},
    optional={
        "uid": st.sampled_from(["other1", "self"]) | st.integers(-5, 5),
        "requestId": st.text(max_size=6) | st.integers(-5, 5) | st.none(),
        "opts": wire_values | st.fixed_dictionaries({"rooms": st.lists(wire_values, max_size=3)}),
        "rooms": st.lists(wire_values, max_size=3) | wire_values,
        "room": wire_values,
        "sid": st.sampled_from(["s1", "nobody"]) | wire_values,
        "close": wire_values,
        "data": st.lists(wire_values, max_size=3) | wire_values,
        "packet": wire_values | st.fixed_dictionaries({"type": st.sampled_from([2, 5]), "data": wire_values}),
        "sockets": st.lists(wire_values, max_size=3) | wire_values,
        "clientCount": wire_values,
    },
)


@FUZZ
@given(request=request_shapes, as_json=st.booleans(), cut=st.booleans())
def test_every_channel_handler_survives_any_message(request: dict[str, Any], as_json: bool, cut: bool) -> None:
    adapter, _delivery, _ = make_adapter()
    if request.get("uid") == "self":
        request["uid"] = adapter.uid
    try:
        raw = encode_json(request) if as_json else encode_msgpack(request)
    except (TypeError, ValueError, OverflowError):
        raw = encode_msgpack(request)
    if cut:
        raw = raw[: max(len(raw) - 3, 0)]
    adapter._on_request_message(adapter._request_channel, raw)
    adapter._on_response_message(adapter._response_channel, raw)
    adapter._on_broadcast_message(adapter._channel, raw)
    adapter._on_broadcast_message(adapter._channel + b"red#", raw)


@FUZZ
@given(st.lists(wire_values, max_size=4))
def test_broadcast_channel_survives_any_triple(value: list[Any]) -> None:
    adapter, _delivery, _ = make_adapter()
    adapter._on_broadcast_message(adapter._channel, msgpack.packb(value, use_bin_type=True))


def test_ignored_messages_leave_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    adapter, delivery, link = make_adapter()
    caplog.set_level(logging.DEBUG, logger="socketeer.redis")
    adapter._on_broadcast_message(adapter._channel, b"\xc1garbage")
    adapter._on_request_message(adapter._request_channel, encode_json({"uid": "x", "type": 42}))
    adapter._on_request_message(adapter._request_channel, b"{not json")
    own = encode_broadcast(adapter.uid, event_packet("/", ["e"]), BroadcastOptions())
    adapter._on_broadcast_message(adapter._channel, own)
    other_nsp = encode_broadcast("other1", event_packet("/chat", ["e"]), BroadcastOptions())
    adapter._on_broadcast_message(adapter._channel, other_nsp)
    assert delivery.delivered == []
    text = caplog.text
    assert "malformed broadcast" in text and "ignoring a request" in text and "namespace '/chat'" in text
    # and a good one from another server is delivered to the local sockets
    adapter._on_broadcast_message(adapter._channel + b"red#", encode_broadcast("other1", event_packet("/", ["e"]), BroadcastOptions(frozenset({"red"}))))
    assert delivery.delivered == [(event_packet("/", ["e"]), {"s1"})]


def test_requests_are_answered_on_the_expected_channels() -> None:
    adapter, delivery, link = make_adapter()
    adapter.publish_on_specific_response_channel = True
    queue = link._queue

    def published() -> list[tuple[bytes, dict[str, Any]]]:
        out = [(channel, decode_message(data)) for _, channel, data, _ in queue]
        queue.clear()
        return out

    adapter._on_request_message(
        b"", encode_json({"uid": "other1", "requestId": "r1", "type": int(RequestType.REMOTE_FETCH), "opts": {"rooms": ["red"], "except": []}})
    )
    assert published() == [
        (b"socket.io-response#/#other1#", {"requestId": "r1", "sockets": [{"id": "s1", "handshake": {"auth": {}}, "rooms": ["s1"], "data": {"n": 1}}]})
    ]
    adapter._on_request_message(b"", encode_json({"uid": "other1", "requestId": "r2", "type": 6, "data": ["ev", 1]}))
    # server-side acknowledgements go to the namespace's response channel, as the official adapter does
    assert published() == [(b"socket.io-response#/#", {"type": 6, "requestId": "r2", "data": "answer"})]
    assert delivery.server_side == [["ev", 1]]
    adapter._on_request_message(
        b"",
        encode_msgpack({"uid": "other1", "requestId": "r3", "type": 7, "packet": {"type": 2, "data": ["q"], "nsp": "/"}, "opts": {"rooms": [], "except": []}}),
    )
    assert published() == [
        (b"socket.io-response#/#other1#", {"type": 8, "requestId": "r3", "clientCount": 1}),
        (b"socket.io-response#/#other1#", {"type": 9, "requestId": "r3", "packet": "ok"}),
    ]
    adapter._on_request_message(b"", encode_json({"uid": "other1", "type": 4, "opts": {"rooms": ["red"], "except": []}, "close": True}))
    assert delivery.disconnected == [(["s1"], True)]
    adapter._on_request_message(b"", encode_json({"uid": "other1", "type": 2, "opts": {"rooms": ["red"], "except": []}, "rooms": ["blue", 3]}))
    assert set(adapter.socket_rooms(Sid("s1"))) == {"s1", "red", "blue", "3"}
    adapter._on_request_message(b"", encode_json({"uid": adapter.uid, "type": 3, "opts": {"rooms": [], "except": []}, "rooms": ["blue"]}))
    assert "blue" in adapter.socket_rooms(Sid("s1"))  # its own request: already applied locally


def test_rooms_and_patterns() -> None:
    assert room_of(3) == "3" and room_of(2.5) == "2.5" and room_of(4.0) == "4"
    for bad in (True, None, [1], float("nan")):
        with pytest.raises(MalformedMessage):
            room_of(bad)
    assert glob_escape("socket.io#/a*b?[c]#") == "socket.io#/a\\*b\\?\\[c\\]#"
