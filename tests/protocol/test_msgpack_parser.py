"""The msgpack parser: round trips, refusals, and differential tests against the official npm parser.

The npm ``socket.io-msgpack-parser`` runs in one Node process per module (``msgpack_peer.js``); the
end-to-end tests connect the official ``socket.io-client`` with that parser to a socketeer server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import random
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgpack_blobs import random_message

from socketeer import Server
from socketeer.client import AsyncClient
from socketeer.exceptions import ConnectionRefused, RemoteProtocolError
from socketeer.protocol.msgpack_parser import MsgpackParser
from socketeer.protocol.socketio_packets import (
    RESERVED_EVENTS,
    DecodeLimits,
    SocketPacket,
    SocketPacketType,
)

T = SocketPacketType
P = SocketPacket
PARSER = MsgpackParser()
HERE = Path(__file__).resolve().parent
UTC = timezone.utc  # noqa: UP017 (the package supports Python 3.10)


def encode(packet: SocketPacket) -> bytes:
    message = PARSER.encode(packet)
    assert message.text is None and len(message.binaries) == 1
    return message.binaries[0]


def decode(blob: bytes, limits: DecodeLimits | None = None) -> SocketPacket | None:
    return PARSER.decoder(limits or DecodeLimits()).feed_binary(blob)


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj)  # type: ignore[no-any-return]


def normalized(packet: SocketPacket) -> SocketPacket:
    """What decoding an encoded ``packet`` gives: no BINARY_* types, lists and bytes only."""

    def norm(value: Any) -> Any:
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, (list, tuple)):
            return [norm(v) for v in value]
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        return value

    ptype = {T.BINARY_EVENT: T.EVENT, T.BINARY_ACK: T.ACK}.get(packet.type, packet.type)
    return SocketPacket(ptype, packet.namespace, norm(packet.data), packet.id)


# -- strategies -----------------------------------------------------------------------------------

# no tag-like, prototype or array-index keys: the Node peer's JSON would treat them specially
keys = st.text(max_size=8).map(
    lambda k: "k" + k if k.startswith("$") or k == "__proto__" or k.isdigit() else k
)


ALL_INTS = st.integers(-(2**63), 2**64 - 1)
ALL_FLOATS = st.floats(allow_nan=False)


def values(
    ints: st.SearchStrategy[int] = ALL_INTS, floats: st.SearchStrategy[float] = ALL_FLOATS
) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | ints | floats | st.text(max_size=40) | st.binary(max_size=40)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=12,
    )


namespaces = st.just("/") | st.text(max_size=12).map(lambda s: "/" + s)
ack_ids = st.integers(0, 10**15 - 1)
event_names = st.text(min_size=1, max_size=20).filter(lambda s: s not in RESERVED_EVENTS)


def packets(data: st.SearchStrategy[Any]) -> st.SearchStrategy[SocketPacket]:
    args = st.lists(data, max_size=4)
    dicts = st.dictionaries(keys, data, max_size=4)
    alternatives = [
        st.tuples(st.just(T.CONNECT), namespaces, st.none() | dicts),
        st.tuples(st.just(T.DISCONNECT), namespaces),
        st.tuples(
            st.sampled_from([T.EVENT, T.BINARY_EVENT]),
            namespaces,
            st.builds(lambda name, rest: [name, *rest], event_names, args),
            st.none() | ack_ids,
        ),
        st.tuples(st.sampled_from([T.ACK, T.BINARY_ACK]), namespaces, args, ack_ids),
        st.tuples(st.just(T.CONNECT_ERROR), namespaces, st.text(max_size=20) | dicts),
    ]
    return st.one_of(*[a.map(lambda t: P(*t)) for a in alternatives])


# -- Python round trips ---------------------------------------------------------------------------


@settings(deadline=None)  # timing varies with the machine's load; correctness does not
@given(packets(values()))
def test_round_trip(packet: SocketPacket) -> None:
    assert decode(encode(packet)) == normalized(packet)


@settings(deadline=None)
@given(st.lists(packets(values()), max_size=5))
def test_one_decoder_many_packets(batch: list[SocketPacket]) -> None:
    decoder = PARSER.decoder(DecodeLimits())
    assert [decoder.feed_binary(encode(p)) for p in batch] == [normalized(p) for p in batch]


def test_message_shape_and_volatile() -> None:
    message = PARSER.encode(P(T.EVENT, "/", ["hi"]), volatile=True)
    assert message.text is None and message.volatile and len(message.binaries) == 1
    assert PARSER.name == "msgpack"


@pytest.mark.parametrize(
    ("packet", "envelope"),
    [
        (P(T.CONNECT, "/"), {"type": 0, "nsp": "/"}),
        (P(T.CONNECT, "/a", {"token": 1}), {"type": 0, "data": {"token": 1}, "nsp": "/a"}),
        (P(T.DISCONNECT, "/"), {"type": 1, "nsp": "/"}),
        (P(T.EVENT, "/", ["e", b"\x00"]), {"type": 2, "data": ["e", b"\x00"], "nsp": "/"}),
        (
            P(T.BINARY_EVENT, "/", ["e", b"\x00"], 4, 1),
            {"type": 2, "data": ["e", b"\x00"], "id": 4, "nsp": "/"},
        ),
        (P(T.ACK, "/", [1], 9), {"id": 9, "type": 3, "data": [1], "nsp": "/"}),
        (P(T.BINARY_ACK, "/", [b"x"], 9, 1), {"id": 9, "type": 3, "data": [b"x"], "nsp": "/"}),
        (P(T.CONNECT_ERROR, "/", {"message": "no"}), {"type": 4, "data": {"message": "no"}, "nsp": "/"}),
    ],
)
def test_envelope_keys_in_the_javascript_servers_order(
    packet: SocketPacket, envelope: dict[str, Any]
) -> None:
    # absent data / id are left out (never nil): the JS decoder wants `undefined` there
    assert encode(packet) == pack(envelope)
    assert list(msgpack.unpackb(encode(packet))) == list(envelope)


def test_tuples_bytearrays_and_memoryviews_encode_as_lists_and_bytes() -> None:
    packet = P(T.EVENT, "/", ("e", bytearray(b"ab"), memoryview(b"cd"), (1, (2,))))
    assert decode(encode(packet)) == P(T.EVENT, "/", ["e", b"ab", b"cd", [1, [2]]])


def test_datetimes_travel_as_javascript_dates() -> None:
    when = datetime(2024, 2, 29, 12, 30, 1, 250000, tzinfo=UTC)
    blob = encode(P(T.EVENT, "/", ["at", when]))
    assert b"\xd7\x00" in blob  # fixext 8 of type 0: what notepack.io writes for a Date
    assert decode(blob) == P(T.EVENT, "/", ["at", when])
    paris = datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert decode(encode(P(T.EVENT, "/", ["at", paris]))) == P(T.EVENT, "/", ["at", paris])


@pytest.mark.parametrize(
    "value",
    [2**64, -(2**63) - 1, "\ud800", object(), {1, 2}, datetime(2024, 1, 1), [[[[object()]]]]],
    ids=["int>u64", "int<i64", "lone-surrogate", "object", "set", "naive-datetime", "nested-object"],
)
def test_values_msgpack_cannot_carry_raise_type_error(value: Any) -> None:
    with pytest.raises(TypeError):
        PARSER.encode(P(T.EVENT, "/", ["e", value]))


def test_64_bit_bounds_encode() -> None:
    for n in (2**64 - 1, -(2**63), 2**63, 2**32, -(2**31) - 1):
        assert decode(encode(P(T.EVENT, "/", ["n", n]))) == P(T.EVENT, "/", ["n", n])


# -- decoding: what a peer may not send ---------------------------------------------------------


def env(**fields: Any) -> bytes:
    return pack(fields)


BAD_MESSAGES = {
    "empty": b"",
    "truncated": encode(P(T.EVENT, "/", ["e", "abc"]))[:-1],
    "trailing bytes": encode(P(T.EVENT, "/", ["e"])) + b"\x00",
    "reserved byte": b"\xc1",
    "not a map": pack([2, "/", ["e"]]),
    "a string": pack("2[]"),
    "invalid utf-8": b"\x83\xa4type\x02\xa4data\x91\xa2\xff\xfe\xa3nsp\xa1/",
    "int map key": b"\x83\xa4type\x02\xa4data\x91\x81\x01\x02\xa3nsp\xa1/",
    "array map key": b"\x83\xa4type\x02\xa4data\x91\x81\x91\x01\x02\xa3nsp\xa1/",
    "huge declared array": b"\x83\xa4type\x02\xa4data\xdd\xff\xff\xff\xff\xa3nsp\xa1/",
    "huge declared str": b"\x83\xa4type\x02\xa4data\x91\xdb\xff\xff\xff\xff\xa3nsp\xa1/",
    "nested too deep": b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data" + b"\x91" * 5000 + b"\xc0",
    "no type": env(data=["e"], nsp="/"),
    "type 5": env(type=5, data=["e"], nsp="/"),
    "type 6": env(type=6, data=[], id=1, nsp="/"),
    "type -1": env(type=-1, nsp="/"),
    "type as string": env(type="2", data=["e"], nsp="/"),
    "type true": env(type=True, nsp="/"),
    "type float": env(type=2.0, data=["e"], nsp="/"),
    "type nil": env(type=None, nsp="/"),
    "no nsp": env(type=2, data=["e"]),
    "nsp nil": env(type=2, data=["e"], nsp=None),
    "nsp int": env(type=2, data=["e"], nsp=1),
    "nsp without slash": env(type=2, data=["e"], nsp="chat"),
    "nsp too long": env(type=0, nsp="/" + "n" * 256),
    "event without data": env(type=2, nsp="/"),
    "event data nil": env(type=2, data=None, nsp="/"),
    "event data not a list": env(type=2, data={"e": 1}, nsp="/"),
    "event empty list": env(type=2, data=[], nsp="/"),
    "event reserved name": env(type=2, data=["disconnecting"], nsp="/"),
    "event name too long": env(type=2, data=["e" * 513], nsp="/"),
    "event name bool": env(type=2, data=[True], nsp="/"),
    "event name nil": env(type=2, data=[None], nsp="/"),
    "event name list": env(type=2, data=[["e"]], nsp="/"),
    "ack without id": env(type=3, data=[], nsp="/"),
    "ack without data": env(id=1, type=3, nsp="/"),
    "ack data not a list": env(id=1, type=3, data="x", nsp="/"),
    "id nil": env(type=2, data=["e"], id=None, nsp="/"),
    "id negative": env(type=2, data=["e"], id=-1, nsp="/"),
    "id too large": env(type=2, data=["e"], id=10**15, nsp="/"),
    "id string": env(type=2, data=["e"], id="1", nsp="/"),
    "id float": env(type=2, data=["e"], id=1.5, nsp="/"),
    "id bool": env(type=2, data=["e"], id=True, nsp="/"),
    "connect data nil": env(type=0, data=None, nsp="/"),
    "connect data list": env(type=0, data=[], nsp="/"),
    "connect data string": env(type=0, data="x", nsp="/"),
    "disconnect with data": env(type=1, data={}, nsp="/"),
    "disconnect data nil": env(type=1, data=None, nsp="/"),
    "connect_error without data": env(type=4, nsp="/"),
    "connect_error data list": env(type=4, data=["x"], nsp="/"),
    "connect_error data int": env(type=4, data=1, nsp="/"),
    "undefined type": b"\x82\xa4type\xd4\x00\x00\xa3nsp\xa1/",
    "undefined nsp": b"\x82\xa4type\x00\xa3nsp\xd4\x00\x00",
    "undefined event data": b"\x82\xa4type\x02\xa4data\xd4\x00\x00\xa3nsp\xa1/",
    "Date out of range": b"\x83\xa4type\x02\xa4data\x92\xa1e\xd7\x00\x7f\xff\xff\xff\xff\xff\xff\xff\xa3nsp\xa1/",
    "__proto__ key": env(type=2, data=["e", {"__proto__": {"polluted": True}}], nsp="/"),
    "bin __proto__ key": b"\x83\xa4type\x00\xa4data\x81\xc4\x09__proto__\x80\xa3nsp\xa1/",
}


@pytest.mark.parametrize("blob", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_refuses(blob: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode(blob)


def test_text_messages_are_refused() -> None:
    with pytest.raises(RemoteProtocolError):
        PARSER.decoder(DecodeLimits()).feed_text('2["e"]')


def test_limits_apply() -> None:
    limits = DecodeLimits(max_namespace_length=4, max_event_name_length=3, max_ack_id_digits=2)
    assert decode(env(type=2, data=["abc"], id=99, nsp="/abc"), limits) == P(T.EVENT, "/abc", ["abc"], 99)
    for blob in (
        env(type=2, data=["abcd"], nsp="/"),
        env(type=2, data=["e"], id=100, nsp="/"),
        env(type=0, nsp="/abcd"),
    ):
        with pytest.raises(RemoteProtocolError):
            decode(blob, limits)


def test_lenient_where_the_javascript_decoder_is() -> None:
    # unknown keys are ignored (the JS client sends "options"); numeric event names pass, like JSON
    blob = env(type=2, data=[7, "x"], options={"compress": True}, id=3, nsp="/")
    assert decode(blob) == P(T.EVENT, "/", [7, "x"], 3)
    # keys set to undefined are absent keys
    assert decode(b"\x83\xa4type\x00\xa4data\xd4\x00\x00\xa3nsp\xa1/") == P(T.CONNECT, "/")
    assert decode(b"\x84\xa4type\x02\xa4data\x91\xa1e\xa2id\xd4\x00\x00\xa3nsp\xa1/") == P(
        T.EVENT, "/", ["e"]
    )


def test_bin_keys_are_the_strings_they_encode_as_in_javascript() -> None:
    # {"a"(bin): 1, "b": 2, "a"(str): 3}: one key "a", the later value, in the first one's place
    blob = b"\x83\xa4type\x02\xa4data\x92\xa1e\x83\xc4\x01a\x01\xa1b\x02\xa1a\x03\xa3nsp\xa1/"
    packet = decode(blob)
    assert packet == P(T.EVENT, "/", ["e", {"a": 3, "b": 2}])
    assert packet is not None and list(packet.data[1]) == ["a", "b"]
    # a bin key that is not UTF-8 is read with replacement characters, and the envelope's keys too
    assert decode(b"\x83\xc4\x04type\x00\xa4data\x81\xc4\x01\xff\x01\xa3nsp\xa1/") == P(
        T.CONNECT, "/", {"\ufffd": 1}
    )


def test_msgpack_timestamps_and_other_type_zero_fixexts_are_type_and_bytes() -> None:
    # what notepack.io hands the official server: it knows neither msgpack timestamps (type -1) nor
    # fixext 2/4/16 of its own type 0
    timestamps = b"\x93\xa1e\xd6\xffN\x9b\xcc\xc0\xd5\xff\x00\x00"
    blob = b"\x83\xa4type\x02\xa4data" + timestamps + b"\xa3nsp\xa1/"
    assert decode(blob) == P(T.EVENT, "/", ["e", [-1, b"N\x9b\xcc\xc0"], [-1, b"\x00\x00"]])
    fixexts = b"\x94\xa1e\xd5\x00\x01\x02\xd6\x00abcd\xd8\x00" + bytes(16)
    blob = b"\x83\xa4type\x02\xa4data" + fixexts + b"\xa3nsp\xa1/"
    assert decode(blob) == P(T.EVENT, "/", ["e", [0, b"\x01\x02"], [0, b"abcd"], [0, bytes(16)]])


def test_extension_type_zero_follows_notepack() -> None:
    # [undefined, ArrayBuffer(1), Date, ArrayBuffer(8), ArrayBuffer(3), {a: undefined, b: 1}, ext 5]
    data = (
        b"\x98\xa1e"
        + b"\xd4\x00\x00"
        + b"\xc7\x01\x00\x07"
        + b"\xd7\x00\x00\x00\x00\x00\x00\x00\x03\xe8"
        + b"\xc7\x08\x00"
        + bytes(range(8))
        + b"\xc7\x03\x00abc"
        + b"\x82\xa1a\xd4\x00\x00\xa1b\x01"
        + b"\xd5\x05\x01\x02"
    )
    blob = b"\x83\xa4type\x02\xa4data" + data + b"\xa3nsp\xa1/"
    expected = [
        "e",
        None,
        b"\x07",
        datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        bytes(range(8)),
        b"abc",
        {"b": 1},
        [5, b"\x01\x02"],
    ]
    assert decode(blob) == P(T.EVENT, "/", expected)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_remote_protocol_error(blob: bytes) -> None:
    try:
        decode(blob)
    except RemoteProtocolError:
        pass


@settings(deadline=None)
@given(packets(values()), st.data())
def test_mutated_packets_only_raise_remote_protocol_error(packet: SocketPacket, data: st.DataObject) -> None:
    blob = bytearray(encode(packet))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(blob) - 1))
        blob[i] = data.draw(st.integers(0, 255))
    try:
        decode(bytes(blob))
    except RemoteProtocolError:
        pass


# -- the official npm parser as a peer ----------------------------------------------------------


def to_js(value: Any) -> Any:
    """A Python value in ``msgpack_peer.js``'s tagged JSON."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, float) and (
        not math.isfinite(value) or (value == 0 and math.copysign(1, value) < 0)
    ):
        return {"$num": "-0" if value == 0 else repr(value).replace("inf", "Infinity").replace("nan", "NaN")}
    if isinstance(value, datetime):
        return {"$date": (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)}
    if isinstance(value, (list, tuple)):
        return [to_js(v) for v in value]
    if isinstance(value, dict):
        return {k: to_js(v) for k, v in value.items()}
    return value


class Undefined:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Undefined)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "undefined"


def from_js(value: Any) -> Any:
    if isinstance(value, list):
        return [from_js(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, v),) = value.items()
            if key in ("$bin", "$ab"):
                return base64.b64decode(v)
            if key == "$date":
                return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=v)
            if key == "$undef":
                return Undefined()
            if key == "$num":
                return -0.0 if v == "-0" else float(v)
        return {k: from_js(v) for k, v in value.items()}
    return value


def js_envelope(packet: SocketPacket) -> dict[str, Any]:
    """The packet as the object the JS server would encode, keys in its order."""
    env: dict[str, Any] = {}
    ptype = normalized(packet).type
    if ptype is T.ACK:
        env["id"] = packet.id
    env["type"] = int(ptype)
    if packet.data is not None:
        env["data"] = to_js(packet.data)
    if packet.id is not None:
        env["id"] = packet.id
    env["nsp"] = packet.namespace
    return env


def packet_from_js(obj: dict[str, Any]) -> SocketPacket:
    """What the JS decoder made of a message, as a packet (``undefined`` data is no data)."""
    data = from_js(obj.get("data"))
    return SocketPacket(
        SocketPacketType(obj["type"]),
        obj["nsp"],
        None if isinstance(data, Undefined) else data,
        obj.get("id"),
    )


def python_view(packet: SocketPacket) -> SocketPacket:
    """A JS decoding as socketeer presents it: ``undefined`` is ``None`` in arrays and no key in maps
    (as ``JSON.stringify`` has it), and an ``undefined`` id is no id."""

    def view(value: Any) -> Any:
        if isinstance(value, list):
            return [None if isinstance(v, Undefined) else view(v) for v in value]
        if isinstance(value, dict):
            return {k: view(v) for k, v in value.items() if not isinstance(v, Undefined)}
        return value

    ack_id = None if isinstance(packet.id, dict) and "$undef" in packet.id else packet.id
    return SocketPacket(packet.type, packet.namespace, view(packet.data), ack_id)


def agree_with_javascript(blobs: list[bytes], answers: list[dict[str, Any]]) -> list[Any]:
    """The blobs Python accepts and the JS decoder refuses or reads as something else."""
    divergences: list[Any] = []
    for blob, answer in zip(blobs, answers, strict=True):
        try:
            ours = decode(blob)
        except RemoteProtocolError:
            continue
        if not answer["ok"]:
            divergences.append((blob, ours, answer))
        elif not same(python_view(packet_from_js(answer["packet"])), ours):
            divergences.append((blob, ours, answer["packet"]))
    return divergences


class JsCodec:
    """``msgpack_peer.js``: batches of requests in, answers out, in order."""

    def __init__(self, node_modules: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(HERE / "msgpack_peer.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=str(node_modules)),
            text=True,
            encoding="utf-8",
        )

    def run(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def write() -> None:  # in a thread: a large batch would fill both pipes otherwise
            for request in requests:
                stdin.write(json.dumps(request) + "\n")
            stdin.flush()

        writer = threading.Thread(target=write)
        writer.start()
        answers = []
        for _ in requests:
            line = proc.stdout.readline()
            assert line, "msgpack_peer.js exited"
            answers.append(json.loads(line))
        writer.join()
        return answers

    def encode(self, envelopes: list[dict[str, Any]]) -> list[bytes]:
        answers = self.run([{"op": "encode", "packet": e} for e in envelopes])
        assert all(a["ok"] for a in answers), answers
        return [base64.b64decode(a["b64"]) for a in answers]

    def decode(self, blobs: list[bytes]) -> list[dict[str, Any]]:
        return self.run([{"op": "decode", "b64": base64.b64encode(b).decode()} for b in blobs])

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        finally:
            self.proc.stdout.close()
            if self.proc.returncode is None:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def js(node_modules: Path) -> Iterator[JsCodec]:
    codec = JsCodec(node_modules)
    yield codec
    codec.close()


# not 1e300: notepack.io writes integral numbers >= 2**63 wrongly (1e300 becomes 0)
NUMBERS = [0, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53, 10**15, -1, -32, -33, -128, -129]
NUMBERS += [-32768, -32769, -(2**31), -(2**31) - 1, -(2**53), 1.5, -0.25, 1e-300, True, False, None]

# Packets the way the JS side builds them (tagged JSON, keys in JS order), and what Python must see.
JS_CORPUS: list[tuple[str, dict[str, Any], SocketPacket]] = [
    ("client connect, no auth", {"type": 0, "data": {"$undef": 1}, "nsp": "/"}, P(T.CONNECT, "/")),
    (
        "client connect, auth",
        {"type": 0, "data": {"token": "t"}, "nsp": "/a"},
        P(T.CONNECT, "/a", {"token": "t"}),
    ),
    (
        "server connect, no pid",
        {"type": 0, "data": {"sid": "abc", "pid": {"$undef": 1}}, "nsp": "/"},
        P(T.CONNECT, "/", {"sid": "abc"}),
    ),
    ("disconnect", {"type": 1, "nsp": "/x"}, P(T.DISCONNECT, "/x")),
    (
        "client emit with ack",
        {"type": 2, "data": ["hi", 1, "é"], "options": {"compress": True}, "id": 0, "nsp": "/"},
        P(T.EVENT, "/", ["hi", 1, "é"], 0),
    ),
    (
        "binary kinds",
        {
            "type": 2,
            "data": [
                "b",
                {"$bin": "AAEC"},
                {"$u8": "/w=="},
                {"$u8": "AAECAwQFBgc="},
                {"$u8": "AAEC"},
                {"$bin": ""},
            ],
            "nsp": "/",
        },
        P(T.EVENT, "/", ["b", b"\x00\x01\x02", b"\xff", bytes(range(8)), b"\x00\x01\x02", b""]),
    ),
    (
        "undefined and dates",
        {
            "type": 2,
            "data": ["u", {"$undef": 1}, {"k": {"$undef": 1}, "j": 2}, {"$date": 1700000000123}],
            "nsp": "/",
        },
        P(T.EVENT, "/", ["u", None, {"j": 2}, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)]),
    ),
    (
        "numbers",
        {"type": 2, "data": to_js(["n", *NUMBERS, 2.0, math.nan, math.inf, -math.inf]), "nsp": "/"},
        P(T.EVENT, "/", ["n", *NUMBERS, 2, math.nan, math.inf, -math.inf]),
    ),
    (
        "sizes",
        {
            "type": 2,
            "data": ["s", "x" * 31, "x" * 32, "é" * 200, "y" * 65536, list(range(16)), {"$bin": "A" * 400}],
            "nsp": "/",
        },
        P(T.EVENT, "/", ["s", "x" * 31, "x" * 32, "é" * 200, "y" * 65536, list(range(16)), b"\x00" * 300]),
    ),
    (
        "map16",
        {"type": 0, "data": {f"k{i}": i for i in range(17)}, "nsp": "/"},
        P(T.CONNECT, "/", {f"k{i}": i for i in range(17)}),
    ),
    (
        "ack",
        {"id": 5, "type": 3, "data": [{"$bin": "AQ=="}, "ok"], "nsp": "/"},
        P(T.ACK, "/", [b"\x01", "ok"], 5),
    ),
    ("ack no args", {"id": 6, "type": 3, "data": [], "nsp": "/n"}, P(T.ACK, "/n", [], 6)),
    (
        "connect_error obj",
        {"type": 4, "data": {"message": "no", "data": {"x": 1}}, "nsp": "/"},
        P(T.CONNECT_ERROR, "/", {"message": "no", "data": {"x": 1}}),
    ),
    (
        "connect_error str",
        {"type": 4, "data": "Invalid namespace", "nsp": "/x"},
        P(T.CONNECT_ERROR, "/x", "Invalid namespace"),
    ),
    ("broadcast with ack", {"type": 2, "data": ["b"], "nsp": "/", "id": 12}, P(T.EVENT, "/", ["b"], 12)),
]


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN, True is not 1, and integers beyond 2**53 are JS numbers."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, SocketPacket) and isinstance(b, SocketPacket):
        return a[:2] == b[:2] and a[3:] == b[3:] and same(a.data, b.data)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and max(abs(a), abs(b)) > 2**53:
        return float(a) == float(b)  # a JS number holds the nearest double
    return bool(a == b)


def test_javascript_encodings_decode_in_python(js: JsCodec) -> None:
    blobs = js.encode([envelope for _, envelope, _ in JS_CORPUS])
    for (name, _, expected), blob in zip(JS_CORPUS, blobs, strict=True):
        got = decode(blob)
        assert same(got, expected), (name, got, expected)


def test_python_encodings_decode_in_javascript(js: JsCodec) -> None:
    packets_ = [expected for _, _, expected in JS_CORPUS]
    answers = js.decode([encode(p) for p in packets_])
    for packet, answer in zip(packets_, answers, strict=True):
        assert answer["ok"], (packet, answer)
        assert same(packet_from_js(answer["packet"]), packet), (packet, answer)


BYTE_IDENTICAL = [
    P(T.CONNECT, "/"),
    P(T.CONNECT, "/", {"sid": "x" * 20, "pid": "y" * 20}),
    P(T.DISCONNECT, "/chat"),
    P(T.EVENT, "/", ["message", "hello", 1, -1, 1.5, None, True, {"a": [b"\x00" * 300]}]),
    P(T.EVENT, "/chat", ["e", "é" * 40, 2**33, -(2**33)], 42),
    P(T.ACK, "/", ["ok", b"\x01"], 3),
    P(T.CONNECT_ERROR, "/", {"message": "Not authorized", "data": {"code": 401}}),
    P(T.CONNECT_ERROR, "/nope", {"message": "Invalid namespace"}),
]


def test_common_packets_are_byte_identical_to_javascript(js: JsCodec) -> None:
    assert js.encode([js_envelope(p) for p in BYTE_IDENTICAL]) == [encode(p) for p in BYTE_IDENTICAL]


def test_javascript_refuses_what_python_refuses(js: JsCodec) -> None:
    # every refusal is shared with the JS decoder except these, where socketeer is stricter
    stricter = {
        "type float",  # JS: Number.isInteger(2.0)
        "nsp without slash",
        "nsp too long",
        "event empty list",
        "event reserved name",
        "event name too long",
        "event name bool",
        "event name nil",
        "event name list",
        "ack without id",
        "id negative",
        "id too large",
        "invalid utf-8",
        "int map key",
        "array map key",
        "Date out of range",
        "nested too deep",
        "__proto__ key",  # JS: no key, the value becomes the object's prototype
        "bin __proto__ key",
    }
    names = [n for n in BAD_MESSAGES if n not in stricter]
    answers = js.decode([BAD_MESSAGES[n] for n in names])
    accepted = [(n, a) for n, a in zip(names, answers, strict=True) if a["ok"]]
    assert accepted == []


def interop_values() -> st.SearchStrategy[Any]:
    # what survives a JS number exactly and is encoded the same by both: no integral floats, no -0
    return values(
        ints=st.integers(-(2**53), 2**53),
        floats=st.floats(-(2.0**50), 2.0**50).map(lambda f: f + 0.5 if f.is_integer() else f),
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(batch=st.lists(packets(interop_values()), min_size=10, max_size=25))
def test_hypothesis_batches_agree_with_javascript(js: JsCodec, batch: list[SocketPacket]) -> None:
    ours = [encode(p) for p in batch]
    # 1. byte for byte what the JS encoder writes for the same object
    assert js.encode([js_envelope(p) for p in batch]) == ours
    # 2. the JS decoder reads our bytes back as the same packet
    for packet, answer in zip(batch, js.decode(ours), strict=True):
        assert answer["ok"], (packet, answer)
        assert packet_from_js(answer["packet"]) == normalized(packet)


# Derandomized so that CI checks a fixed sample. It used to fail in about one full-suite run out of three:
# the seeded search below found why (bin map keys, ``__proto__`` keys, msgpack timestamps, type-0
# fixexts of sizes 2/4/16, where Python answered otherwise than the npm parser).
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(
    batch=st.lists(
        st.tuples(
            packets(interop_values()),
            st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
        ),
        min_size=10,
        max_size=25,
    )
)
def test_python_is_never_more_lenient_than_javascript(js: JsCodec, batch: list[Any]) -> None:
    blobs = []
    for packet, edits in batch:
        blob = bytearray(encode(packet))
        for where, byte in edits:
            blob[where % len(blob)] = byte
        blobs.append(bytes(blob))
    assert agree_with_javascript(blobs, js.decode(blobs)) == []


# The messages that the seeded search (``msgpack_blobs.random_message``) found Python accepting and the
# npm parser reading otherwise, one per cause, with what both read now.
DIVERGENCES_FOUND = {
    "bin key": (
        b"\x83\xa4data\x81\xc4\x01a\x82\xa1a\x81\xa8toString\xc0\xa8toString\xde\x00\x00"
        b"\xa3nsp\xa2/a\xa4type\x04",
        P(T.CONNECT_ERROR, "/a", {"a": {"a": {"toString": None}, "toString": {}}}),
    ),
    "timestamp": (
        b"\x83\xa4data\x93\xa1e\xde\x00\x00\xd6\xffN\x9b\xcc\xc0\xa3nsp\xa1/\xa4type\x02",
        P(T.EVENT, "/", ["e", {}, [-1, b"N\x9b\xcc\xc0"]]),
    ),
    "fixext 4 of type 0": (
        b"\x83\xa4data\x82\xa1a\xd6\x00\x9c\xb4\xf5s\xa11\xde\x00\x00\xa3nsp\xa1/\xa4type\x04",
        P(T.CONNECT_ERROR, "/", {"a": [0, b"\x9c\xb4\xf5s"], "1": {}}),
    ),
}
SEARCH_SEED = 1  # against the parser before the fix, this seed's 4000 messages show divergences


def test_the_divergences_found_now_agree(js: JsCodec) -> None:
    blobs = [blob for blob, _ in DIVERGENCES_FOUND.values()]
    for (name, (blob, expected)), answer in zip(DIVERGENCES_FOUND.items(), js.decode(blobs), strict=True):
        assert decode(blob) == expected, name
        assert answer["ok"] and same(python_view(packet_from_js(answer["packet"])), expected), name
    with pytest.raises(RemoteProtocolError):  # the fourth cause: JS sets a prototype, Python refuses
        decode(b"\x83\xa3nsp\xa2/a\xa4type\x02\xa4data\x92\xa1e\x81\xa9__proto__\xdc\x00\x00")


def test_seeded_search_over_random_messages_finds_no_divergence(js: JsCodec) -> None:
    rng = random.Random(SEARCH_SEED)
    blobs = [random_message(rng) for _ in range(4000)]
    assert agree_with_javascript(blobs, js.decode(blobs)) == []


# -- end to end: the official client with the msgpack parser ------------------------------------


def js_args(args: list[Any]) -> list[Any]:
    return [from_js(a) for a in args]


@pytest.mark.parametrize("mode", ["websocket", "polling", "upgrade"])
async def test_official_client_with_msgpack_parser(
    mode: str, node_modules: Path, serve_socketeer: Any
) -> None:
    io = Server(parser=MsgpackParser())
    loop = asyncio.get_running_loop()
    echoed: asyncio.Future[list[Any]] = loop.create_future()
    asked: asyncio.Future[Any] = loop.create_future()

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        socket.join("room-1")
        socket.emit("welcome", b"\x00hi", {"sid": socket.id, "when": 1.25})

    @io.on("echo")
    def on_echo(socket: Any, *args: Any) -> tuple[Any, ...]:
        echoed.set_result(list(args))
        return (*args, b"\xfa")

    @io.on("shout")
    async def on_shout(socket: Any, text: str) -> None:
        reply = await socket.emit_with_ack("ask", b"\x01\x02", timeout=10)
        asked.set_result(reply)
        io.emit("broadcasted", text, reply[0])
        io.to("room-1").emit("room", [b"\x03"], {"n": None})

    url = await serve_socketeer(io)
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "msgpack_client.js"),
        url,
        mode,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:  # pragma: no cover
            proc.kill()
            await proc.wait()
    records = [json.loads(line) for line in stdout.decode().splitlines()]
    assert proc.returncode == 0, (records, stderr.decode())
    by_event = {r["event"]: r for r in records}

    sent_by_client = [
        b"\x00\x01\x02\xfe\xff",
        {"n": 1, "s": "héllo", "big": 2**40, "f": 1.5},
        [None, True, -7],
    ]
    assert await asyncio.wait_for(echoed, 5) == sent_by_client
    assert js_args(by_event["ack"]["args"]) == [*sent_by_client, b"\xfa"]
    assert js_args(by_event["welcome"]["args"]) == [
        b"\x00hi",
        {"sid": by_event["connect"]["id"], "when": 1.25},
    ]
    assert js_args(by_event["ask"]["args"]) == [b"\x01\x02"]
    assert await asyncio.wait_for(asked, 5) == (b"\x01\x02\xff", {"ok": True})
    assert js_args(by_event["broadcasted"]["args"]) == ["hello everyone", b"\x01\x02\xff"]
    assert js_args(by_event["room"]["args"]) == [[b"\x03"], {"n": None}]
    assert by_event["done"]["transport"] == ("polling" if mode == "polling" else "websocket")


# -- end to end: socketeer's client against the official server with the msgpack parser -----------


@pytest.fixture
async def msgpack_node_server(node_modules: Path) -> AsyncIterator[str]:
    """``tests/protocol/msgpack_server.js``: the official server using the msgpack parser."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / "msgpack_server.js"),
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, NODE_PATH=str(node_modules)),
    )
    try:
        assert proc.stdout is not None
        word, _, port = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip().partition(" ")
        assert word == "ready", word
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


@pytest.mark.parametrize("transports", [("websocket",), ("polling",), ("polling", "websocket")])
async def test_socketeer_client_with_official_msgpack_server(
    transports: tuple[str, ...], msgpack_node_server: str
) -> None:
    client = AsyncClient(
        msgpack_node_server, transports=transports, parser=MsgpackParser(), reconnection=False
    )
    welcome: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    news: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
    client.on("welcome", lambda *args: welcome.set_result(args))
    client.on("news", lambda *args: news.set_result(args))

    @client.on("question")
    def answer(question: bytes) -> bytes:
        return question[::-1]

    await asyncio.wait_for(client.connect(), 10)
    try:
        assert await asyncio.wait_for(welcome, 5) == (
            client.id,
            b"\x01\x02\x03",
            datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
            [None, 1],
        )
        sent = (b"\x00\xff", {"k": [1.5, None, "é"], "b": b""}, 2**40, -3)
        assert await client.emit_with_ack("echo", *sent, timeout=5) == sent
        assert await client.emit_with_ack("ask", b"abc", timeout=5) == b"cba"
        client.emit("broadcast", b"\x07", "x")
        assert await asyncio.wait_for(news, 5) == (b"\x07", "x")
        # Uint8Array of 1 and 8 bytes: extension type 0 in ext 8 format, not undefined / Date
        assert await client.emit_with_ack("typed", timeout=5) == (b"\x09", bytes(8), b"\x04\x05\x06")
    finally:
        await client.disconnect()


async def test_socketeer_client_refused_by_official_msgpack_server(msgpack_node_server: str) -> None:
    client = AsyncClient(
        msgpack_node_server, auth={"token": "bad"}, parser=MsgpackParser(), reconnection=False
    )
    try:
        with pytest.raises(ConnectionRefused) as refused:
            await asyncio.wait_for(client.connect(), 10)
        assert refused.value.message == "refused"
    finally:
        await client.disconnect()
