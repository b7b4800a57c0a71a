from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.exceptions import RemoteProtocolError
from socketeer.protocol.parser import JsonParser
from socketeer.protocol.socketio_binary import deconstruct, has_binary, reconstruct
from socketeer.protocol.socketio_packets import (
    DecodeLimits,
    PacketDecoder,
    SocketPacket,
    SocketPacketType,
    decode_text,
    encode_packet,
)

T = SocketPacketType
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=15,
)
values_with_binary = st.recursive(
    json_leaf | st.binary(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8).filter(lambda k: k != "_placeholder"), children, max_size=4)
    ),
    max_leaves=15,
)
namespaces = st.sampled_from(["/", "/chat", "/a-b_c", "/ünï"])
ack_ids = st.none() | st.integers(0, 10**9)
event_names = st.text(min_size=1, max_size=20).filter(
    lambda s: (
        s not in {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
    )
)


def round_trip(packet: SocketPacket) -> SocketPacket:
    text, attachments = encode_packet(packet)
    decoder = PacketDecoder()
    out = decoder.feed_text(text.decode())
    for blob in attachments:
        assert out is None
        out = decoder.feed_binary(blob)
    assert out is not None
    return out


@given(namespaces, event_names, st.lists(values_with_binary, max_size=4), ack_ids)
def test_event_round_trip(namespace: str, event: str, args: list[Any], ack_id: int | None) -> None:
    packet = SocketPacket(T.EVENT, namespace, [event, *args], ack_id)
    decoded = round_trip(packet)
    assert decoded.namespace == namespace
    assert decoded.id == ack_id
    assert decoded.data == [event, *args]
    assert decoded.type is (T.BINARY_EVENT if has_binary(args) else T.EVENT)


@given(namespaces, st.lists(values_with_binary, max_size=4), st.integers(0, 10**9))
def test_ack_round_trip(namespace: str, args: list[Any], ack_id: int) -> None:
    decoded = round_trip(SocketPacket(T.ACK, namespace, args, ack_id))
    assert decoded.data == args and decoded.id == ack_id


@given(namespaces, st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_connect_round_trip(namespace: str, auth: dict[str, Any] | None) -> None:
    decoded = round_trip(SocketPacket(T.CONNECT, namespace, auth))
    assert decoded == SocketPacket(T.CONNECT, namespace, auth)


def test_wire_format_matches_the_official_parser() -> None:
    assert encode_packet(SocketPacket(T.EVENT, "/", ["message", 1, "2", {"3": [True]}])) == (
        b'2["message",1,"2",{"3":[true]}]',
        [],
    )
    assert encode_packet(SocketPacket(T.EVENT, "/admin", ["x"], 456)) == (b'2/admin,456["x"]', [])
    assert encode_packet(SocketPacket(T.ACK, "/", [b"\x01", b"\x02"], 789)) == (
        b'62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        [b"\x01", b"\x02"],
    )
    assert encode_packet(SocketPacket(T.CONNECT_ERROR, "/random", {"message": "Invalid namespace"})) == (
        b'4/random,{"message":"Invalid namespace"}',
        [],
    )
    assert encode_packet(SocketPacket(T.DISCONNECT, "/chat")) == (b"1/chat,", [])
    assert JsonParser().encode(SocketPacket(T.CONNECT, "/", {"sid": "x"})).text == b'40{"sid":"x"}'


def test_decoding_accepts_namespace_without_comma() -> None:
    assert decode_text("0/custom") == SocketPacket(T.CONNECT, "/custom")
    assert decode_text('0/custom,{"token":"abc"}').data == {"token": "abc"}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "9",
        "abc",
        "2{}",
        '2abc["x"]',
        "2",
        "2[]",
        '2["connect"]',
        '2["disconnect", 1]',
        "1/chat,{}",
        "0[1]",
        "3[]",
        "5[]",
        "5x-[]",
        '51-["a",{"_placeholder":true,"num":0}',
        "4/x,",
        "2" + "9" * 20 + '["x"]',
        "2[true]",
    ],
)
def test_invalid_packets_raise(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_text(bad)


def test_limits() -> None:
    limits = DecodeLimits(max_attachments=2, max_namespace_length=5, max_event_name_length=3)
    with pytest.raises(RemoteProtocolError):
        decode_text('53-["a",1]', limits)
    with pytest.raises(RemoteProtocolError):
        decode_text('2/toolong,["a"]', limits)
    with pytest.raises(RemoteProtocolError):
        decode_text('2["abcd"]', limits)


def test_attachments_reassembly_errors() -> None:
    decoder = PacketDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed_binary(b"x")
    assert decoder.feed_text('51-["a",{"_placeholder":true,"num":3}]') is None
    with pytest.raises(RemoteProtocolError):
        decoder.feed_binary(b"x")  # placeholder index out of range
    decoder = PacketDecoder()
    assert decoder.feed_text('52-["a",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(RemoteProtocolError):
        decoder.feed_text('2["b"]')  # text while attachments are expected


@given(st.text(max_size=60))
def test_decode_is_total(text: str) -> None:
    try:
        decode_text(text)
    except RemoteProtocolError:
        pass


@given(values_with_binary)
def test_deconstruct_reconstruct(value: Any) -> None:
    buffers: list[bytes] = []
    skeleton = deconstruct(value, buffers)
    assert not has_binary(skeleton)
    assert reconstruct(skeleton, buffers) == value


def test_deeply_nested_payload_is_refused_not_crashing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RemoteProtocolError):
        decode_text('2["x",' + deep + "]")


@pytest.mark.parametrize(
    ("payload", "deep"),
    [
        ("[" * 600 + "]" * 600, True),
        ("[" + "{}," * 700 + "{}]", False),  # many brackets, shallow
        ('["' + "[" * 600 + '"]', False),  # brackets inside a string
        ('["\\\\",' + "[" * 501 + "]" * 501 + "]", True),  # an escaped backslash closes the string
        ('["\\"' + "[" * 501 + '"]', False),  # an escaped quote does not
    ],
)
def test_json_depth_limit(payload: str, deep: bool) -> None:
    limits = DecodeLimits(max_json_depth=500)
    text = '2["x",' + payload + "]"
    if deep:
        with pytest.raises(RemoteProtocolError):
            decode_text(text, limits)
    else:
        decode_text(text, limits)
