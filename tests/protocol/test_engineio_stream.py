"""Tests for socketeer.protocol.engineio_stream: the WebTransport stream framing.

Round trips and fuzzing with hypothesis, and engine.io-parser's encoder and decoder streams (run in
Node) as the oracle in both directions.
"""

from __future__ import annotations

import base64
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketeer.exceptions import RemoteProtocolError
from socketeer.protocol.engineio_packets import EnginePacket, EnginePacketType, decode_packet, encode_packet
from socketeer.protocol.engineio_stream import StreamDecoder, StreamFrame, encode_stream_frame

HERE = Path(__file__).resolve().parent
TYPE_NAMES = {t: t.name.lower() for t in EnginePacketType}

frames = st.builds(
    StreamFrame,
    st.booleans(),
    st.one_of(
        st.binary(min_size=1, max_size=300),
        # around the 16-bit length boundary, repeated from a short seed (cheap to generate)
        st.tuples(st.binary(min_size=1, max_size=16), st.integers(65530, 65600)).map(
            lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
        ),
    ),
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for p in points:
        pieces.append(data[start:p])
        start = p
    pieces.append(data[start:])
    return pieces


@given(st.lists(frames, max_size=6), st.lists(st.integers(min_value=0), max_size=12))
def test_round_trip_in_any_chunking(sent: list[StreamFrame], cuts: list[int]) -> None:
    wire = b"".join(encode_stream_frame(f.data, f.binary) for f in sent)
    decoder = StreamDecoder(max_payload=100_000)
    got: list[StreamFrame] = []
    for piece in split(wire, cuts):
        got.extend(decoder.feed(piece))
    assert got == sent
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (1, b"\x01"),
        (125, b"\x7d"),
        (126, b"\x7e\x00\x7e"),
        (65535, b"\x7e\xff\xff"),
        (65536, b"\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    ],
)
def test_header_sizes(length: int, header: bytes) -> None:
    assert encode_stream_frame(b"x" * length)[: len(header)] == header
    assert encode_stream_frame(b"x" * length, binary=True)[0] == header[0] | 0x80


def test_empty_and_oversized_frames_are_refused_from_the_header() -> None:
    with pytest.raises(RemoteProtocolError, match="empty"):
        StreamDecoder(10).feed(b"\x00")
    decoder = StreamDecoder(10)
    with pytest.raises(RemoteProtocolError, match="over the limit"):
        decoder.feed(b"\x0b")  # eleven bytes announced: refused before they arrive
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\x01a")  # spent after an error
    with pytest.raises(RemoteProtocolError, match="over the limit"):
        StreamDecoder(2**62).feed(b"\x7f\xff\xff\xff\xff\xff\xff\xff\xff")
    with pytest.raises(ValueError):
        StreamDecoder(0)


def test_a_frame_at_the_limit_passes() -> None:
    assert StreamDecoder(3).feed(b"\x83abc") == [StreamFrame(True, b"abc")]


@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=8))
def test_fuzz_never_fails_otherwise_and_keeps_memory_bounded(noise: bytes, cuts: list[int]) -> None:
    decoder = StreamDecoder(max_payload=64)
    try:
        for piece in split(noise, cuts):
            for frame in decoder.feed(piece):
                assert 1 <= len(frame.data) <= 64
            assert decoder.buffered <= 64 + 9
    except RemoteProtocolError:
        pass


# -- differential: engine.io-parser in Node ----------------------------------------------------


def run_node(node_modules: Path, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["node", str(HERE / "stream_peer.js")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        timeout=30,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
        check=True,
    )
    answers: list[dict[str, Any]] = json.loads(proc.stdout)
    return answers


def random_packets(rng: random.Random) -> list[EnginePacket]:
    packets = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(["text", "binary", "control"])
        size = rng.choice([1, 5, 124, 125, 126, 127, 300, 65535, 65536, 70000])
        if kind == "binary":
            packets.append(EnginePacket(EnginePacketType.MESSAGE, rng.randbytes(size)))
        elif kind == "text":
            text = "".join(rng.choice("aé€😀\x1e\n{}") for _ in range(max(1, size // 4)))
            packets.append(EnginePacket(EnginePacketType.MESSAGE, text))
        else:
            packets.append(EnginePacket(rng.choice([EnginePacketType.PING, EnginePacketType.PONG]), "probe"))
    return packets


def to_json(packet: EnginePacket) -> dict[str, Any]:
    data: Any = packet.data
    if isinstance(data, bytes):
        data = {"$bin": base64.b64encode(data).decode()}
    return {"type": TYPE_NAMES[packet.type], "data": data}


def python_encode(packets: list[EnginePacket]) -> bytes:
    out = b""
    for packet in packets:
        encoded = encode_packet(packet)
        if isinstance(encoded, bytes):
            out += encode_stream_frame(encoded, binary=True)
        else:
            out += encode_stream_frame(encoded.encode(), binary=False)
    return out


def python_decode(frames: list[StreamFrame]) -> list[dict[str, Any]]:
    return [to_json(decode_packet(f.data if f.binary else f.data.decode())) for f in frames]


def test_official_encoder_and_decoder_agree_with_ours(node_modules: Path) -> None:
    rng = random.Random(14)
    batches = [random_packets(rng) for _ in range(40)]
    requests: list[dict[str, Any]] = [{"op": "encode", "packets": [to_json(p) for p in b]} for b in batches]
    ours = [python_encode(b) for b in batches]
    cuttings = [
        split(wire, [rng.randrange(len(wire) + 1) for _ in range(rng.randint(0, 6))]) for wire in ours
    ]
    requests += [
        # no empty chunks: a stream never delivers one (and the official decoder misreads them)
        {"op": "decode", "chunks": [base64.b64encode(c).decode() for c in chunks if c], "max": 100_000}
        for chunks in cuttings
    ]
    answers = run_node(node_modules, requests)
    for batch, wire, answer in zip(batches, ours, answers[: len(batches)], strict=True):
        # the official encoder writes what we write; we decode what it writes
        official = base64.b64decode(answer["b64"])
        assert official == wire
        assert python_decode(StreamDecoder(100_000).feed(official)) == [to_json(p) for p in batch]
    for batch, answer in zip(batches, answers[len(batches) :], strict=True):
        assert answer["packets"] == [to_json(p) for p in batch]  # it decodes what we write


def test_official_decoder_refuses_what_ours_refuses(node_modules: Path) -> None:
    cases = [(b"\x00", 10), (b"\x0bhello world", 10), (b"\x7e\x01\x00" + b"x" * 256, 255)]
    answers = run_node(
        node_modules,
        [{"op": "decode", "chunks": [base64.b64encode(w).decode()], "max": m} for w, m in cases],
    )
    for (wire, limit), answer in zip(cases, answers, strict=True):
        assert answer["packets"][-1]["type"] == "error"
        with pytest.raises(RemoteProtocolError):
            StreamDecoder(limit).feed(wire)
