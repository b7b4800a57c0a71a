from __future__ import annotations

import base64
import json
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socketeer.adapters.base import BroadcastFlags, BroadcastOptions, SocketDetails
from socketeer.adapters.cluster_messages import (
    BroadcastAckData,
    BroadcastClientCountData,
    BroadcastData,
    ClusterMessage,
    DisconnectSocketsData,
    FetchSocketsData,
    FetchSocketsResponseData,
    MessageType,
    ServerSideEmitData,
    ServerSideEmitResponseData,
    SocketsRoomsData,
    decode_json_or_msgpack,
    decode_msgpack,
    decode_stream_entry,
    encode_json_or_msgpack,
    encode_msgpack,
    encode_stream_entry,
    from_object,
    is_ephemeral,
    to_object,
)
from socketeer.exceptions import RemoteProtocolError
from socketeer.protocol.socketio_packets import SocketPacket, SocketPacketType

M = MessageType

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
values = st.recursive(
    json_leaf | st.binary(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
rooms = st.frozensets(st.text(max_size=6), max_size=3)
flags = st.builds(
    BroadcastFlags,
    volatile=st.booleans(),
    compress=st.none() | st.booleans(),
    local=st.booleans(),
    timeout=st.none() | st.integers(0, 10**6).map(lambda ms: ms / 1000),
)
options = st.builds(BroadcastOptions, rooms, rooms, flags)
request_ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)
event = st.tuples(st.text(min_size=1, max_size=8), st.lists(values, max_size=3)).map(lambda t: [t[0], *t[1]])
packets = st.builds(
    SocketPacket,
    st.just(SocketPacketType.EVENT),
    st.sampled_from(["/", "/chat"]),
    event,
    st.none() | st.integers(0, 2**31),
    st.just(0),
)
sockets = st.builds(
    SocketDetails,
    st.text(min_size=1, max_size=8),
    st.dictionaries(st.sampled_from(["address", "time", "url", "query", "auth"]), values, max_size=3),
    rooms,
    values,
)
payloads: dict[MessageType, st.SearchStrategy[Any]] = {
    M.INITIAL_HEARTBEAT: st.none(),
    M.HEARTBEAT: st.none(),
    M.ADAPTER_CLOSE: st.none(),
    M.BROADCAST: st.builds(BroadcastData, packets, options, st.none() | request_ids),
    M.SOCKETS_JOIN: st.builds(
        SocketsRoomsData, options, st.lists(st.text(max_size=6), max_size=3).map(tuple)
    ),
    M.SOCKETS_LEAVE: st.builds(
        SocketsRoomsData, options, st.lists(st.text(max_size=6), max_size=3).map(tuple)
    ),
    M.DISCONNECT_SOCKETS: st.builds(DisconnectSocketsData, options, st.booleans()),
    M.FETCH_SOCKETS: st.builds(FetchSocketsData, options, request_ids),
    M.FETCH_SOCKETS_RESPONSE: st.builds(
        FetchSocketsResponseData, request_ids, st.lists(sockets, max_size=3).map(tuple)
    ),
    M.SERVER_SIDE_EMIT: st.builds(ServerSideEmitData, event, st.none() | request_ids),
    M.SERVER_SIDE_EMIT_RESPONSE: st.builds(ServerSideEmitResponseData, request_ids, values),
    M.BROADCAST_CLIENT_COUNT: st.builds(BroadcastClientCountData, request_ids, st.integers(0, 10**6)),
    M.BROADCAST_ACK: st.builds(BroadcastAckData, request_ids, values),
}
messages = st.sampled_from(list(MessageType)).flatmap(
    lambda t: st.builds(
        ClusterMessage,
        st.text(min_size=1, max_size=16),
        st.sampled_from(["/", "/chat"]),
        st.just(t),
        payloads[t],
    )
)


def _normalized(message: ClusterMessage) -> ClusterMessage:
    """Rooms travel as lists: what comes back compares equal once sorted the same way."""
    return from_object(to_object(message))


def test_message_type_numbers_are_the_official_ones() -> None:
    assert [(t.name, int(t)) for t in MessageType] == [
        ("INITIAL_HEARTBEAT", 1),
        ("HEARTBEAT", 2),
        ("BROADCAST", 3),
        ("SOCKETS_JOIN", 4),
        ("SOCKETS_LEAVE", 5),
        ("DISCONNECT_SOCKETS", 6),
        ("FETCH_SOCKETS", 7),
        ("FETCH_SOCKETS_RESPONSE", 8),
        ("SERVER_SIDE_EMIT", 9),
        ("SERVER_SIDE_EMIT_RESPONSE", 10),
        ("BROADCAST_CLIENT_COUNT", 11),
        ("BROADCAST_ACK", 12),
        ("ADAPTER_CLOSE", 13),
    ]


@settings(max_examples=150)
@given(messages)
def test_object_round_trip(message: ClusterMessage) -> None:
    assert from_object(to_object(message)) == message


@settings(max_examples=150)
@given(messages)
def test_framings_round_trip(message: ClusterMessage) -> None:
    expected = _normalized(message)
    assert decode_msgpack(encode_msgpack(message)) == expected
    assert decode_json_or_msgpack(encode_json_or_msgpack(message)) == expected
    entry = encode_stream_entry(message)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in entry.items())
    assert decode_stream_entry(entry) == expected
    # as redis-py returns it without decode_responses
    assert decode_stream_entry({k.encode(): v.encode() for k, v in entry.items()}) == expected


def test_broadcast_object_is_the_official_shape() -> None:
    message = ClusterMessage(
        "abc",
        "/",
        M.BROADCAST,
        BroadcastData(
            SocketPacket(SocketPacketType.EVENT, "/", ["hello", 1]),
            BroadcastOptions(frozenset({"room1"}), frozenset({"sid1"}), BroadcastFlags(timeout=2.5)),
        ),
    )
    assert to_object(message) == {
        "uid": "abc",
        "nsp": "/",
        "type": 3,
        "data": {
            "packet": {"type": 2, "nsp": "/", "data": ["hello", 1]},
            "opts": {"rooms": ["room1"], "except": ["sid1"], "flags": {"timeout": 2500}},
        },
    }
    entry = encode_stream_entry(message)
    assert entry["type"] == "3"
    assert json.loads(entry["data"]) == to_object(message)["data"]
    assert not is_ephemeral(message)


def test_absent_keys_stay_absent() -> None:
    # requestId and volatile are tested for presence by the official adapters: never send them as null
    plain = ClusterMessage(
        "u",
        "/",
        M.BROADCAST,
        BroadcastData(SocketPacket(SocketPacketType.EVENT, "/", ["e"]), BroadcastOptions()),
    )
    obj = to_object(plain)
    assert "requestId" not in obj["data"] and "id" not in obj["data"]["packet"]
    assert obj["data"]["opts"]["flags"] == {}
    assert "data" not in encode_stream_entry(ClusterMessage("u", "/", M.HEARTBEAT))
    assert (
        "requestId"
        not in to_object(ClusterMessage("u", "/", M.SERVER_SIDE_EMIT, ServerSideEmitData(["e"])))["data"]
    )


def test_binary_goes_as_base64_msgpack_in_streams() -> None:
    message = ClusterMessage(
        "u",
        "/",
        M.BROADCAST,
        BroadcastData(SocketPacket(SocketPacketType.EVENT, "/", ["file", b"\x00\x01"]), BroadcastOptions()),
    )
    entry = encode_stream_entry(message)
    assert not entry["data"].startswith("{")
    assert msgpack.unpackb(base64.b64decode(entry["data"]))["packet"]["data"] == ["file", b"\x00\x01"]
    assert encode_json_or_msgpack(message)[:1] != b"{"
    assert decode_stream_entry(entry) == message


def test_ephemeral_messages() -> None:
    opts = BroadcastOptions()
    packet = SocketPacket(SocketPacketType.EVENT, "/", ["e"])
    assert is_ephemeral(ClusterMessage("u", "/", M.BROADCAST, BroadcastData(packet, opts, "r1")))
    assert is_ephemeral(ClusterMessage("u", "/", M.FETCH_SOCKETS, FetchSocketsData(opts, "r1")))
    assert is_ephemeral(ClusterMessage("u", "/", M.SERVER_SIDE_EMIT, ServerSideEmitData(["e"])))
    assert not is_ephemeral(ClusterMessage("u", "/", M.SOCKETS_JOIN, SocketsRoomsData(opts, ("r",))))


def test_notepack_undefined_and_binary_packet_types() -> None:
    # notepack (sharded adapter) writes `undefined` as fixext 1 type 0; a BINARY_EVENT type becomes EVENT
    obj = {
        "uid": "u",
        "nsp": "/",
        "type": 3,
        "data": {
            "packet": {"type": 5, "nsp": "/", "data": ["e", b"x"]},
            "opts": {"rooms": [], "except": [], "flags": {}},
            "requestId": msgpack.ExtType(0, b"\x00"),
        },
    }
    message = decode_msgpack(msgpack.packb(obj, use_bin_type=True))
    assert isinstance(message.data, BroadcastData)
    assert message.data.request_id is None
    assert message.data.packet == SocketPacket(SocketPacketType.EVENT, "/", ["e", b"x"])


def test_data_class_must_match_type() -> None:
    with pytest.raises(TypeError):
        ClusterMessage("u", "/", M.HEARTBEAT, ServerSideEmitData(["e"]))
    with pytest.raises(TypeError):
        ClusterMessage("u", "/", M.BROADCAST)


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        {"uid": "u", "nsp": "/"},
        {"uid": "u", "nsp": "/", "type": 99},
        {"uid": "u", "nsp": "/", "type": True},
        {"uid": 1, "nsp": "/", "type": 2},
        {"uid": "u", "nsp": "/", "type": 3},
        {"uid": "u", "nsp": "/", "type": 3, "data": {"packet": {"type": 2, "data": []}, "opts": {}}},
        {
            "uid": "u",
            "nsp": "/",
            "type": 3,
            "data": {"packet": {"type": 2, "data": ["e"]}, "opts": {"rooms": "a"}},
        },
        {
            "uid": "u",
            "nsp": "/",
            "type": 3,
            "data": {"packet": {"type": 2, "data": ["e"]}, "opts": {"flags": {"timeout": "x"}}},
        },
        {"uid": "u", "nsp": "/", "type": 11, "data": {"requestId": "r", "clientCount": -1}},
        {"uid": "u", "nsp": "/", "type": 8, "data": {"requestId": "r", "sockets": [{"handshake": {}}]}},
        {"uid": "u", "nsp": "/", "type": 9, "data": {"packet": "e"}},
    ],
)
def test_malformed_objects_are_refused(obj: Any) -> None:
    with pytest.raises(RemoteProtocolError):
        from_object(obj)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_garbage_bytes_never_escape_as_other_errors(payload: bytes) -> None:
    for decode in (decode_msgpack, decode_json_or_msgpack):
        try:
            decode(payload)
        except RemoteProtocolError:
            pass


@settings(max_examples=200)
@given(messages, st.data())
def test_truncated_payloads_are_refused_cleanly(message: ClusterMessage, data: st.DataObject) -> None:
    for payload, decode in (
        (encode_msgpack(message), decode_msgpack),
        (encode_json_or_msgpack(message), decode_json_or_msgpack),
    ):
        cut = data.draw(st.integers(0, max(0, len(payload) - 1)))
        try:
            decode(payload[:cut])
        except RemoteProtocolError:
            pass


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["uid", "nsp", "type", "data", b"uid", b"type"]),
        st.text(max_size=20) | st.binary(max_size=20) | st.integers(),
    )
)
def test_garbage_stream_entries_are_refused_cleanly(fields: dict[Any, Any]) -> None:
    try:
        decode_stream_entry(fields)
    except RemoteProtocolError:
        pass


@settings(max_examples=200)
@given(
    st.dictionaries(st.sampled_from(["uid", "nsp", "type", "data"]), values | st.integers(0, 14), max_size=4)
)
def test_garbage_objects_are_refused_cleanly(obj: dict[str, Any]) -> None:
    try:
        from_object(obj)
    except RemoteProtocolError:
        pass
