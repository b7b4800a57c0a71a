"""Tests for socketeer.protocol.permessage_deflate, with websockets' implementation as the oracle:
messages compressed by either side inflate on the other (context takeover included, every parameter
combination), and each side accepts the other's negotiation."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import NegotiationError
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate as WsPerMessageDeflate,
)
from websockets.frames import Frame
from websockets.frames import Opcode as WsOpcode
from websockets.headers import build_extension, parse_extension

from socketeer.protocol.permessage_deflate import (
    DeflateCodec,
    DeflateParams,
    PerMessageDeflate,
    accept_offer,
    accept_response,
    client_offer,
    parse_extensions,
)
from socketeer.protocol.websocket_frames import FrameReader, WebSocketProtocolError, build_frame
from socketeer.protocol.wire import WireMessage

SETTINGS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])

texts = st.one_of(
    st.text(max_size=300),
    st.builds(lambda word, n: word * n, st.text(min_size=1, max_size=8), st.integers(1, 400)),
)
params_strategy = st.builds(
    DeflateParams,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.one_of(st.none(), st.integers(9, 15)),
    client_max_window_bits=st.one_of(st.none(), st.integers(9, 15)),
)


def reference(params: DeflateParams, *, server_side: bool) -> WsPerMessageDeflate:
    """websockets' codec for the end opposite to ours (``server_side`` is that end's role)."""
    server_bits = params.server_max_window_bits or 15
    client_bits = params.client_max_window_bits or 15
    if server_side:
        return WsPerMessageDeflate(
            params.client_no_context_takeover, params.server_no_context_takeover, client_bits, server_bits
        )
    return WsPerMessageDeflate(
        params.server_no_context_takeover, params.client_no_context_takeover, server_bits, client_bits
    )


@SETTINGS
@given(params_strategy, st.lists(texts, min_size=1, max_size=8), st.booleans())
def test_our_messages_inflate_in_websockets(
    params: DeflateParams, messages: list[str], server_side: bool
) -> None:
    ours = DeflateCodec(params, server_side=server_side, threshold=0)
    theirs = reference(params, server_side=not server_side)
    for text in messages:
        payload = ours.compress(text.encode())
        decoded = theirs.decode(Frame(WsOpcode.TEXT, payload, rsv1=True))
        assert decoded.data.decode() == text


@SETTINGS
@given(params_strategy, st.lists(texts, min_size=1, max_size=8), st.booleans())
def test_websockets_messages_inflate_in_ours(
    params: DeflateParams, messages: list[str], server_side: bool
) -> None:
    ours = DeflateCodec(params, server_side=server_side)
    theirs = reference(params, server_side=not server_side)
    for text in messages:
        frame = theirs.encode(Frame(WsOpcode.TEXT, text.encode()))
        assert frame.rsv1
        assert ours.decompress(bytes(frame.data)).decode() == text


@SETTINGS
@given(params_strategy, st.lists(st.binary(max_size=3000), min_size=1, max_size=5), st.integers(1, 200))
def test_reader_reassembles_compressed_fragments(
    params: DeflateParams, messages: list[bytes], fragment: int
) -> None:
    """Client frames compressed by websockets, fragmented and masked, read by our server-side reader."""
    theirs = reference(params, server_side=False)
    ours = DeflateCodec(params, server_side=True, max_message_size=10_000)
    reader = FrameReader(max_message_size=10_000, inflate=ours.decompress)
    wire = b""
    for data in messages:
        compressed = bytes(theirs.encode(Frame(WsOpcode.BINARY, data)).data)
        pieces = [compressed[i : i + fragment] for i in range(0, len(compressed), fragment)] or [b""]
        for index, piece in enumerate(pieces):
            opcode = 2 if index == 0 else 0
            wire += build_frame(opcode, piece, fin=index == len(pieces) - 1, mask=b"abcd", rsv1=index == 0)
        wire += build_frame(9, b"ping", mask=b"wxyz")  # control frames may come between messages
    out = reader.feed(wire)
    assert [payload for opcode, payload in out if opcode == 2] == messages
    assert len(out) == 2 * len(messages)


def test_reader_without_extension_refuses_rsv1() -> None:
    frame = build_frame(1, b"x", mask=b"abcd", rsv1=True)
    with pytest.raises(WebSocketProtocolError, match="reserved bits"):
        FrameReader().feed(frame)


def test_reader_refuses_rsv1_on_continuation_and_control_frames() -> None:
    codec = DeflateCodec(DeflateParams(), server_side=True)
    continuation = build_frame(1, b"a", fin=False, mask=b"abcd") + bytes([0xC0, 0x81]) + b"abcd" + b"\x00"
    with pytest.raises(WebSocketProtocolError, match="reserved bits"):
        FrameReader(inflate=codec.decompress).feed(continuation)
    ping = bytes([0xC9, 0x80]) + b"abcd"
    with pytest.raises(WebSocketProtocolError, match="reserved bits"):
        FrameReader(inflate=codec.decompress).feed(ping)


def test_decompression_limits_and_errors() -> None:
    sender = DeflateCodec(DeflateParams(), server_side=False)
    bomb = sender.compress(b"\x00" * 2_000_000)
    assert len(bomb) < 5_000
    receiver = DeflateCodec(DeflateParams(), server_side=True, max_message_size=1_000_000)
    with pytest.raises(WebSocketProtocolError) as info:
        receiver.decompress(bomb)
    assert info.value.close_code == 1009
    with pytest.raises(WebSocketProtocolError) as info:
        DeflateCodec(DeflateParams(), server_side=True).decompress(b"\xff\xff\xff garbage")
    assert info.value.close_code == 1007
    bad_utf8 = build_frame(1, sender.compress(b"\xff\xfe"), mask=b"abcd", rsv1=True)
    with pytest.raises(WebSocketProtocolError) as info:
        FrameReader(inflate=DeflateCodec(DeflateParams(), server_side=True).decompress).feed(bad_utf8)
    assert info.value.close_code == 1007


def test_context_takeover_compresses_repeats_better() -> None:
    text = b'42["update",{"price":1234.5,"symbol":"ACME","volume":1000000}]' * 20
    taking = DeflateCodec(DeflateParams(), server_side=True)
    fresh = DeflateCodec(DeflateParams(server_no_context_takeover=True), server_side=True)
    first = taking.compress(text)
    assert len(taking.compress(text)) < len(first) // 4  # the second refers to the first
    assert len(fresh.compress(text)) == len(fresh.compress(text)) == len(first)


def test_message_frames_threshold_compress_flag_and_sharing() -> None:
    codec = DeflateCodec(DeflateParams(), server_side=True, threshold=100)
    small = WireMessage(b"4" + b"x" * 50)
    assert codec.message_frames(small) is small.ws_frames()  # under the threshold: the shared frames
    big = WireMessage(b"4" + b"y" * 500, (b"\x00" * 50, b"\x01" * 500))
    frames = codec.message_frames(big)
    reader = FrameReader(
        client_side=True, inflate=reference(DeflateParams(), server_side=False).decode_payload
    )
    assert reader.feed(frames) == [(1, "4" + "y" * 500), (2, b"\x00" * 50), (2, b"\x01" * 500)]
    assert frames[0] == 0xC1 and len(frames) < 150
    off = WireMessage(b"4" + b"y" * 500, compress=False)
    assert codec.message_frames(off) is off.ws_frames()
    # without context takeover, one compression serves every connection with the same settings
    params = DeflateParams(server_no_context_takeover=True)
    one, two = (DeflateCodec(params, server_side=True, threshold=100) for _ in range(2))
    shared = WireMessage(b"4" + b"z" * 500)
    assert one.message_frames(shared) is two.message_frames(shared)
    assert codec.message_frames(shared) is not one.message_frames(shared)  # with takeover: its own


def _ws_reference_decode_payload(self: WsPerMessageDeflate, payload: bytes) -> bytes:
    return bytes(self.decode(Frame(WsOpcode.BINARY, payload, rsv1=True)).data)


WsPerMessageDeflate.decode_payload = _ws_reference_decode_payload  # type: ignore[attr-defined]


# -- negotiation --------------------------------------------------------------------------------------

options_strategy = st.builds(
    PerMessageDeflate,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=st.one_of(st.none(), st.integers(9, 15)),
    client_max_window_bits=st.one_of(st.none(), st.integers(9, 15)),
)


@SETTINGS
@given(options_strategy, options_strategy)
def test_our_offer_negotiated_by_websockets_server(
    ours: PerMessageDeflate, server: PerMessageDeflate
) -> None:
    [(name, params)] = parse_extension(client_offer(ours))
    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=server.server_no_context_takeover,
        client_no_context_takeover=server.client_no_context_takeover,
        server_max_window_bits=server.server_max_window_bits,
        client_max_window_bits=server.client_max_window_bits,
    )
    try:
        response, extension = factory.process_request_params(params, [])
    except NegotiationError:
        return
    agreed = accept_response(build_extension([(name, response)]), ours)
    # and the agreement works: our client's messages inflate on websockets' server, and back
    client = DeflateCodec(agreed, server_side=False)
    for text in (b"hello " * 50, b"hello " * 50 + b"again"):
        assert extension.decode(Frame(WsOpcode.TEXT, client.compress(text), rsv1=True)).data == text
        assert client.decompress(bytes(extension.encode(Frame(WsOpcode.TEXT, text)).data)) == text


@SETTINGS
@given(
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(8, 15)),
    st.one_of(st.none(), st.just(True), st.integers(9, 15)),
    options_strategy,
)
def test_websockets_offer_negotiated_by_us(
    server_nct: bool,
    client_nct: bool,
    server_bits: int | None,
    client_bits: int | bool | None,
    ours: PerMessageDeflate,
) -> None:
    factory = ClientPerMessageDeflateFactory(server_nct, client_nct, server_bits, client_bits)  # type: ignore[arg-type]
    offer = build_extension([("permessage-deflate", factory.get_request_params())])
    agreed = accept_offer(offer, ours)
    if agreed is None:
        # declined only when it would need an 8-bit window on our side, or when we bound the client's
        # window and the offer cannot take that
        assert server_bits == 8 or (ours.client_max_window_bits is not None and client_bits is None)
        return
    [(_, response)] = parse_extension(agreed.header())
    extension = factory.process_response_params(response, [])
    server = DeflateCodec(agreed, server_side=True)
    for text in (b"abc" * 400, b"abc" * 401):
        assert extension.decode(Frame(WsOpcode.TEXT, server.compress(text), rsv1=True)).data == text
        assert server.decompress(bytes(extension.encode(Frame(WsOpcode.TEXT, text)).data)) == text


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits",  # needs a value
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=8",  # zlib cannot deflate with 8 bits
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        'permessage-deflate; server_max_window_bits="1',
        "permessage-deflate;; x",
    ],
)
def test_offers_declined(header: str | None) -> None:
    assert accept_offer(header, PerMessageDeflate()) is None


def test_first_acceptable_offer_wins_and_server_options_apply() -> None:
    header = (
        "permessage-deflate; server_max_window_bits=8, "
        'permessage-deflate; server_max_window_bits="10"; client_max_window_bits, permessage-deflate'
    )
    assert accept_offer(header, PerMessageDeflate()) == DeflateParams(server_max_window_bits=10)
    options = PerMessageDeflate(client_no_context_takeover=True, client_max_window_bits=12)
    agreed = accept_offer(header, options)
    assert agreed == DeflateParams(
        client_no_context_takeover=True, server_max_window_bits=10, client_max_window_bits=12
    )
    assert agreed.header() == (
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12"
    )
    # a server bounding the client's window skips offers that cannot take it (the last one here)
    assert accept_offer("permessage-deflate", options) is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("permessage-deflate, permessage-deflate", "not offered"),
        ("x-other", "not offered"),
        ("permessage-deflate; client_max_window_bits", "needs a value"),
        ("permessage-deflate; client_max_window_bits=9; client_max_window_bits=9", "duplicate"),
        ("permessage-deflate; client_max_window_bits=8", "8-bit window"),
        ("permessage-deflate; bogus", "unknown parameter"),
        ("permessage-deflate; server_max_window_bits=x", "invalid max_window_bits"),
    ],
)
def test_bad_answers_fail_the_client_handshake(header: str, message: str) -> None:
    with pytest.raises(WebSocketProtocolError, match=message) as info:
        accept_response(header, PerMessageDeflate())
    assert info.value.close_code == 1002


def test_answers_must_honour_what_the_client_asked() -> None:
    with pytest.raises(WebSocketProtocolError, match="server_no_context_takeover"):
        accept_response("permessage-deflate", PerMessageDeflate(server_no_context_takeover=True))
    with pytest.raises(WebSocketProtocolError, match="bound its window"):
        accept_response(
            "permessage-deflate; server_max_window_bits=12", PerMessageDeflate(server_max_window_bits=10)
        )
    with pytest.raises(WebSocketProtocolError, match="exceeds our offer"):
        accept_response(
            "permessage-deflate; client_max_window_bits=12", PerMessageDeflate(client_max_window_bits=10)
        )
    assert accept_response(
        "permessage-deflate", PerMessageDeflate(client_max_window_bits=10)
    ) == DeflateParams(client_max_window_bits=10)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["permessage-deflate", "x-foo", "Ext"]),
            st.lists(
                st.tuples(
                    st.sampled_from(["a", "client_max_window_bits", "Q"]),
                    st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9]{1,4}", fullmatch=True)),
                ),
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_parse_extensions_agrees_with_websockets(
    extensions: list[tuple[str, list[tuple[str, str | None]]]],
) -> None:
    header = build_extension(extensions)
    expected = [
        (name.lower(), [(p.lower(), v) for p, v in params]) for name, params in parse_extension(header)
    ]
    assert parse_extensions(header) == expected


def test_parse_extensions_quoting_and_errors() -> None:
    assert parse_extensions(' a ; b = "c\\"d" ,, E;F') == [("a", [("b", 'c"d')]), ("e", [("f", None)])]
    for bad in ("a;", "a b", 'a; b="c', "a; =1", "@"):
        with pytest.raises(ValueError):
            parse_extensions(bad)


def test_options_are_validated() -> None:
    for kwargs in ({"threshold": -1}, {"level": 10}, {"mem_level": 0}, {"server_max_window_bits": 8}):
        with pytest.raises(ValueError):
            PerMessageDeflate(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DeflateCodec(DeflateParams(server_max_window_bits=8), server_side=True)
    assert client_offer(PerMessageDeflate()) == "permessage-deflate; client_max_window_bits"
    assert zlib.Z_DEFAULT_COMPRESSION == PerMessageDeflate().level
