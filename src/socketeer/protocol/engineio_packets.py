"""Engine.IO v4 packets: one character of type, then the data.

Text packets travel as ``<type><data>``. A binary message travels as a raw binary WebSocket frame,
or as ``b<base64>`` inside a polling payload. Polling payloads join packets with the record
separator ``\\x1e``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum

from ..exceptions import RemoteProtocolError

__all__ = [
    "RECORD_SEPARATOR",
    "EnginePacket",
    "EnginePacketType",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
    "encode_payload_packet",
]

RECORD_SEPARATOR = "\x1e"


class EnginePacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPES = tuple(EnginePacketType)
_TYPE_BY_CHAR = {str(int(t)): t for t in EnginePacketType}


@dataclass(frozen=True, slots=True)
class EnginePacket:
    """One Engine.IO packet. ``data`` is ``bytes`` only for a binary MESSAGE."""

    type: EnginePacketType
    data: str | bytes = ""


def encode_packet(packet: EnginePacket) -> str | bytes:
    """Encode for a WebSocket frame: ``str`` for a text frame, ``bytes`` for a binary frame."""
    if isinstance(packet.data, bytes):
        if packet.type is not EnginePacketType.MESSAGE:
            raise ValueError("only MESSAGE packets may carry binary data")
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def encode_payload_packet(packet: EnginePacket) -> str:
    """Encode for a polling payload: binary data becomes ``b<base64>``."""
    if isinstance(packet.data, bytes):
        return "b" + binascii.b2a_base64(packet.data, newline=False).decode("ascii")
    return f"{int(packet.type)}{packet.data}"


def decode_packet(data: str | bytes) -> EnginePacket:
    """Decode one packet as received in a WebSocket frame (``bytes`` is a binary message).

    Raises :class:`RemoteProtocolError` for anything that is not a valid packet.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        return EnginePacket(EnginePacketType.MESSAGE, bytes(data))
    if not data:
        raise RemoteProtocolError("empty packet")
    ptype = _TYPE_BY_CHAR.get(data[0])
    if ptype is None:
        raise RemoteProtocolError(f"unknown packet type {data[0]!r}")
    return EnginePacket(ptype, data[1:])


def _decode_payload_packet(text: str) -> EnginePacket:
    if text[:1] == "b":
        try:
            return EnginePacket(
                EnginePacketType.MESSAGE, base64.b64decode(text[1:].encode("ascii"), validate=True)
            )
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise RemoteProtocolError("invalid base64 in binary packet") from exc
    return decode_packet(text)


def encode_payload(packets: list[EnginePacket]) -> str:
    """Join packets for one polling response."""
    return RECORD_SEPARATOR.join([encode_payload_packet(p) for p in packets])


def decode_payload(payload: str, *, max_packets: int | None = None) -> list[EnginePacket]:
    """Split and decode a polling payload. Raises :class:`RemoteProtocolError` on any bad packet."""
    parts = payload.split(RECORD_SEPARATOR)
    if max_packets is not None and len(parts) > max_packets:
        raise RemoteProtocolError(f"too many packets in payload ({len(parts)} > {max_packets})")
    return [_decode_payload_packet(part) for part in parts]
