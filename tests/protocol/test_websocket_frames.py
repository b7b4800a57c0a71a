"""Tests for socketeer.protocol.websocket_frames: RFC 6455 checks, properties, and websockets as an oracle."""

from __future__ import annotations

import ast
import base64
import codecs
import pickle
import tracemalloc
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, Frame
from websockets.frames import Opcode as WsOpcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import accept_key as ws_accept_key

from socketeer.protocol import websocket_frames as wf
from socketeer.protocol.websocket_frames import (
    CloseCode,
    FrameReader,
    InvalidHandshake,
    Opcode,
    WebSocketProtocolError,
    accept_key,
    apply_mask,
    build_binary_frame,
    build_close_frame,
    build_frame,
    build_handshake_request,
    build_handshake_response,
    build_text_frame,
    check_handshake_request,
    check_handshake_response,
    generate_client_key,
    generate_mask,
    header_tokens,
    parse_close_payload,
    validate_client_key,
)

SETTINGS = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
MASK = b"\x37\xfa\x21\x3d"
Message = tuple[int, "bytes | str"]


# ----------------------------------------------------------------------------------------------------------
# Test-side helpers, written independently of the module under test.


def raw_frame(
    first: int,
    payload: bytes,
    *,
    mask: bytes | None = MASK,
    length_bytes: int | None = None,
    length: int | None = None,
) -> bytes:
    """Any first byte, any length encoding (0 = in the 7-bit field, 2 or 8 extended), optional masking."""
    size = len(payload) if length is None else length
    mask_bit = 0x80 if mask is not None else 0
    if length_bytes is None:
        length_bytes = 0 if size < 126 else 2 if size < 65536 else 8
    if length_bytes == 0:
        head = bytes([first, mask_bit | size])
    elif length_bytes == 2:
        head = bytes([first, mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, mask_bit | 127]) + size.to_bytes(8, "big")
    if mask is None:
        return head + payload
    return head + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def feed_all(reader: FrameReader, *chunks: bytes) -> list[Message]:
    out: list[Message] = []
    for chunk in chunks:
        out.extend(reader.feed(chunk))
    return out


def rejects(stream: bytes, *, client_side: bool = False, max_message_size: int = 1_000_000) -> int:
    """Feed ``stream`` and return the close code of the error it must raise."""
    reader = FrameReader(client_side=client_side, max_message_size=max_message_size)
    with pytest.raises(WebSocketProtocolError) as info:
        reader.feed(stream)
    return info.value.close_code


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


# ----------------------------------------------------------------------------------------------------------
# API surface and purity


def test_public_names() -> None:
    assert set(wf.__all__) == {
        "CloseCode",
        "FrameReader",
        "InvalidHandshake",
        "Opcode",
        "WebSocketProtocolError",
        "accept_key",
        "apply_mask",
        "build_binary_frame",
        "build_close_frame",
        "build_frame",
        "build_handshake_request",
        "build_handshake_response",
        "build_text_frame",
        "check_handshake_request",
        "check_handshake_response",
        "generate_client_key",
        "generate_mask",
        "header_tokens",
        "parse_close_payload",
        "validate_client_key",
    }
    assert [int(o) for o in Opcode] == [0, 1, 2, 8, 9, 10]
    assert (int(CloseCode.INVALID_PAYLOAD), int(CloseCode.MESSAGE_TOO_BIG)) == (1007, 1009)


def test_module_is_pure_and_standalone() -> None:
    tree = ast.parse(Path(wf.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: the codec must not import the rest of socketeer"
            imported.add(node.module or "")
    allowed = {
        "__future__",
        "base64",
        "binascii",
        "codecs",
        "collections.abc",
        "enum",
        "hashlib",
        "os",
        "struct",
        "websockets.speedups",
    }
    assert imported <= allowed, imported - allowed


def test_error_carries_code_and_reason_and_pickles() -> None:
    exc = WebSocketProtocolError(1002, "bad")
    assert (exc.close_code, exc.reason) == (1002, "bad")
    assert "bad" in str(exc) and "1002" in str(exc)
    clone = pickle.loads(pickle.dumps(exc))
    assert (clone.close_code, clone.reason) == (1002, "bad")


# ----------------------------------------------------------------------------------------------------------
# Masking


@SETTINGS
@given(st.binary(max_size=600), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_definition_and_fallback(data: bytes, mask: bytes) -> None:
    expected = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    assert apply_mask(data, mask) == expected
    assert wf._apply_mask_py(data, mask) == expected
    assert apply_mask(expected, mask) == data


def test_apply_mask_rejects_bad_key() -> None:
    with pytest.raises(ValueError):
        wf._apply_mask_py(b"abc", b"123")
    with pytest.raises(ValueError):
        apply_mask(b"abc", b"12345")


def test_generate_mask() -> None:
    assert len(generate_mask()) == 4
    assert len({generate_mask() for _ in range(20)}) > 1


# ----------------------------------------------------------------------------------------------------------
# Building frames


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_build_shortcuts_match_reference_serializer(size: int) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert build_text_frame(payload) == Frame(WsOpcode.TEXT, payload).serialize(mask=False)
    assert build_binary_frame(payload) == Frame(WsOpcode.BINARY, payload).serialize(mask=False)
    assert build_frame(Opcode.TEXT, payload) == build_text_frame(payload)
    assert build_frame(2, payload) == build_binary_frame(payload)
    assert build_frame(1, payload, fin=False) == raw_frame(0x01, payload, mask=None)
    assert build_frame(2, payload, mask=MASK) == raw_frame(0x82, payload, mask=MASK)


@pytest.mark.parametrize(
    ("opcode", "payload", "fin", "mask"),
    [
        (3, b"", True, None),
        (0x81, b"", True, None),
        (11, b"", True, None),
        (-1, b"", True, None),
        (Opcode.PING, b"", False, None),
        (Opcode.CLOSE, b"x" * 126, True, None),
        (Opcode.TEXT, b"abc", True, b"123"),
    ],
)
def test_build_frame_rejects_invalid_frames(
    opcode: int, payload: bytes, fin: bool, mask: bytes | None
) -> None:
    with pytest.raises(ValueError):
        build_frame(opcode, payload, fin=fin, mask=mask)


@SETTINGS
@given(
    st.sampled_from([0, 1, 2, 8, 9, 10]),
    st.binary(max_size=300),
    st.booleans(),
    st.none() | st.binary(min_size=4, max_size=4),
)
def test_reference_parser_reads_our_frames(
    opcode: int, payload: bytes, fin: bool, mask: bytes | None
) -> None:
    if opcode >= 8:
        payload, fin = payload[:125], True
    data = build_frame(opcode, payload, fin=fin, mask=mask)
    if mask is not None:
        assert data[-len(payload) - 4 : len(data) - len(payload)] == mask
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=mask is not None)
    with pytest.raises(StopIteration) as stop:
        next(parser)
    frame = stop.value.value
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (opcode, fin, payload)
    assert not reader.buffer


def test_build_close_frame() -> None:
    assert build_close_frame() == b"\x88\x02\x03\xe8"
    assert build_close_frame(1001, "bye") == b"\x88\x05\x03\xe9bye"
    assert build_close_frame(1005) == b"\x88\x00"
    assert build_close_frame(4000, "é") == Frame(WsOpcode.CLOSE, Close(4000, "é").serialize()).serialize(
        mask=False
    )
    masked = build_close_frame(1000, "ok", mask=MASK)
    assert masked == raw_frame(0x88, b"\x03\xe8ok", mask=MASK)
    assert build_close_frame(1000, "r" * 123)  # the longest reason that fits
    for code in (0, 999, 1004, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError):
            build_close_frame(code)
    with pytest.raises(ValueError):
        build_close_frame(1000, "r" * 124)
    with pytest.raises(ValueError):
        build_close_frame(1005, "reason without code")


# ----------------------------------------------------------------------------------------------------------
# Close payloads


def test_parse_close_payload() -> None:
    assert parse_close_payload(b"") == (1005, "")
    assert parse_close_payload(b"\x03\xe8") == (1000, "")
    assert parse_close_payload(b"\x0b\xb8hello") == (3000, "hello")
    assert parse_close_payload(b"\x13\x87" + "ü".encode()) == (4999, "ü")


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),
        (b"\x00\x00", 1002),
        (b"\x03\xe7", 1002),  # 999
        (b"\x03\xec", 1002),  # 1004
        (b"\x03\xed", 1002),  # 1005 may not be sent
        (b"\x03\xee", 1002),  # 1006
        (b"\x03\xf7", 1002),  # 1015
        (b"\x0b\xb7", 1002),  # 2999
        (b"\x13\x88", 1002),  # 5000
        (b"\x03\xe8\xff", 1007),
        (b"\x03\xe8\xed\xa0\x80", 1007),  # UTF-8 encoded surrogate
        (b"\x03\xe8" + b"x" * 124, 1002),
    ],
)
def test_parse_close_payload_rejects(payload: bytes, code: int) -> None:
    with pytest.raises(WebSocketProtocolError) as info:
        parse_close_payload(payload)
    assert info.value.close_code == code


@SETTINGS
@given(st.integers(0, 65535), st.binary(max_size=20) | st.text(max_size=20).map(str.encode))
def test_parse_close_payload_agrees_with_reference(code: int, reason: bytes) -> None:
    payload = code.to_bytes(2, "big") + reason
    try:
        expected = Close.parse(payload)
    except (ProtocolError, UnicodeDecodeError):
        with pytest.raises(WebSocketProtocolError):
            parse_close_payload(payload)
    else:
        assert parse_close_payload(payload) == (expected.code, expected.reason)


# ----------------------------------------------------------------------------------------------------------
# FrameReader: normal operation


def test_server_reads_masked_messages() -> None:
    reader = FrameReader()
    stream = (
        raw_frame(0x81, "héllo".encode())
        + raw_frame(0x82, b"\x00\xff")
        + raw_frame(0x89, b"ping")
        + raw_frame(0x8A, b"")
        + raw_frame(0x88, b"\x03\xe8bye")
    )
    messages = reader.feed(stream)
    assert messages == [
        (Opcode.TEXT, "héllo"),
        (Opcode.BINARY, b"\x00\xff"),
        (Opcode.PING, b"ping"),
        (Opcode.PONG, b""),
        (Opcode.CLOSE, b"\x03\xe8bye"),
    ]
    assert [type(op) for op, _ in messages] == [Opcode] * 5
    assert reader.pending_bytes == 0


def test_client_reads_unmasked_messages() -> None:
    reader = FrameReader(client_side=True)
    assert reader.feed(build_text_frame(b"abc") + build_binary_frame(b"\x01")) == [(1, "abc"), (2, b"\x01")]


def test_partial_input_is_buffered() -> None:
    reader = FrameReader()
    frame = raw_frame(0x82, bytes(300))
    assert reader.feed(frame[:1]) == []
    assert reader.pending_bytes == 1
    assert reader.feed(frame[1:3]) == []
    assert reader.feed(frame[3:100]) == []
    assert reader.pending_bytes == 100
    assert reader.feed(frame[100:] + frame[:5]) == [(2, bytes(300))]
    assert reader.pending_bytes == 5
    assert reader.feed(frame[5:]) == [(2, bytes(300))]
    assert reader.pending_bytes == 0
    assert reader.feed(b"") == []


def test_accepts_bytearray_and_memoryview_input() -> None:
    reader = FrameReader()
    frame = raw_frame(0x82, b"payload")
    buffer = bytearray(frame[:4])
    assert reader.feed(buffer) == []  # type: ignore[arg-type]
    buffer[:] = b"\x00" * 4  # the reader must not keep a reference to the caller's buffer
    assert reader.feed(memoryview(frame)[4:]) == [(2, b"payload")]  # type: ignore[arg-type]


def test_fragmented_messages_with_interleaved_control_frames() -> None:
    text = "naïve €uro 𝄞".encode()
    # Cut inside the multi-byte characters: fragments need not be valid UTF-8 on their own.
    stream = (
        raw_frame(0x01, text[:3])
        + raw_frame(0x89, b"p1")
        + raw_frame(0x00, text[3:9])
        + raw_frame(0x00, b"")
        + raw_frame(0x8A, b"p2")
        + raw_frame(0x80, text[9:])
        + raw_frame(0x02, b"ab")
        + raw_frame(0x88, b"")
        + raw_frame(0x80, b"cd")
    )
    assert FrameReader().feed(stream) == [
        (Opcode.PING, b"p1"),
        (Opcode.PONG, b"p2"),
        (Opcode.TEXT, text.decode()),
        (Opcode.CLOSE, b""),
        (Opcode.BINARY, b"abcd"),
    ]


def test_non_minimal_length_encodings_are_accepted() -> None:
    stream = (
        raw_frame(0x82, b"abcde", length_bytes=2)
        + raw_frame(0x82, b"fgh", length_bytes=8)
        + raw_frame(0x82, bytes(300), length_bytes=8)
        + raw_frame(0x89, b"ping", length_bytes=2)
    )
    assert FrameReader().feed(stream) == [(2, b"abcde"), (2, b"fgh"), (2, bytes(300)), (9, b"ping")]


def test_message_at_the_size_limit_is_accepted() -> None:
    reader = FrameReader(max_message_size=10)
    assert reader.feed(raw_frame(0x82, bytes(10))) == [(2, bytes(10))]
    assert reader.feed(raw_frame(0x01, b"12345") + raw_frame(0x80, b"67890")) == [(1, "1234567890")]
    assert reader.feed(raw_frame(0x89, bytes(125))) == [(9, bytes(125))]  # control frames don't count


def test_large_frames() -> None:
    payload = bytes(i % 256 for i in range(70_000))
    reader = FrameReader()
    assert reader.feed(raw_frame(0x82, payload)) == [(2, payload)]
    client = FrameReader(client_side=True)
    frame = build_binary_frame(payload)
    assert feed_all(client, *split(frame, list(range(0, len(frame), 4096)))) == [(2, payload)]


# ----------------------------------------------------------------------------------------------------------
# FrameReader: every RFC check, with its close code


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_rsv_bits_must_be_zero(rsv: int) -> None:
    assert rejects(raw_frame(0x81 | rsv, b"x")) == 1002
    assert rejects(raw_frame(0x89 | rsv, b"")) == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_unknown_opcodes(opcode: int) -> None:
    assert rejects(raw_frame(0x80 | opcode, b"")) == 1002
    assert rejects(raw_frame(opcode, b"")) == 1002


@pytest.mark.parametrize("opcode", [8, 9, 10])
def test_control_frames_must_not_be_fragmented(opcode: int) -> None:
    assert rejects(raw_frame(opcode, b"")) == 1002


@pytest.mark.parametrize("opcode", [8, 9, 10])
@pytest.mark.parametrize("length_bytes", [2, 8])
def test_control_frames_at_most_125_bytes(opcode: int, length_bytes: int) -> None:
    assert rejects(raw_frame(0x80 | opcode, bytes(126), length_bytes=length_bytes)) == 1002
    # Detected from the header alone, before the payload arrives.
    assert rejects(raw_frame(0x80 | opcode, b"", length=126, length_bytes=length_bytes)) == 1002


def test_continuation_without_a_started_message() -> None:
    assert rejects(raw_frame(0x80, b"x")) == 1002
    assert rejects(raw_frame(0x00, b"x")) == 1002
    assert rejects(raw_frame(0x81, b"done") + raw_frame(0x80, b"x")) == 1002


@pytest.mark.parametrize("second", [0x81, 0x82, 0x01, 0x02])
def test_new_data_frame_during_a_fragmented_message(second: int) -> None:
    assert rejects(raw_frame(0x01, b"a") + raw_frame(second, b"b")) == 1002
    assert rejects(raw_frame(0x02, b"a") + raw_frame(0x89, b"") + raw_frame(second, b"b")) == 1002


def test_server_requires_masked_frames() -> None:
    assert rejects(raw_frame(0x81, b"x", mask=None)) == 1002
    assert rejects(raw_frame(0x89, b"", mask=None)) == 1002


def test_client_requires_unmasked_frames() -> None:
    assert rejects(raw_frame(0x81, b"x"), client_side=True) == 1002
    assert rejects(raw_frame(0x88, b""), client_side=True) == 1002


def test_64_bit_length_with_top_bit_set() -> None:
    header = bytes([0x82, 0xFF]) + (1 << 63).to_bytes(8, "big") + MASK
    assert rejects(header) == 1002
    assert rejects(header, max_message_size=1 << 80) == 1002
    assert rejects(bytes([0x82, 0x7F]) + b"\xff" * 8, client_side=True) == 1002


def test_frame_larger_than_limit() -> None:
    assert rejects(raw_frame(0x82, bytes(11)), max_message_size=10) == 1009
    assert rejects(raw_frame(0x81, b"", length=11), max_message_size=10) == 1009  # header only
    assert rejects(raw_frame(0x01, bytes(11)), max_message_size=10) == 1009


def test_fragmented_message_larger_than_limit() -> None:
    first = raw_frame(0x02, bytes(6))
    assert rejects(first + raw_frame(0x80, bytes(5)), max_message_size=10) == 1009
    assert rejects(first + raw_frame(0x00, b"", length=5), max_message_size=10) == 1009  # header only
    assert rejects(first + raw_frame(0x00, bytes(3)) + raw_frame(0x80, bytes(2)), max_message_size=10) == 1009


@pytest.mark.parametrize(
    "payload",
    [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82", b"\x80"],
)
def test_invalid_utf8_text(payload: bytes) -> None:
    assert rejects(raw_frame(0x81, payload)) == 1007
    assert rejects(raw_frame(0x01, payload) + raw_frame(0x80, b"")) == 1007
    assert rejects(raw_frame(0x01, b"ok") + raw_frame(0x80, payload)) == 1007
    assert rejects(build_text_frame(payload), client_side=True) == 1007


def test_invalid_utf8_fails_fast_in_a_fragment() -> None:
    reader = FrameReader()
    with pytest.raises(WebSocketProtocolError) as info:
        reader.feed(raw_frame(0x01, b"ok\xff"))  # the message is not complete yet
    assert info.value.close_code == 1007


def test_binary_messages_are_not_utf8_checked() -> None:
    assert FrameReader().feed(raw_frame(0x82, b"\xff") + raw_frame(0x89, b"\xff")) == [
        (2, b"\xff"),
        (9, b"\xff"),
    ]


def test_reader_is_poisoned_after_an_error() -> None:
    reader = FrameReader()
    with pytest.raises(WebSocketProtocolError) as first:
        reader.feed(raw_frame(0x81, b"ok") + raw_frame(0xC1, b"x") + raw_frame(0x81, b"ok"))
    for data in (b"", raw_frame(0x81, b"fine")):
        with pytest.raises(WebSocketProtocolError) as again:
            reader.feed(data)
        assert (again.value.close_code, again.value.reason) == (first.value.close_code, first.value.reason)
    assert reader.pending_bytes == 0


def test_hostile_64_bit_length_fails_before_allocating() -> None:
    header = bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + MASK
    tracemalloc.start()
    try:
        reader = FrameReader()
        with pytest.raises(WebSocketProtocolError) as info:
            reader.feed(header + b"some payload bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.close_code == 1009
    assert peak < 64 * 1024


def test_huge_declared_length_under_a_huge_limit_only_buffers_what_arrived() -> None:
    header = bytes([0x82, 0xFF]) + (1 << 62).to_bytes(8, "big") + MASK
    tracemalloc.start()
    try:
        reader = FrameReader(max_message_size=1 << 63)
        assert reader.feed(header) == []
        assert reader.feed(b"abc") == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.pending_bytes == len(header) + 3
    assert peak < 64 * 1024


def test_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        FrameReader(max_message_size=-1)


# ----------------------------------------------------------------------------------------------------------
# Property tests: round trips, arbitrary split points, fragmentation


masks = st.binary(min_size=4, max_size=4)
data_messages = st.one_of(
    st.tuples(st.just(1), st.text(max_size=200)),
    st.tuples(st.just(2), st.binary(max_size=200)),
)


@st.composite
def message_streams(draw: st.DrawFn, masked: bool) -> tuple[bytes, list[Message]]:
    """A byte stream of fragmented data messages with control frames injected, and its expected messages."""
    frames: list[bytes] = []
    expected: list[Message] = []

    def add(opcode: int, payload: bytes, fin: bool) -> None:
        mask = draw(masks) if masked else None
        if draw(st.integers(0, 4)) == 0:  # sometimes a non-minimal length encoding
            first = opcode | (0x80 if fin else 0)
            frames.append(raw_frame(first, payload, mask=mask, length_bytes=draw(st.sampled_from([2, 8]))))
        else:
            frames.append(build_frame(opcode, payload, fin=fin, mask=mask))

    for opcode, value in draw(st.lists(data_messages, max_size=6)):
        payload = value.encode() if isinstance(value, str) else value
        cuts = draw(st.lists(st.integers(0, len(payload)), max_size=4))
        points = [0, *sorted(cuts), len(payload)]
        pieces = [payload[a:b] for a, b in pairwise(points)]
        for index, piece in enumerate(pieces):
            add(opcode if index == 0 else 0, piece, index == len(pieces) - 1)
            if index < len(pieces) - 1 and draw(st.booleans()):
                control = draw(st.sampled_from([8, 9, 10]))
                control_payload = draw(st.binary(max_size=125))
                add(control, control_payload, True)
                expected.append((control, control_payload))
        expected.append((opcode, value))
    return b"".join(frames), expected


@SETTINGS
@given(st.sampled_from([1, 2, 8, 9, 10]), st.binary(max_size=125) | st.binary(max_size=70_000), masks)
def test_round_trip_single_frame(opcode: int, payload: bytes, mask: bytes) -> None:
    if opcode >= 8:
        payload = payload[:125]
    if opcode == 1:
        payload = payload.decode("latin-1").encode()
    expected: bytes | str = payload.decode() if opcode == 1 else payload
    assert FrameReader().feed(build_frame(opcode, payload, mask=mask)) == [(opcode, expected)]
    assert FrameReader(client_side=True).feed(build_frame(opcode, payload)) == [(opcode, expected)]


@SETTINGS
@given(st.booleans(), st.data())
def test_round_trip_any_split(client_side: bool, data: st.DataObject) -> None:
    stream, expected = data.draw(message_streams(masked=not client_side))
    reader = FrameReader(client_side=client_side)
    assert reader.feed(stream) == expected
    assert reader.pending_bytes == 0

    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=20))
    reader = FrameReader(client_side=client_side)
    assert feed_all(reader, *split(stream, cuts)) == expected
    assert reader.pending_bytes == 0

    reader = FrameReader(client_side=client_side)
    assert feed_all(reader, *(stream[i : i + 1] for i in range(len(stream)))) == expected


@SETTINGS
@given(st.data())
def test_reference_serialized_frames_parse_identically(data: st.DataObject) -> None:
    """Frames written by websockets' serializer (masked, random keys) are read by ours into the same messages."""
    frames: list[bytes] = []
    expected: list[Message] = []
    for opcode, value in data.draw(st.lists(data_messages, max_size=5)):
        payload = value.encode() if isinstance(value, str) else value
        cut = data.draw(st.integers(0, len(payload)))
        fragmented = data.draw(st.booleans())
        if fragmented:
            frames.append(Frame(WsOpcode(opcode), payload[:cut], fin=False).serialize(mask=True))
            frames.append(Frame(WsOpcode.PING, b"hi").serialize(mask=True))
            frames.append(Frame(WsOpcode.CONT, payload[cut:]).serialize(mask=True))
            expected.append((9, b"hi"))
        else:
            frames.append(Frame(WsOpcode(opcode), payload).serialize(mask=True))
        expected.append((opcode, value))
    stream = b"".join(frames)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    assert feed_all(FrameReader(), *split(stream, cuts)) == expected


# ----------------------------------------------------------------------------------------------------------
# Differential fuzzing against websockets' frame parser


Outcome = tuple[list[Message], str, int]


def reference_parse(stream: bytes, *, client_side: bool, max_size: int) -> Outcome:
    """Messages per websockets' Frame.parse plus RFC 6455 message rules; ("ok" | "incomplete" | "error", frame)."""
    reader = StreamReader()
    reader.feed_data(stream)
    reader.feed_eof()
    messages: list[Message] = []
    current: int | None = None  # opcode of the fragmented message in progress
    parts: list[bytes] = []
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    index = 0
    while True:
        if not reader.buffer:
            return messages, "ok", index
        # Control frames don't count towards the message in progress (websockets counts them; the RFC doesn't).
        limit = max_size if current is None or reader.buffer[0] & 0x08 else max_size - size
        parser = Frame.parse(reader.read_exact, mask=not client_side, max_size=limit)
        try:
            next(parser)
        except StopIteration as stop:
            frame: Frame = stop.value
        except EOFError:
            return messages, "incomplete", index
        except (ProtocolError, PayloadTooBig):
            return messages, "error", index
        else:  # pragma: no cover - all data and EOF were fed
            raise AssertionError("parser waits for data after EOF")
        payload = bytes(frame.data)
        try:
            if frame.opcode in (WsOpcode.TEXT, WsOpcode.BINARY):
                if current is not None:
                    return messages, "error", index
                if frame.fin:
                    messages.append(
                        (frame.opcode, payload.decode() if frame.opcode == WsOpcode.TEXT else payload)
                    )
                else:
                    current, parts, size = frame.opcode, [payload], len(payload)
                    decoder.reset()
                    if current == WsOpcode.TEXT:
                        decoder.decode(payload)
            elif frame.opcode == WsOpcode.CONT:
                if current is None:
                    return messages, "error", index
                parts.append(payload)
                size += len(payload)
                if current == WsOpcode.TEXT:
                    decoder.decode(payload, frame.fin)
                if frame.fin:
                    message = b"".join(parts)
                    messages.append((current, message.decode() if current == WsOpcode.TEXT else message))
                    current = None
            else:
                messages.append((frame.opcode, payload))
        except UnicodeDecodeError:
            return messages, "utf8", index
        index += 1


def ours_parse(stream: bytes, *, client_side: bool, max_size: int) -> tuple[list[Message], int | None, int]:
    """Feed byte by byte: messages before the error, the error's close code or None, and pending bytes."""
    reader = FrameReader(client_side=client_side, max_message_size=max_size)
    messages: list[Message] = []
    for i in range(len(stream)):
        try:
            messages.extend(reader.feed(stream[i : i + 1]))
        except WebSocketProtocolError as exc:
            return messages, exc.close_code, reader.pending_bytes
    return messages, None, reader.pending_bytes


def check_against_reference(stream: bytes, *, client_side: bool, max_size: int) -> None:
    ours, code, pending = ours_parse(stream, client_side=client_side, max_size=max_size)
    reference, outcome, index = reference_parse(stream, client_side=client_side, max_size=max_size)
    assert ours == reference
    event(f"reference: {outcome}, ours: {code}")
    if outcome == "ok":
        assert code is None and pending == 0
    elif outcome == "utf8":
        assert code == 1007
    elif outcome == "error":
        assert code in (1002, 1009)
    elif code is None:  # incomplete for both
        assert pending > 0
    else:
        # We reject an incomplete frame from its header; websockets would reject it once complete.
        # Complete it with zero bytes and check that websockets then fails on that very frame.
        padded = stream + bytes(14 + max_size)
        _, padded_outcome, padded_index = reference_parse(padded, client_side=client_side, max_size=max_size)
        assert padded_outcome in ("error", "utf8") and padded_index == index

    # Feeding everything at once agrees with feeding byte by byte.
    reader = FrameReader(client_side=client_side, max_message_size=max_size)
    if code is None:
        assert reader.feed(stream) == ours
    else:
        with pytest.raises(WebSocketProtocolError):
            reader.feed(stream)


FIRST_BYTES = [0x81, 0x81, 0x81, 0x82, 0x82, 0x88, 0x89, 0x8A, 0x80, 0x80, 0x01, 0x02, 0x00, 0x00]


@st.composite
def frame_soup(draw: st.DrawFn, client_side: bool) -> bytes:
    """Mostly well-formed frames with header-level faults mixed in, possibly truncated."""
    out: list[bytes] = []
    for _ in range(draw(st.integers(0, 6))):
        first = draw(st.integers(0, 255) if draw(st.integers(0, 7)) == 0 else st.sampled_from(FIRST_BYTES))
        masked = draw(st.booleans()) if draw(st.integers(0, 9)) == 0 else not client_side
        mask = draw(masks) if masked else None
        kind = draw(st.integers(0, 5))
        if kind == 0:
            payload = draw(st.binary(max_size=300))
        elif kind == 1:  # around the control-frame limit and the max_size=150 limit
            payload = bytes(draw(st.sampled_from([124, 125, 126, 127, 149, 150, 151])))
        else:
            payload = draw(st.text(max_size=100)).encode()
        if first & 0x08 and kind != 1 and draw(st.integers(0, 3)):
            payload = payload[:125]
        length_bytes = draw(st.sampled_from([None, None, None, 2, 8]))  # None: the shortest encoding
        if draw(st.integers(0, 19)) == 0:  # hostile declared length, no payload
            size = draw(st.sampled_from([1 << 62, (1 << 63) + 5, (1 << 64) - 1, 301, 65536]))
            out.append(raw_frame(first, b"", mask=mask, length_bytes=8, length=size))
            continue
        out.append(raw_frame(first, payload, mask=mask, length_bytes=length_bytes))
    stream = b"".join(out)
    if draw(st.booleans()):
        stream = stream[: draw(st.integers(0, len(stream)))]
    return stream


@settings(SETTINGS, max_examples=600)
@given(st.booleans(), st.data())
def test_differential_frame_soup(client_side: bool, data: st.DataObject) -> None:
    stream = data.draw(frame_soup(client_side))
    max_size = data.draw(st.sampled_from([150, 1000]))
    check_against_reference(stream, client_side=client_side, max_size=max_size)


@settings(SETTINGS, max_examples=400)
@given(st.booleans(), st.binary(max_size=80))
def test_differential_random_bytes(client_side: bool, stream: bytes) -> None:
    check_against_reference(stream, client_side=client_side, max_size=1000)


def fragment_frames(opcode: int, pieces: list[bytes], *, client_side: bool) -> bytes:
    last = len(pieces) - 1
    return b"".join(
        raw_frame(
            (opcode if i == 0 else 0) | (0x80 if i == last else 0), piece, mask=None if client_side else MASK
        )
        for i, piece in enumerate(pieces)
    )


@SETTINGS
@given(st.booleans(), st.lists(st.integers(0, 40), min_size=1, max_size=5), st.integers(-2, 1), st.data())
def test_differential_size_limit_boundaries(
    client_side: bool, sizes: list[int], delta: int, data: st.DataObject
) -> None:
    opcode = data.draw(st.sampled_from([1, 2]))
    stream = fragment_frames(opcode, [b"a" * size for size in sizes], client_side=client_side)
    stream += data.draw(st.sampled_from([b"", raw_frame(0x82, b"b" * max(sum(sizes) + delta, 0), mask=None)]))
    max_size = max(sum(sizes) + delta, 0)
    check_against_reference(stream, client_side=client_side, max_size=max_size)


@SETTINGS
@given(
    st.booleans(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(str.encode),
    st.sampled_from(["keep", "drop-last", "add-byte"]),
    st.data(),
)
def test_differential_fragmented_utf8(
    client_side: bool, text: bytes, damage: str, data: st.DataObject
) -> None:
    """Text split at arbitrary byte offsets, possibly damaged: valid iff the whole message is UTF-8."""
    if damage == "drop-last":
        text = text[:-1]
    elif damage == "add-byte":
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + bytes([data.draw(st.integers(0x80, 0xFF))]) + text[at:]
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=4))
    points = [0, *sorted(cuts), len(text)]
    stream = fragment_frames(1, [text[a:b] for a, b in pairwise(points)], client_side=client_side)
    check_against_reference(stream, client_side=client_side, max_size=1000)
    try:
        expected = text.decode()
    except UnicodeDecodeError:
        assert rejects(stream, client_side=client_side) == 1007
    else:
        assert FrameReader(client_side=client_side).feed(stream) == [(1, expected)]


# ----------------------------------------------------------------------------------------------------------
# Opening handshake


def test_accept_key_rfc_example() -> None:
    # RFC 6455 section 1.3 (the value websockets computes too).
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@SETTINGS
@given(st.binary(min_size=16, max_size=16))
def test_accept_key_matches_reference(raw: bytes) -> None:
    key = base64.b64encode(raw).decode()
    assert validate_client_key(key) == key
    assert accept_key(key) == ws_accept_key(key)


def test_client_keys() -> None:
    keys = {generate_client_key() for _ in range(10)}
    assert len(keys) == 10
    for key in keys:
        assert validate_client_key(key) == key
    assert validate_client_key(" dGhlIHNhbXBsZSBub25jZQ== ") == "dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "not base64!",
        base64.b64encode(bytes(15)).decode(),
        base64.b64encode(bytes(17)).decode(),
        "dGhlIHNhbXBsZSBub25jZQ",  # missing padding
        "dGhlIHNhbXBsZSBub25jZQ==é",
    ],
)
def test_invalid_client_keys(key: str | None) -> None:
    with pytest.raises(WebSocketProtocolError) as info:
        validate_client_key(key)
    assert info.value.close_code == 1002


def test_handshake_response_format() -> None:
    response = build_handshake_response("dGhlIHNhbXBsZSBub25jZQ==", [("Sec-WebSocket-Protocol", "chat")])
    assert response == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
        b"Sec-WebSocket-Protocol: chat\r\n"
        b"\r\n"
    )


def test_reference_client_accepts_our_handshake_response() -> None:
    client = ClientProtocol(parse_uri("ws://example.com/socket.io/?EIO=4&transport=websocket"))
    client.send_request(client.connect())
    client.receive_data(build_handshake_response(client.key, [("X-Extra", "1")]))
    [response] = client.events_received()
    assert isinstance(response, Response)
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert response.headers["X-Extra"] == "1"


def test_reference_server_accepts_our_handshake_request() -> None:
    key = generate_client_key()
    request = build_handshake_request(
        "example.com:8080", "/socket.io/?EIO=4&transport=websocket", key, [("Origin", "http://example.com")]
    )
    assert request.startswith(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: example.com:8080\r\n"
    )
    assert request.endswith(b"Origin: http://example.com\r\n\r\n")
    server = ServerProtocol()
    server.receive_data(request)
    [parsed] = server.events_received()
    assert isinstance(parsed, Request)
    assert parsed.path == "/socket.io/?EIO=4&transport=websocket"
    assert parsed.headers["Host"] == "example.com:8080"
    response = server.accept(parsed)
    assert response.status_code == 101
    headers = {name.lower(): value for name, value in response.headers.raw_items()}
    check_handshake_response(response.status_code, headers, key)  # and we accept the reference answer


def test_handshake_request_defaults_and_validation() -> None:
    assert build_handshake_request("h", "", "k").startswith(b"GET / HTTP/1.1\r\n")
    for host, target, extra in [
        ("h", "/a b", ()),
        ("h\r\nX: y", "/", ()),
        ("h", "/", [("X", "a\r\nInjected: 1")]),
        ("h", "/", [("Bad:Name", "v")]),
        ("h", "/", [("", "v")]),
    ]:
        with pytest.raises(ValueError):
            build_handshake_request(host, target, "k", extra)
    with pytest.raises(ValueError):
        build_handshake_response("k", [("X", "a\nb")])


GOOD_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
GOOD_HEADERS = {
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
}


def test_check_handshake_response_accepts_valid_answers() -> None:
    check_handshake_response(101, GOOD_HEADERS, GOOD_KEY)
    check_handshake_response(
        101, {**GOOD_HEADERS, "upgrade": "WebSocket", "connection": "keep-alive, upgrade"}, GOOD_KEY
    )


@pytest.mark.parametrize(
    ("status", "changes"),
    [
        (200, {}),
        (400, {}),
        (101, {"upgrade": None}),
        (101, {"upgrade": "h2c"}),
        (101, {"connection": None}),
        (101, {"connection": "keep-alive"}),
        (101, {"sec-websocket-accept": None}),
        (101, {"sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xoO="}),
        (101, {"sec-websocket-extensions": "permessage-deflate"}),
        (101, {"sec-websocket-protocol": "chat"}),
    ],
)
def test_check_handshake_response_rejects(status: int, changes: dict[str, str | None]) -> None:
    headers = {**GOOD_HEADERS, **changes}
    clean = {name: value for name, value in headers.items() if value is not None}
    with pytest.raises(WebSocketProtocolError) as info:
        check_handshake_response(status, clean, GOOD_KEY)
    assert info.value.close_code == 1002


def test_check_handshake_response_subprotocols_and_extensions_offered() -> None:
    check_handshake_response(
        101, {**GOOD_HEADERS, "sec-websocket-protocol": "chat"}, GOOD_KEY, subprotocols=["chat"]
    )
    headers = {**GOOD_HEADERS, "sec-websocket-extensions": "permessage-deflate"}
    check_handshake_response(101, headers, GOOD_KEY, extensions_offered=True)


def test_check_handshake_response_errors_say_what_is_wrong() -> None:
    with pytest.raises(WebSocketProtocolError, match="wrong Sec-WebSocket-Accept"):
        check_handshake_response(101, {**GOOD_HEADERS, "sec-websocket-accept": "x"}, GOOD_KEY)
    with pytest.raises(WebSocketProtocolError, match="missing Sec-WebSocket-Accept"):
        check_handshake_response(101, {"upgrade": "websocket", "connection": "upgrade"}, GOOD_KEY)


def test_header_tokens() -> None:
    assert header_tokens(None) == frozenset()
    assert header_tokens(" Keep-Alive ,, UPGRADE ") == {"keep-alive", "upgrade"}


REQUEST_HEADERS = {
    "host": "example.com",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": GOOD_KEY,
    "sec-websocket-version": "13",
}


def test_check_handshake_request_returns_the_key() -> None:
    assert check_handshake_request("GET", "1.1", REQUEST_HEADERS) == GOOD_KEY
    headers = {**REQUEST_HEADERS, "upgrade": "foo, WebSocket", "connection": "keep-alive, upgrade"}
    assert check_handshake_request("GET", "2.0", headers) == GOOD_KEY


@pytest.mark.parametrize(
    ("method", "version", "changes", "status"),
    [
        ("POST", "1.1", {}, 400),
        ("GET", "1.0", {}, 400),
        ("GET", "x", {}, 400),
        ("GET", "1.1", {"host": None}, 400),
        ("GET", "1.1", {"upgrade": None}, 400),
        ("GET", "1.1", {"upgrade": "websocket2"}, 400),
        ("GET", "1.1", {"connection": "keep-alive"}, 400),
        ("GET", "1.1", {"sec-websocket-key": None}, 400),
        ("GET", "1.1", {"sec-websocket-key": "AAAA"}, 400),
        ("GET", "1.1", {"sec-websocket-version": None}, 426),
        ("GET", "1.1", {"sec-websocket-version": "8"}, 426),
    ],
)
def test_check_handshake_request_refusals(
    method: str, version: str, changes: dict[str, str | None], status: int
) -> None:
    headers = {k: v for k, v in {**REQUEST_HEADERS, **changes}.items() if v is not None}
    with pytest.raises(InvalidHandshake) as info:
        check_handshake_request(method, version, headers)
    assert info.value.status == status
    assert info.value.headers == ((("Sec-WebSocket-Version", "13"),) if status == 426 else ())
    assert str(info.value).endswith(f"(HTTP {status})")


@SETTINGS
@given(st.dictionaries(st.sampled_from(sorted(REQUEST_HEADERS)), st.text(max_size=30)))
def test_check_handshake_request_agrees_with_reference_server(changes: dict[str, str]) -> None:
    """Whatever we accept, websockets' server accepts too (its checks are a subset of ours)."""
    headers = {**REQUEST_HEADERS, **changes}
    try:
        key = check_handshake_request("GET", "1.1", headers)
    except InvalidHandshake:
        return
    request = build_handshake_request("example.com", "/", key)
    server = ServerProtocol()
    server.receive_data(request)
    [parsed] = server.events_received()
    assert server.accept(parsed).status_code == 101
