"""The messages that the servers of a cluster exchange, in the format of ``socket.io-adapter``'s cluster adapter.

Every clustered adapter of the official packages that extends ``ClusterAdapter`` (the Redis Streams adapter,
the sharded Redis adapter, the Postgres and MongoDB adapters...) sends the same message objects::

    {"uid": <server id>, "nsp": <namespace>, "type": <MessageType>, "data": {...}}

only the framing differs. This module is the pure codec: typed, frozen messages, and total decoders (a message
or :class:`~socketeer.exceptions.RemoteProtocolError`, never a half-built object) for the framings in use:

- :func:`to_object` / :func:`from_object`: the plain object (what the framings carry);
- :func:`encode_stream_entry` / :func:`decode_stream_entry`: a Redis stream entry with the string fields
  ``uid``, ``nsp``, ``type`` (decimal) and ``data`` (JSON text, or base64 msgpack when the data holds binary);
- :func:`encode_msgpack` / :func:`decode_msgpack`: the whole object in msgpack (Redis Streams adapter's
  pub/sub channels);
- :func:`encode_json_or_msgpack` / :func:`decode_json_or_msgpack`: JSON unless the data holds binary, then
  msgpack; a JSON payload starts with ``{`` (the sharded Redis adapter).

Times on the wire are milliseconds (``flags.timeout``); here they are seconds. Keys that are absent in
JavaScript stay absent (never ``null``): ``requestId`` marks a request that wants answers, ``volatile``
excludes a packet from recovery, on both sides.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .._types import Room, Sid
from ..exceptions import RemoteProtocolError
from ..protocol.jsoncodec import dumps, loads
from ..protocol.socketio_binary import has_binary
from ..protocol.socketio_packets import SocketPacket, SocketPacketType
from .base import BroadcastFlags, BroadcastOptions, SocketDetails

try:
    import msgpack as _msgpack
except ImportError:  # pragma: no cover - depends on the environment
    _msgpack = None

__all__ = [
    "EMITTER_UID",
    "BroadcastAckData",
    "BroadcastClientCountData",
    "BroadcastData",
    "ClusterMessage",
    "DisconnectSocketsData",
    "FetchSocketsData",
    "FetchSocketsResponseData",
    "MessageData",
    "MessageType",
    "ServerSideEmitData",
    "ServerSideEmitResponseData",
    "SocketsRoomsData",
    "decode_json_or_msgpack",
    "decode_msgpack",
    "decode_stream_entry",
    "encode_json_or_msgpack",
    "encode_msgpack",
    "encode_stream_entry",
    "from_object",
    "is_ephemeral",
    "is_response",
    "to_object",
]

EMITTER_UID = "emitter"
"""The ``uid`` of messages sent by an emitter (no server): they do not count as a node of the cluster."""


class MessageType(IntEnum):
    """``MessageType`` of ``socket.io-adapter``'s ``cluster-adapter.ts``; the numbers are on the wire."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


_M = MessageType
_TYPES = {int(t): t for t in MessageType}


# -- payloads ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BroadcastData:
    """BROADCAST: deliver ``packet`` to the local sockets that ``opts`` selects; with ``request_id``, count
    the clients (BROADCAST_CLIENT_COUNT) and forward each client's acknowledgement (BROADCAST_ACK)."""

    packet: SocketPacket
    opts: BroadcastOptions
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class SocketsRoomsData:
    """SOCKETS_JOIN and SOCKETS_LEAVE: the sockets that ``opts`` selects join (leave) ``rooms``."""

    opts: BroadcastOptions
    rooms: tuple[Room, ...]


@dataclass(frozen=True, slots=True)
class DisconnectSocketsData:
    opts: BroadcastOptions
    close: bool = False


@dataclass(frozen=True, slots=True)
class FetchSocketsData:
    opts: BroadcastOptions
    request_id: str


@dataclass(frozen=True, slots=True)
class FetchSocketsResponseData:
    request_id: str
    sockets: tuple[SocketDetails, ...]


@dataclass(frozen=True, slots=True)
class ServerSideEmitData:
    """SERVER_SIDE_EMIT: ``packet`` is ``[event, *args]``; with ``request_id``, one answer is expected."""

    packet: list[Any]
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class ServerSideEmitResponseData:
    request_id: str
    packet: Any


@dataclass(frozen=True, slots=True)
class BroadcastClientCountData:
    request_id: str
    client_count: int


@dataclass(frozen=True, slots=True)
class BroadcastAckData:
    request_id: str
    packet: Any


MessageData = (
    None
    | BroadcastData
    | SocketsRoomsData
    | DisconnectSocketsData
    | FetchSocketsData
    | FetchSocketsResponseData
    | ServerSideEmitData
    | ServerSideEmitResponseData
    | BroadcastClientCountData
    | BroadcastAckData
)

_DATA_CLASS: dict[MessageType, type | None] = {
    _M.INITIAL_HEARTBEAT: None,
    _M.HEARTBEAT: None,
    _M.ADAPTER_CLOSE: None,
    _M.BROADCAST: BroadcastData,
    _M.SOCKETS_JOIN: SocketsRoomsData,
    _M.SOCKETS_LEAVE: SocketsRoomsData,
    _M.DISCONNECT_SOCKETS: DisconnectSocketsData,
    _M.FETCH_SOCKETS: FetchSocketsData,
    _M.FETCH_SOCKETS_RESPONSE: FetchSocketsResponseData,
    _M.SERVER_SIDE_EMIT: ServerSideEmitData,
    _M.SERVER_SIDE_EMIT_RESPONSE: ServerSideEmitResponseData,
    _M.BROADCAST_CLIENT_COUNT: BroadcastClientCountData,
    _M.BROADCAST_ACK: BroadcastAckData,
}


@dataclass(frozen=True, slots=True)
class ClusterMessage:
    """One message between servers: from ``uid`` (a server's random id), about namespace ``nsp``."""

    uid: str
    nsp: str
    type: MessageType
    data: MessageData = field(default=None)

    def __post_init__(self) -> None:
        expected = _DATA_CLASS[self.type]
        if (expected is None and self.data is not None) or (
            expected is not None and not isinstance(self.data, expected)
        ):
            raise TypeError(f"a {self.type.name} message takes {expected and expected.__name__} data")


_RESPONSES = frozenset(
    {_M.FETCH_SOCKETS_RESPONSE, _M.SERVER_SIDE_EMIT_RESPONSE, _M.BROADCAST_CLIENT_COUNT, _M.BROADCAST_ACK}
)
_MAY_CONTAIN_BINARY = frozenset(
    {
        _M.BROADCAST,
        _M.FETCH_SOCKETS_RESPONSE,
        _M.SERVER_SIDE_EMIT,
        _M.SERVER_SIDE_EMIT_RESPONSE,
        _M.BROADCAST_ACK,
    }
)


def is_response(message: ClusterMessage) -> bool:
    """Whether ``message`` answers a request (it goes to the requester alone)."""
    return message.type in _RESPONSES


def is_ephemeral(message: ClusterMessage) -> bool:
    """Messages that the Redis Streams adapter sends over pub/sub rather than the stream: a broadcast with
    acknowledgements, a server-side emit, a fetch-sockets request (none of them worth replaying)."""
    mtype = message.type
    if mtype is _M.BROADCAST:
        return isinstance(message.data, BroadcastData) and message.data.request_id is not None
    return mtype is _M.SERVER_SIDE_EMIT or mtype is _M.FETCH_SOCKETS


# -- to the plain object ----------------------------------------------------------------------------


def _flags_object(flags: BroadcastFlags) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if flags.volatile:
        out["volatile"] = True
    if flags.compress is not None:
        out["compress"] = flags.compress
    if flags.local:
        out["local"] = True
    if flags.timeout is not None:
        ms = flags.timeout * 1000
        out["timeout"] = int(ms) if float(ms).is_integer() else ms
    return out


def _opts_object(opts: BroadcastOptions) -> dict[str, Any]:
    return {"rooms": sorted(opts.rooms), "except": sorted(opts.except_), "flags": _flags_object(opts.flags)}


def _packet_object(packet: SocketPacket) -> dict[str, Any]:
    ptype = packet.type
    if ptype is SocketPacketType.BINARY_EVENT:
        ptype = SocketPacketType.EVENT
    elif ptype is SocketPacketType.BINARY_ACK:
        ptype = SocketPacketType.ACK
    out: dict[str, Any] = {"type": int(ptype), "nsp": packet.namespace}
    if packet.data is not None:
        out["data"] = packet.data
    if packet.id is not None:
        out["id"] = packet.id
    return out


def _data_object(data: MessageData) -> dict[str, Any] | None:
    if data is None:
        return None
    if isinstance(data, BroadcastData):
        out: dict[str, Any] = {"packet": _packet_object(data.packet), "opts": _opts_object(data.opts)}
        if data.request_id is not None:
            out["requestId"] = data.request_id
        return out
    if isinstance(data, SocketsRoomsData):
        return {"opts": _opts_object(data.opts), "rooms": list(data.rooms)}
    if isinstance(data, DisconnectSocketsData):
        return {"opts": _opts_object(data.opts), "close": data.close}
    if isinstance(data, FetchSocketsData):
        return {"opts": _opts_object(data.opts), "requestId": data.request_id}
    if isinstance(data, FetchSocketsResponseData):
        return {
            "requestId": data.request_id,
            "sockets": [
                {"id": s.id, "handshake": s.handshake, "rooms": sorted(s.rooms), "data": s.data}
                for s in data.sockets
            ],
        }
    if isinstance(data, ServerSideEmitData):
        out = {"packet": data.packet}
        if data.request_id is not None:
            out["requestId"] = data.request_id
        return out
    if isinstance(data, ServerSideEmitResponseData):
        return {"requestId": data.request_id, "packet": data.packet}
    if isinstance(data, BroadcastClientCountData):
        return {"requestId": data.request_id, "clientCount": data.client_count}
    return {"requestId": data.request_id, "packet": data.packet}  # BroadcastAckData


def to_object(message: ClusterMessage) -> dict[str, Any]:
    """The message as the JavaScript object the official adapters build (``data`` left out when empty)."""
    out: dict[str, Any] = {"uid": message.uid, "nsp": message.nsp, "type": int(message.type)}
    data = _data_object(message.data)
    if data is not None:
        out["data"] = data
    return out


# -- from the plain object (total: a message or RemoteProtocolError) --------------------------------


def _fail(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"invalid cluster message: {what}")


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _fail(f"{key} must be a string")
    return value


def _opt_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(f"{key} must be a string")
    return value


def _rooms(value: Any, key: str) -> tuple[Room, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(room, str) for room in value):
        raise _fail(f"{key} must be a list of strings")
    return tuple(value)


def _flags(value: Any) -> BroadcastFlags:
    if value is None:
        return BroadcastFlags()
    if not isinstance(value, dict):
        raise _fail("flags must be an object")
    timeout = value.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))):
        raise _fail("flags.timeout must be a number")
    compress = value.get("compress")
    return BroadcastFlags(
        volatile=bool(value.get("volatile")),
        compress=None if compress is None else bool(compress),
        local=bool(value.get("local")),
        timeout=None if timeout is None else timeout / 1000,
    )


def _opts(value: Any) -> BroadcastOptions:
    if not isinstance(value, dict):
        raise _fail("opts must be an object")
    return BroadcastOptions(
        frozenset(_rooms(value.get("rooms"), "opts.rooms")),
        frozenset(_rooms(value.get("except"), "opts.except")),
        _flags(value.get("flags")),
    )


_PACKET_TYPES = {int(t): t for t in SocketPacketType}
_PLAIN_TYPE = {
    SocketPacketType.BINARY_EVENT: SocketPacketType.EVENT,
    SocketPacketType.BINARY_ACK: SocketPacketType.ACK,
}


def _packet(value: Any) -> SocketPacket:
    if not isinstance(value, dict):
        raise _fail("packet must be an object")
    raw_type = value.get("type")
    ptype = (
        _PACKET_TYPES.get(raw_type) if isinstance(raw_type, int) and not isinstance(raw_type, bool) else None
    )
    if ptype is None:
        raise _fail("packet.type must be a Socket.IO packet type")
    ptype = _PLAIN_TYPE.get(ptype, ptype)
    nsp = value.get("nsp", "/")
    if not isinstance(nsp, str):
        raise _fail("packet.nsp must be a string")
    data = value.get("data")
    if ptype is SocketPacketType.EVENT and (
        not isinstance(data, list) or not data or not isinstance(data[0], str)
    ):
        raise _fail("an EVENT packet needs [name, ...args]")
    ack_id = value.get("id")
    if ack_id is not None and (isinstance(ack_id, bool) or not isinstance(ack_id, int) or ack_id < 0):
        raise _fail("packet.id must be a non-negative integer")
    return SocketPacket(ptype, nsp, data, ack_id)


def _event(value: Any) -> list[Any]:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise _fail("packet must be [event, ...args]")
    return value


def _socket_details(value: Any) -> SocketDetails:
    if not isinstance(value, dict):
        raise _fail("a socket must be an object")
    handshake = value.get("handshake")
    if handshake is None:
        handshake = {}
    if not isinstance(handshake, dict):
        raise _fail("socket.handshake must be an object")
    return SocketDetails(
        Sid(_str(value, "id")), handshake, frozenset(_rooms(value.get("rooms"), "rooms")), value.get("data")
    )


def _data(mtype: MessageType, data: Any) -> MessageData:
    if _DATA_CLASS[mtype] is None:
        return None
    if not isinstance(data, dict):
        raise _fail(f"{mtype.name} needs a data object")
    if mtype is _M.BROADCAST:
        return BroadcastData(
            _packet(data.get("packet")), _opts(data.get("opts")), _opt_str(data, "requestId")
        )
    if mtype is _M.SOCKETS_JOIN or mtype is _M.SOCKETS_LEAVE:
        return SocketsRoomsData(_opts(data.get("opts")), _rooms(data.get("rooms"), "rooms"))
    if mtype is _M.DISCONNECT_SOCKETS:
        return DisconnectSocketsData(_opts(data.get("opts")), bool(data.get("close")))
    if mtype is _M.FETCH_SOCKETS:
        return FetchSocketsData(_opts(data.get("opts")), _str(data, "requestId"))
    if mtype is _M.FETCH_SOCKETS_RESPONSE:
        sockets = data.get("sockets")
        if not isinstance(sockets, list):
            raise _fail("sockets must be a list")
        return FetchSocketsResponseData(_str(data, "requestId"), tuple(_socket_details(s) for s in sockets))
    if mtype is _M.SERVER_SIDE_EMIT:
        return ServerSideEmitData(_event(data.get("packet")), _opt_str(data, "requestId"))
    if mtype is _M.SERVER_SIDE_EMIT_RESPONSE:
        return ServerSideEmitResponseData(_str(data, "requestId"), data.get("packet"))
    if mtype is _M.BROADCAST_CLIENT_COUNT:
        count = data.get("clientCount")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _fail("clientCount must be a non-negative integer")
        return BroadcastClientCountData(_str(data, "requestId"), count)
    return BroadcastAckData(_str(data, "requestId"), data.get("packet"))  # BROADCAST_ACK


def _type(value: Any) -> MessageType:
    mtype = _TYPES.get(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if mtype is None:
        raise _fail(f"unknown message type {value!r}")
    return mtype


def from_object(obj: Any) -> ClusterMessage:
    """Decode the plain object; raises :class:`RemoteProtocolError` for anything else."""
    if not isinstance(obj, dict):
        raise _fail("not an object")
    mtype = _type(obj.get("type"))
    return ClusterMessage(_str(obj, "uid"), _str(obj, "nsp"), mtype, _data(mtype, obj.get("data")))


# -- framings ---------------------------------------------------------------------------------------


def _require_msgpack() -> Any:
    if _msgpack is None:  # pragma: no cover - depends on the environment
        raise ImportError(
            "binary cluster messages need msgpack: install socketeer[redis] (pip install msgpack)"
        )
    return _msgpack


def _ext_hook(code: int, payload: bytes) -> Any:
    if code == 0 and payload in (b"\x00", b""):
        return None  # notepack's `undefined`
    raise _fail(f"unexpected msgpack extension {code}")


def _unpack(data: bytes) -> Any:
    mp = _require_msgpack()
    try:
        return mp.unpackb(data, raw=False, ext_hook=_ext_hook, timestamp=3, strict_map_key=False)
    except RemoteProtocolError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, mp.UnpackException) as exc:
        raise _fail(f"bad msgpack ({exc})") from None


def _pack(obj: Any) -> bytes:
    result: bytes = _require_msgpack().packb(obj, use_bin_type=True)
    return result


def _json(data: bytes | str) -> Any:
    try:
        return loads(data)
    except (ValueError, TypeError, RecursionError) as exc:
        raise _fail(f"bad JSON ({exc})") from None


def encode_msgpack(message: ClusterMessage) -> bytes:
    """The whole message in msgpack (binary values as msgpack ``bin``)."""
    return _pack(to_object(message))


def decode_msgpack(payload: bytes) -> ClusterMessage:
    return from_object(_unpack(payload))


def _binary_data(message: ClusterMessage, data: dict[str, Any] | None) -> bool:
    return data is not None and message.type in _MAY_CONTAIN_BINARY and has_binary(data)


def encode_json_or_msgpack(message: ClusterMessage) -> bytes:
    """JSON, or msgpack when the message's data holds binary values (the sharded Redis adapter's rule)."""
    obj = to_object(message)
    if _binary_data(message, obj.get("data")):
        return _pack(obj)
    return dumps(obj)


def decode_json_or_msgpack(payload: bytes) -> ClusterMessage:
    if payload[:1] == b"{":
        return from_object(_json(payload))
    return from_object(_unpack(payload))


def encode_stream_entry(message: ClusterMessage) -> dict[str, str]:
    """The fields of a Redis stream entry: ``uid``, ``nsp``, ``type`` and (when there is data) ``data``."""
    fields = {"uid": message.uid, "nsp": message.nsp, "type": str(int(message.type))}
    data = _data_object(message.data)
    if data is not None:
        if _binary_data(message, data):
            fields["data"] = base64.b64encode(_pack(data)).decode("ascii")
        else:
            fields["data"] = dumps(data).decode()
    return fields


def _field(fields: Mapping[Any, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        value = fields.get(key.encode())
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise _fail(f"{key} is not UTF-8") from None
    if not isinstance(value, str):
        raise _fail(f"{key} must be a string")
    return value


def decode_stream_entry(fields: Mapping[Any, Any]) -> ClusterMessage:
    """Decode a stream entry's fields (``str`` or ``bytes`` keys and values, as the Redis client returns them)."""
    uid, nsp, raw_type = _field(fields, "uid"), _field(fields, "nsp"), _field(fields, "type")
    if uid is None or nsp is None or raw_type is None:
        raise _fail("a stream entry needs uid, nsp and type")
    if not (raw_type.isascii() and raw_type.isdigit()) or len(raw_type) > 3:
        raise _fail(f"unknown message type {raw_type!r}")
    mtype = _type(int(raw_type))
    raw = _field(fields, "data")
    data: Any = None
    if raw:
        if raw.startswith("{"):
            data = _json(raw)
        else:
            try:
                data = _unpack(base64.b64decode(raw, validate=True))
            except (binascii.Error, ValueError):
                raise _fail("data is neither JSON nor base64 msgpack") from None
    return ClusterMessage(uid, nsp, mtype, _data(mtype, data))
