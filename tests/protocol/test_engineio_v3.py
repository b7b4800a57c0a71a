"""Engine.IO v3 framing: known vectors, round trips, refusals, and the official v3 parser (the one inside
the npm ``engine.io`` server) as a differential peer."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socketeer.exceptions import RemoteProtocolError
from socketeer.protocol.engineio_packets import EnginePacket, EnginePacketType
from socketeer.protocol.engineio_v3 import (
    decode_binary_payload,
    decode_text_payload,
    decode_ws_binary,
    encode_binary_payload,
    encode_text_payload,
    encode_ws_binary,
    utf16_length,
)

HERE = Path(__file__).resolve().parent
T = EnginePacketType
NAMES = {0: "open", 1: "close", 2: "ping", 3: "pong", 4: "message", 5: "upgrade", 6: "noop"}

text_packets = st.builds(lambda t, d: f"{t}{d}", st.sampled_from([2, 3, 4, 6]), st.text(max_size=30))
any_packets = st.lists(text_packets | st.binary(max_size=30), min_size=1, max_size=8)


def as_packets(items: list[str | bytes]) -> list[EnginePacket]:
    return [
        EnginePacket(T.MESSAGE, i) if isinstance(i, bytes) else EnginePacket(T(int(i[0])), i[1:])
        for i in items
    ]


def test_known_vectors() -> None:
    assert encode_text_payload(["4hello", "2"]) == "6:4hello1:2"
    assert encode_text_payload(["4😀"]) == "3:4😀"  # an astral character counts two, as in JavaScript
    assert encode_text_payload([b"\x01\x02"]) == "6:b4AQI="
    assert encode_binary_payload(["4hi", b"\x07"]) == b"\x00\x03\xff4hi\x01\x02\xff\x04\x07"
    assert encode_binary_payload(["4" + "x" * 10]) == b"\x00\x01\x01\xff4" + b"x" * 10
    assert encode_ws_binary(b"ab") == b"\x04ab" and decode_ws_binary(b"\x04ab") == b"ab"
    assert utf16_length("a€😀") == 4
    assert decode_text_payload("6:4hello1:20:1:6") == [
        EnginePacket(T.MESSAGE, "hello"),
        EnginePacket(T.PING),
        EnginePacket(T.NOOP),
    ]


@given(any_packets)
def test_round_trips(items: list[str | bytes]) -> None:
    assert decode_text_payload(encode_text_payload(items)) == as_packets(items)
    assert decode_binary_payload(encode_binary_payload(items)) == as_packets(items)


@pytest.mark.parametrize(
    "payload",
    ["", "4hello", "x:4", "3:4hello", "10:4hi", "2:9x", "6:b3AQID", "5:b4!!!", "1", "1:4" + "9" * 400 + ":"],
)
def test_bad_text_payloads(payload: str) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_text_payload(payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x02\x01\xff4",
        b"\x00\x01",
        b"\x00\x0a\xff4",
        b"\x00\x09\xff4",
        b"\x01\x02\xff\x03a",
        b"\x00\x02\xff4\xff",
    ],
)
def test_bad_binary_payloads(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_binary_payload(payload)


def test_limits_and_bad_websocket_frames() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_text_payload("1:21:21:2", max_packets=2)
    with pytest.raises(RemoteProtocolError):
        decode_binary_payload(encode_binary_payload(["2", "2", "2"]), max_packets=2)
    with pytest.raises(RemoteProtocolError):
        decode_ws_binary(b"\x02ab")


@given(st.binary(max_size=60))
def test_random_bytes_only_raise_remote_protocol_error(blob: bytes) -> None:
    for decode in (lambda: decode_binary_payload(blob), lambda: decode_text_payload(blob.decode("latin-1"))):
        try:
            decode()
        except RemoteProtocolError:
            pass


# -- the official v3 parser ----------------------------------------------------------------------


class V3Parser:
    def __init__(self, node_modules: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(HERE / "eio3_parser_peer.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=str(node_modules)),
            text=True,
            encoding="utf-8",
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "eio3_parser_peer.js exited"
        answer: dict[str, Any] = json.loads(line)
        assert "exception" not in answer, answer
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def v3(node_modules: Path) -> Iterator[V3Parser]:
    parser = V3Parser(node_modules)
    yield parser
    parser.close()


def to_js(items: list[str | bytes]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, bytes):
            out.append({"type": "message", "bin": base64.b64encode(item).decode()})
        else:
            out.append(
                {"type": NAMES[int(item[0])], "data": item[1:]} if item[1:] else {"type": NAMES[int(item[0])]}
            )
    return out


# no lone surrogates: JSON between the processes cannot carry them
js_text_packets = st.builds(
    lambda t, d: f"{t}{d}", st.sampled_from([2, 3, 4, 6]), st.text(st.characters(codec="utf-8"), max_size=30)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(js_text_packets | st.binary(max_size=30), min_size=1, max_size=8))
def test_byte_identical_to_the_official_parser_and_read_back_by_it(
    v3: V3Parser, items: list[str | bytes]
) -> None:
    ours_text = encode_text_payload(items)
    ours_binary = encode_binary_payload(items)
    assert v3.ask({"op": "text", "packets": to_js(items)})["text"] == ours_text
    assert base64.b64decode(v3.ask({"op": "binary", "packets": to_js(items)})["b64"]) == ours_binary
    binary_back = v3.ask({"op": "decode", "b64": base64.b64encode(ours_binary).decode(), "binary": True})
    assert binary_back["packets"] == to_js(items)
    text_back = v3.ask(
        {"op": "decode", "b64": base64.b64encode(ours_text.encode()).decode(), "binary": False}
    )
    assert text_back["packets"] == to_js(items)
