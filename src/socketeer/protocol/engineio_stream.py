"""Engine.IO packets on a byte stream: the framing of the WebTransport transport.

Each packet is a header then the encoded packet. The header's first byte holds a flag in its high bit
(``1``: the payload is a binary MESSAGE, its raw bytes; ``0``: the payload is the UTF-8 text form of a
packet, type digit included) and a length in its low seven bits: a length under 126 is the length
itself, ``126`` means the length follows in two bytes, ``127`` in eight (big endian), as in a
WebSocket frame header. This is the framing of engine.io-parser's packet encoder and decoder streams.

:class:`StreamDecoder` is incremental and sans-I/O: feed it the chunks as they arrive, take the
frames it returns. It refuses an empty frame and a frame longer than its ``max_payload`` as soon as
the header says so (before the payload is buffered), as the official decoder does.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..exceptions import RemoteProtocolError

__all__ = ["StreamDecoder", "StreamFrame", "encode_stream_frame"]

_BINARY_FLAG = 0x80
_U16 = struct.Struct(">H")
_U64 = struct.Struct(">Q")
_MAX_SAFE_INTEGER = 2**53 - 1  # what the official decoder can represent


class StreamFrame(NamedTuple):
    """One decoded frame: ``binary`` says whether ``data`` is a binary MESSAGE's bytes or a text packet."""

    binary: bool
    data: bytes


def encode_stream_frame(data: bytes, binary: bool = False) -> bytes:
    """The header and payload of one frame (``data``: a text packet's UTF-8 bytes, or binary bytes)."""
    length = len(data)
    flag = _BINARY_FLAG if binary else 0
    if length < 126:
        header = bytes((flag | length,))
    elif length < 65536:
        header = bytes((flag | 126,)) + _U16.pack(length)
    else:
        header = bytes((flag | 127,)) + _U64.pack(length)
    return header + data


class StreamDecoder:
    """Turns the bytes of one stream into :class:`StreamFrame` objects.

    Call :meth:`feed` with each chunk received; it returns the frames completed by that chunk, or
    raises :class:`~socketeer.exceptions.RemoteProtocolError` (empty frame, frame over
    ``max_payload``). After an error the decoder is spent: every later call raises again.
    """

    __slots__ = ("_binary", "_buffer", "_error", "_length", "max_payload")

    def __init__(self, max_payload: int) -> None:
        if max_payload < 1:
            raise ValueError("max_payload must be positive")
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._length = -1  # the payload length once the header is complete, else -1
        self._binary = False
        self._error: str | None = None

    @property
    def buffered(self) -> int:
        """How many bytes are held waiting for the rest of a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[StreamFrame]:
        if self._error is not None:
            raise RemoteProtocolError(self._error)
        buffer = self._buffer
        buffer += data
        frames: list[StreamFrame] = []
        position = 0
        end = len(buffer)
        while True:
            length = self._length
            if length < 0:
                if position >= end:
                    break
                first = buffer[position]
                short = first & 0x7F
                if short < 126:
                    length, size = short, 1
                elif short == 126:
                    if end - position < 3:
                        break
                    length, size = _U16.unpack_from(buffer, position + 1)[0], 3
                else:
                    if end - position < 9:
                        break
                    length, size = _U64.unpack_from(buffer, position + 1)[0], 9
                if length == 0:
                    self._fail("empty frame")
                if length > self.max_payload or length > _MAX_SAFE_INTEGER:
                    self._fail(f"frame of {length} bytes over the limit of {self.max_payload}")
                position += size
                self._length = length
                self._binary = bool(first & _BINARY_FLAG)
            if end - position < length:
                break
            frames.append(StreamFrame(self._binary, bytes(buffer[position : position + length])))
            position += length
            self._length = -1
        if position:
            del buffer[:position]
        return frames

    def _fail(self, message: str) -> None:
        self._error = message
        self._buffer.clear()
        raise RemoteProtocolError(message)
