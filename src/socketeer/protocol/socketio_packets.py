"""Socket.IO v5 packets and their text encoding.

``<type>[<#attachments>-][<namespace>,][<ack id>][<compact JSON>]``; the namespace is left out when it
is ``/``. Binary values (``bytes``) are replaced by ``{"_placeholder": true, "num": n}`` and travel
as separate binary Engine.IO messages after the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NamedTuple

from ..exceptions import LocalProtocolError, RemoteProtocolError
from .jsoncodec import dumps, loads
from .models import to_plain
from .socketio_binary import deconstruct, has_binary, reconstruct

__all__ = [
    "RESERVED_EVENTS",
    "DecodeLimits",
    "PacketDecoder",
    "SocketPacket",
    "SocketPacketType",
    "decode_text",
    "ack_packet",
    "encode_packet",
    "event_packet",
    "valid_payload",
]


def check_event_name(event: str) -> None:
    """Refuse to send a reserved event name (``connect``, ``disconnect``, ...), as the official server."""
    if event in RESERVED_EVENTS:
        raise LocalProtocolError(f'"{event}" is a reserved event name')


class SocketPacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names that neither side may emit (they are lifecycle events)."""

_T = SocketPacketType
_CONNECT = SocketPacketType.CONNECT
_EVENT = SocketPacketType.EVENT
_ACK = SocketPacketType.ACK
_CONNECT_ERROR = SocketPacketType.CONNECT_ERROR
_BINARY_EVENT = SocketPacketType.BINARY_EVENT
_BINARY_ACK = SocketPacketType.BINARY_ACK
_ACK_TYPES = frozenset({_ACK, _BINARY_ACK})
_EVENT_TYPES = frozenset({_EVENT, _BINARY_EVENT})
_new_tuple = tuple.__new__
_TYPE_BY_CHAR = {str(int(t)): t for t in SocketPacketType}
_TYPE_CHARS = {t: str(int(t)) for t in SocketPacketType}
_DIGITS = frozenset("0123456789")


class SocketPacket(NamedTuple):
    """One Socket.IO packet (a NamedTuple: immutable, compared by value, cheap on the hot path).

    ``data`` is, by type: CONNECT an auth/handshake ``dict`` or ``None``; DISCONNECT ``None``;
    EVENT ``[name, *args]``; ACK ``[*args]``; CONNECT_ERROR ``{"message": ..., "data": ...}``.
    ``attachments`` counts binary attachments (only for the BINARY_* types).
    """

    type: SocketPacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0


def event_packet(namespace: str, data: list[Any], ack_id: int | None = None) -> SocketPacket:
    """An EVENT packet, built without the NamedTuple's Python-level ``__new__`` (hot path)."""
    return _new_tuple(SocketPacket, (_EVENT, namespace, data, ack_id, 0))


def ack_packet(namespace: str, args: list[Any], ack_id: int) -> SocketPacket:
    """An ACK packet, built without the NamedTuple's Python-level ``__new__`` (hot path)."""
    return _new_tuple(SocketPacket, (_ACK, namespace, args, ack_id, 0))


def _head(ptype: SocketPacketType, namespace: str, ack_id: int | None, attachments: int) -> str:
    head = _TYPE_CHARS[ptype]
    if attachments:
        head += f"{attachments}-"
    if namespace != "/":
        head += namespace + ","
    if ack_id is not None:
        head += str(ack_id)
    return head


def encode_packet(packet: SocketPacket) -> tuple[bytes, list[bytes]]:
    """Encode to the UTF-8 text of the packet plus its binary attachments.

    EVENT and ACK packets whose data holds ``bytes`` are sent as BINARY_EVENT / BINARY_ACK.
    """
    ptype = packet.type
    data = packet.data
    if ptype is _BINARY_EVENT:
        ptype = _EVENT
    elif ptype is _BINARY_ACK:
        ptype = _ACK
    if data is None:
        return _head(ptype, packet.namespace, packet.id, 0).encode(), []
    try:
        body = dumps(data)  # the JSON encoder refuses bytes: no bytes, no attachments
    except TypeError:
        # models become plain values here only, once the encoder refused them: plain data pays nothing
        data = to_plain(data)
        if has_binary(data) and (ptype is _EVENT or ptype is _ACK):
            attachments: list[bytes] = []
            body = dumps(deconstruct(data, attachments))
            ptype = _BINARY_EVENT if ptype is _EVENT else _BINARY_ACK
            return _head(ptype, packet.namespace, packet.id, len(attachments)).encode() + body, attachments
        body = dumps(data)
    if packet.namespace == "/":
        ack_id = packet.id
        if ptype is _EVENT:
            return (b"2" + body if ack_id is None else b"2%d" % ack_id + body), []
        if ptype is _ACK and ack_id is not None:
            return b"3%d" % ack_id + body, []
    return _head(ptype, packet.namespace, packet.id, 0).encode() + body, []


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Limits enforced while decoding what a peer sends."""

    max_attachments: int = 100
    max_namespace_length: int = 256
    max_event_name_length: int = 512
    max_ack_id_digits: int = 15
    max_json_depth: int = 500


_DEFAULT_LIMITS = DecodeLimits()


def _fail(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(message)


def valid_payload(ptype: SocketPacketType, payload: Any, limits: DecodeLimits) -> bool:
    if ptype in _EVENT_TYPES:
        if type(payload) is not list or not payload:
            return False
        name = payload[0]
        if type(name) is str:
            return name not in RESERVED_EVENTS and len(name) <= limits.max_event_name_length
        return isinstance(name, (int, float)) and not isinstance(name, bool)
    if ptype in _ACK_TYPES:
        return type(payload) is list
    if ptype is _CONNECT:
        return isinstance(payload, dict)
    if ptype is _CONNECT_ERROR:
        return isinstance(payload, (str, dict))
    return False  # DISCONNECT carries no payload


_STRUCTURE = re.compile(r'[\[\]{}"\\]')
_ACK_ID = re.compile(r"[0-9]+")


def _too_deep(text: str, start: int, limit: int) -> bool:
    """Whether the JSON in ``text[start:]`` nests deeper than ``limit`` (cheap unless it has many brackets)."""
    if text.count("[", start) + text.count("{", start) <= limit:
        return False
    depth = 0
    in_string = False
    escaped_at = -2
    for match in _STRUCTURE.finditer(text, start):
        char = match.group()
        position = match.start()
        if in_string:
            if char == "\\":
                if escaped_at != position - 1:
                    escaped_at = position
            elif char == '"' and escaped_at != position - 1:
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


def decode_text(text: str, limits: DecodeLimits = _DEFAULT_LIMITS) -> SocketPacket:
    """Decode the text part of a packet. Raises :class:`RemoteProtocolError` on anything invalid.

    A BINARY_* packet comes back with ``attachments`` > 0 and placeholders still in ``data``.
    """
    n = len(text)
    if n == 0:
        raise _fail("empty packet")
    ptype = _TYPE_BY_CHAR.get(text[0])
    if ptype is None:
        raise _fail(f"unknown packet type {text[0]!r}")
    i = 1
    attachments = 0
    if ptype is _BINARY_EVENT or ptype is _BINARY_ACK:
        dash = text.find("-", 1, 1 + 12)
        count = text[1:dash] if dash > 0 else ""
        if not count or not count.isdigit() or not count.isascii():
            raise _fail("illegal attachments")
        attachments = int(count)
        if attachments > limits.max_attachments:
            raise _fail(f"too many attachments ({attachments} > {limits.max_attachments})")
        i = dash + 1
    namespace = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = n if comma < 0 else comma
        namespace = text[i:end]
        if len(namespace) > limits.max_namespace_length:
            raise _fail("namespace too long")
        i = end + 1 if comma >= 0 else n
    ack_id: int | None = None
    if i < n and text[i] in _DIGITS:
        end = text.find("[", i)  # an ack id is followed by the payload's array, almost always
        if end < 0 or not (text[i:end].isdigit() and text[i:end].isascii()):
            match = _ACK_ID.match(text, i)
            assert match is not None
            end = match.end()
        if end - i > limits.max_ack_id_digits:
            raise _fail("ack id too large")
        ack_id = int(text[i:end])
        i = end
    data: Any = None
    if i < n:
        if n - i > limits.max_json_depth and _too_deep(text, i, limits.max_json_depth):
            raise _fail("payload nested too deeply")
        try:
            data = loads(text[i:])
        except (ValueError, RecursionError) as exc:
            raise _fail("invalid payload") from exc
        if not valid_payload(ptype, data, limits):
            raise _fail("invalid payload")
    elif ptype in _EVENT_TYPES or ptype is _CONNECT_ERROR:
        raise _fail("missing payload")
    elif ptype in _ACK_TYPES:
        data = []
    if ack_id is None and ptype in _ACK_TYPES:
        raise _fail("ack without id")
    return _new_tuple(SocketPacket, (ptype, namespace, data, ack_id, attachments))


class PacketDecoder:
    """Reassembles packets from Engine.IO messages: text first, then its binary attachments.

    Call :meth:`feed_text` for a text message and :meth:`feed_binary` for a binary one; each returns
    a complete :class:`SocketPacket` or ``None`` while attachments are still expected.
    """

    __slots__ = ("_buffers", "_limits", "_pending")

    def __init__(self, limits: DecodeLimits = _DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._pending: SocketPacket | None = None
        self._buffers: list[bytes] = []

    @property
    def awaiting_attachments(self) -> bool:
        return self._pending is not None

    def feed_text(self, text: str) -> SocketPacket | None:
        if self._pending is not None:
            raise _fail("got text while waiting for binary attachments")
        packet = decode_text(text, self._limits)
        if packet.attachments:
            self._pending = packet
            self._buffers = []
            return None
        return packet

    def feed_binary(self, data: bytes) -> SocketPacket | None:
        pending = self._pending
        if pending is None:
            raise _fail("got binary data without a packet")
        self._buffers.append(data)
        if len(self._buffers) < pending.attachments:
            return None
        buffers = self._buffers
        self._pending = None
        self._buffers = []
        try:
            data_out = reconstruct(pending.data, buffers)
        except RecursionError as exc:
            raise _fail("payload nested too deeply") from exc
        return SocketPacket(pending.type, pending.namespace, data_out, pending.id, pending.attachments)

    def reset(self) -> None:
        self._pending = None
        self._buffers = []
