"""Socket.IO parsers: how packets become Engine.IO messages and back.

The default :class:`JsonParser` is the official text format with binary attachments; the msgpack
parser (extra ``socketeer[msgpack]``) implements the same two methods.
"""

from __future__ import annotations

from typing import Protocol

from .socketio_packets import DecodeLimits, PacketDecoder, SocketPacket, encode_packet
from .wire import WireMessage

__all__ = ["Decoder", "JsonParser", "Parser"]


class Decoder(Protocol):
    def feed_text(self, text: str) -> SocketPacket | None: ...
    def feed_binary(self, data: bytes) -> SocketPacket | None: ...


class Parser(Protocol):
    name: str

    def encode(self, packet: SocketPacket, volatile: bool = False) -> WireMessage: ...
    def decoder(self, limits: DecodeLimits) -> Decoder: ...


class JsonParser:
    """The default Socket.IO parser (``socket.io-parser``)."""

    name = "json"

    def encode(self, packet: SocketPacket, volatile: bool = False) -> WireMessage:
        text, attachments = encode_packet(packet)
        return WireMessage(b"4" + text, tuple(attachments), volatile)

    def decoder(self, limits: DecodeLimits) -> Decoder:
        return PacketDecoder(limits)
