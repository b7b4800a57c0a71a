"""The wire format of ``@socket.io/redis-adapter`` 8.x and ``@socket.io/redis-emitter`` 5.x (pure).

Channels, for the key prefix ``socket.io`` and the namespace ``/chat``:

- ``socket.io#/chat#`` and ``socket.io#/chat#<room>#``: broadcasts, msgpack ``[uid, packet, opts]``
  where ``packet`` is ``{"type": 2, "data": [event, *args], "nsp": "/chat"}`` and ``opts`` is
  ``{"rooms": [...], "except": [...], "flags": {...}}`` (a broadcast to exactly one room goes to that
  room's channel, others to the namespace's);
- ``socket.io-request#/chat#``: requests between servers, JSON objects ``{"uid", "type", ...}`` (a
  broadcast with acknowledgements is msgpack, as it may carry binary);
- ``socket.io-response#/chat#`` and ``socket.io-response#/chat#<uid>#``: the answers.

``@socket.io/redis-emitter`` publishes the same broadcasts with the uid ``"emitter"`` and its
requests (join, leave, disconnect, server-side emit) on ``socket.io-request#<nsp>#``.

msgpack values are those of ``notepack.io``: binary as ``bin``, JavaScript ``undefined`` as the
extension type 0 (read as ``None``). Decoders are total: a message they cannot read raises
:class:`MalformedMessage`, nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

from .._types import Room
from ..protocol.jsoncodec import dumps, loads
from ..protocol.socketio_packets import SocketPacket, SocketPacketType, event_packet
from .base import BroadcastFlags, BroadcastOptions

__all__ = [
    "EMITTER_UID",
    "BroadcastMessage",
    "MalformedMessage",
    "RequestType",
    "decode_broadcast",
    "decode_message",
    "decode_opts",
    "encode_broadcast",
    "encode_json",
    "encode_msgpack",
    "encode_opts",
    "packet_to_wire",
    "room_of",
]

EMITTER_UID = "emitter"
"""The uid with which ``@socket.io/redis-emitter`` signs its broadcasts."""


class RequestType(IntEnum):
    """``RequestType`` of ``@socket.io/redis-adapter``, with its numeric values."""

    SOCKETS = 0
    ALL_ROOMS = 1
    REMOTE_JOIN = 2
    REMOTE_LEAVE = 3
    REMOTE_DISCONNECT = 4
    REMOTE_FETCH = 5
    SERVER_SIDE_EMIT = 6
    BROADCAST = 7
    BROADCAST_CLIENT_COUNT = 8
    BROADCAST_ACK = 9


class MalformedMessage(ValueError):
    """A message on a cluster channel that is not of the expected form."""


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0:  # notepack.io's undefined
        return None
    raise MalformedMessage(f"unknown msgpack extension type {code}")


def encode_msgpack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]


def _unpack(raw: bytes) -> Any:
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False, ext_hook=_ext_hook)
    except MalformedMessage:
        raise
    except Exception as exc:  # msgpack raises several types (ExtraData, FormatError, ValueError, ...)
        raise MalformedMessage(f"not msgpack: {exc!r}") from None


def encode_json(value: Any) -> bytes:
    return dumps(value)


def decode_message(raw: bytes) -> dict[str, Any]:
    """A request or a response: JSON when it starts with ``{``, msgpack otherwise; always an object."""
    if not raw:
        raise MalformedMessage("empty message")
    if raw[0] == 0x7B:
        try:
            value = loads(raw)
        except Exception as exc:
            raise MalformedMessage(f"not JSON: {exc!r}") from None
    else:
        value = _unpack(raw)
    if not isinstance(value, dict):
        raise MalformedMessage(f"not an object: {type(value).__name__}")
    return value


def room_of(value: Any) -> Room:
    """A room as the wire carries it: a string, or a number (JavaScript rooms may be numbers)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"not a room: {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise MalformedMessage(f"not a room: {value!r}")
        if value.is_integer():
            return str(int(value))
    return str(value)


def _rooms(value: Any) -> frozenset[Room]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        raise MalformedMessage(f"rooms are not a list: {type(value).__name__}")
    return frozenset(room_of(v) for v in value)


def encode_flags(flags: BroadcastFlags) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flags.volatile:
        out["volatile"] = True
    if flags.compress is not None:
        out["compress"] = flags.compress
    if flags.local:
        out["local"] = True
    if flags.timeout is not None:
        out["timeout"] = flags.timeout * 1000.0  # milliseconds on the wire
    return out


def decode_flags(value: Any) -> BroadcastFlags:
    if value is None:
        return BroadcastFlags()
    if not isinstance(value, dict):
        raise MalformedMessage("flags are not an object")
    compress = value.get("compress")
    timeout = value.get("timeout")
    seconds = None
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and math.isfinite(timeout):
        seconds = max(float(timeout), 0.0) / 1000.0
    return BroadcastFlags(
        volatile=bool(value.get("volatile", False)),
        compress=compress if isinstance(compress, bool) else None,
        local=bool(value.get("local", False)),
        timeout=seconds,
    )


def encode_opts(opts: BroadcastOptions, *, flags: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"rooms": sorted(opts.rooms), "except": sorted(opts.except_)}
    if flags:
        out["flags"] = encode_flags(opts.flags)
    return out


def decode_opts(value: Any) -> BroadcastOptions:
    if value is None:
        return BroadcastOptions()
    if not isinstance(value, dict):
        raise MalformedMessage("opts are not an object")
    return BroadcastOptions(_rooms(value.get("rooms")), _rooms(value.get("except")), decode_flags(value.get("flags")))


def packet_to_wire(packet: SocketPacket) -> dict[str, Any]:
    out: dict[str, Any] = {"type": int(SocketPacketType.EVENT), "data": packet.data, "nsp": packet.namespace}
    return out


def packet_from_wire(value: Any) -> SocketPacket:
    """An EVENT packet as the Node adapters send it (``type`` 2, or 5 with binary)."""
    if not isinstance(value, dict):
        raise MalformedMessage("packet is not an object")
    ptype = value.get("type")
    if ptype not in (SocketPacketType.EVENT, SocketPacketType.BINARY_EVENT) or isinstance(ptype, bool):
        raise MalformedMessage(f"not an event packet: type {ptype!r}")
    data = value.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        raise MalformedMessage("event packet without an event name")
    nsp = value.get("nsp", "/")
    if nsp is None:
        nsp = "/"
    if not isinstance(nsp, str):
        raise MalformedMessage("namespace is not a string")
    return event_packet(nsp, data)


@dataclass(frozen=True, slots=True)
class BroadcastMessage:
    uid: str
    packet: SocketPacket
    opts: BroadcastOptions


def encode_broadcast(uid: str, packet: SocketPacket, opts: BroadcastOptions) -> bytes:
    return encode_msgpack([uid, packet_to_wire(packet), encode_opts(opts)])


def decode_broadcast(raw: bytes) -> BroadcastMessage:
    value = _unpack(raw)
    if not isinstance(value, list) or len(value) < 3:
        raise MalformedMessage("a broadcast is [uid, packet, opts]")
    uid, packet, opts = value[0], value[1], value[2]
    if not isinstance(uid, str):
        raise MalformedMessage("uid is not a string")
    return BroadcastMessage(uid, packet_from_wire(packet), decode_opts(opts))
