"""Engine.IO v3 (``EIO=3``) framing, for the clients of socket.io-client 2.x (``allow_eio3``).

Packets are the v4 ones (a type digit, then the data) with two differences: over WebSocket a binary
message carries its type too (a first byte ``0x04``), and polling payloads are length-prefixed:

- a text payload is ``<length>:<packet>`` for each packet, the length counted in UTF-16 code units
  (JavaScript string length), a binary message written ``b4<base64>``;
- a binary payload (sent when the client supports binary and a packet is binary) is, for each packet,
  a byte ``0`` (text) or ``1`` (binary), the decimal digits of the length as bytes 0-9, a byte 255,
  then the packet: UTF-8 text, or the type byte and the data.

Pure functions; the transport decides which payload form a client gets (``b64`` in the handshake
query means text only).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from ..exceptions import RemoteProtocolError
from .engineio_packets import EnginePacket, EnginePacketType, decode_packet

__all__ = [
    "decode_binary_payload",
    "decode_text_payload",
    "decode_ws_binary",
    "encode_binary_payload",
    "encode_text_payload",
    "encode_ws_binary",
    "text_segment",
    "utf16_length",
]

_MESSAGE = EnginePacketType.MESSAGE
_MAX_LENGTH_DIGITS = 310  # as the official parser: longer lengths are an error


def utf16_length(text: str) -> int:
    """The length of ``text`` as JavaScript counts it (astral characters count two)."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def text_segment(data: str | bytes) -> str:
    """One packet in a text payload, unframed: a text packet as is, a binary message ``b4<base64>``."""
    if isinstance(data, bytes):
        return "b4" + binascii.b2a_base64(data, newline=False).decode("ascii")
    return data


def encode_text_payload(packets: Iterable[str | bytes]) -> str:
    """Frame packets (encoded text packets such as ``"4hello"``, or binary messages) as a text payload."""
    out = []
    for packet in packets:
        segment = text_segment(packet)
        out.append(f"{utf16_length(segment)}:{segment}")
    return "".join(out)


def encode_binary_payload(packets: Iterable[str | bytes]) -> bytes:
    """Frame packets as a binary payload: text packets as UTF-8, binary messages with their type byte."""
    out = bytearray()
    for packet in packets:
        if isinstance(packet, bytes):
            body = b"\x04" + packet
            out.append(1)
        else:
            body = packet.encode()
            out.append(0)
        out += bytes(int(d) for d in str(len(body)))
        out.append(255)
        out += body
    return bytes(out)


def encode_ws_binary(data: bytes) -> bytes:
    """A binary message as a v3 WebSocket frame's payload."""
    return b"\x04" + data


def decode_ws_binary(data: bytes) -> bytes:
    """The message in a v3 binary WebSocket frame; raises :class:`RemoteProtocolError` if not one."""
    if data[:1] != b"\x04":
        raise RemoteProtocolError("a v3 binary frame must be a MESSAGE (type byte 4)")
    return data[1:]


def _decode_segment(text: str) -> EnginePacket:
    if text[:1] == "b":
        if text[1:2] != "4":
            raise RemoteProtocolError("only MESSAGE packets may carry binary data")
        try:
            return EnginePacket(_MESSAGE, base64.b64decode(text[2:].encode("ascii"), validate=True))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise RemoteProtocolError("invalid base64 in binary packet") from exc
    return decode_packet(text)


def _check_count(packets: list[EnginePacket], max_packets: int | None) -> None:
    if max_packets is not None and len(packets) > max_packets:
        raise RemoteProtocolError(f"too many packets in payload (> {max_packets})")


def decode_text_payload(payload: str, *, max_packets: int | None = None) -> list[EnginePacket]:
    """Split and decode a v3 text payload. Raises :class:`RemoteProtocolError` on any framing error."""
    if not payload:
        raise RemoteProtocolError("empty payload")
    packets: list[EnginePacket] = []
    pos = 0
    end = len(payload)
    while pos < end:
        colon = payload.find(":", pos)
        digits = payload[pos:colon] if colon >= 0 else ""
        if not digits or not digits.isdigit() or not digits.isascii() or len(digits) > _MAX_LENGTH_DIGITS:
            raise RemoteProtocolError("invalid length in payload")
        length = int(digits)
        start = colon + 1
        # the length counts UTF-16 code units: walk characters until that many are covered
        stop = start + length
        if not payload[start:stop].isascii():
            units = 0
            stop = start
            while units < length and stop < end:
                units += 2 if ord(payload[stop]) > 0xFFFF else 1
                stop += 1
            if units != length:
                raise RemoteProtocolError("packet length does not match")
        if stop > end:
            raise RemoteProtocolError("payload shorter than its packet length")
        if length:
            packets.append(_decode_segment(payload[start:stop]))
            _check_count(packets, max_packets)
        pos = stop
    return packets


def decode_binary_payload(payload: bytes, *, max_packets: int | None = None) -> list[EnginePacket]:
    """Split and decode a v3 binary payload. Raises :class:`RemoteProtocolError` on any framing error."""
    packets: list[EnginePacket] = []
    pos = 0
    end = len(payload)
    if not end:
        raise RemoteProtocolError("empty payload")
    while pos < end:
        kind = payload[pos]
        if kind not in (0, 1):
            raise RemoteProtocolError("invalid packet kind in binary payload")
        marker = payload.find(b"\xff", pos + 1)
        digits = payload[pos + 1 : marker] if marker >= 0 else b""
        if not digits or len(digits) > _MAX_LENGTH_DIGITS or any(d > 9 for d in digits):
            raise RemoteProtocolError("invalid length in binary payload")
        length = int("".join(str(d) for d in digits))
        start = marker + 1
        stop = start + length
        if stop > end or length == 0:
            raise RemoteProtocolError("invalid packet length in binary payload")
        body = payload[start:stop]
        if kind == 0:
            try:
                packets.append(decode_packet(body.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise RemoteProtocolError("text packet is not UTF-8") from exc
        else:
            if body[0] != _MESSAGE:
                raise RemoteProtocolError("only MESSAGE packets may carry binary data")
            packets.append(EnginePacket(_MESSAGE, body[1:]))
        _check_count(packets, max_packets)
        pos = stop
    return packets
