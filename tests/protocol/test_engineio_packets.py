from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.exceptions import RemoteProtocolError
from socketeer.protocol.engineio_errors import EngineErrorCode, error_body, error_status
from socketeer.protocol.engineio_handshake import OpenPayload
from socketeer.protocol.engineio_packets import (
    EnginePacket,
    EnginePacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)

packet_types = st.sampled_from(list(EnginePacketType))
text = st.text().filter(lambda s: "\x1e" not in s)
text_packets = st.builds(EnginePacket, packet_types, text)
binary_packets = st.builds(EnginePacket, st.just(EnginePacketType.MESSAGE), st.binary())
packets = st.one_of(text_packets, binary_packets)


@given(packets)
def test_websocket_round_trip(packet: EnginePacket) -> None:
    assert decode_packet(encode_packet(packet)) == packet


@given(st.lists(packets, min_size=1, max_size=20))
def test_payload_round_trip(items: list[EnginePacket]) -> None:
    assert decode_payload(encode_payload(items)) == items


def test_known_encodings() -> None:
    assert encode_packet(EnginePacket(EnginePacketType.MESSAGE, "hello")) == "4hello"
    assert encode_packet(EnginePacket(EnginePacketType.PING, "probe")) == "2probe"
    assert (
        encode_payload(
            [
                EnginePacket(EnginePacketType.MESSAGE, "a"),
                EnginePacket(EnginePacketType.MESSAGE, b"\x01\x02\x03\x04"),
            ]
        )
        == "4a\x1ebAQIDBA=="
    )


@pytest.mark.parametrize("bad", ["", "7", "x", "abc"])
def test_bad_packets_raise(bad: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_packet(bad)


def test_bad_base64_and_packet_limit() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_payload("b!!!")
    with pytest.raises(RemoteProtocolError):
        decode_payload("\x1e".join(["4a"] * 11), max_packets=10)


@given(st.text(max_size=50))
def test_decode_payload_is_total(payload: str) -> None:
    try:
        decode_payload(payload)
    except RemoteProtocolError:
        pass


def test_binary_only_for_messages() -> None:
    with pytest.raises(ValueError):
        encode_packet(EnginePacket(EnginePacketType.PING, b"x"))


def test_error_bodies_match_the_official_server() -> None:
    assert error_body(EngineErrorCode.UNKNOWN_SID) == b'{"code":1,"message":"Session ID unknown"}'
    assert error_status(EngineErrorCode.FORBIDDEN) == 403
    assert error_status(EngineErrorCode.BAD_REQUEST) == 400
    assert [c.message for c in EngineErrorCode] == [
        "Transport unknown",
        "Session ID unknown",
        "Bad handshake method",
        "Bad request",
        "Forbidden",
        "Unsupported protocol version",
    ]


@given(st.text(min_size=1, max_size=30), st.integers(1, 10**6), st.integers(1, 10**6), st.integers(1, 10**8))
def test_open_payload_round_trip(sid: str, interval: int, timeout: int, max_payload: int) -> None:
    payload = OpenPayload(sid, ("websocket",), interval, timeout, max_payload)
    assert OpenPayload.from_json(payload.to_json()) == payload


def test_open_payload_keys_are_exactly_the_official_ones() -> None:
    text_ = OpenPayload("abc", ["websocket"], 25000, 20000, 1000000).to_json()
    assert (
        text_
        == '{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    )
    with pytest.raises(RemoteProtocolError):
        OpenPayload.from_json("{}")
