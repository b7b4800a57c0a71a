"""RFC 6455 WebSocket codec: frames, messages and the HTTP/1.1 opening handshake.

Pure and sans-I/O: bytes in, messages and bytes out. Standard library only (the C unmasking routine of
``websockets.speedups`` is used when importable). Both roles are supported: a server reads masked frames and
writes unmasked ones, a client the reverse. No extension is ever negotiated, so the RSV bits must be 0.

The hot paths are :func:`build_text_frame` / :func:`build_binary_frame` (one call per delivered message) and
:meth:`FrameReader.feed` (one call per ``data_received``); both avoid per-byte loops and repeated copies.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum

__all__ = [
    "CloseCode",
    "FrameReader",
    "InvalidHandshake",
    "Opcode",
    "WebSocketProtocolError",
    "accept_key",
    "apply_mask",
    "build_binary_frame",
    "build_close_frame",
    "build_frame",
    "build_handshake_request",
    "build_handshake_response",
    "build_text_frame",
    "check_handshake_request",
    "check_handshake_response",
    "generate_client_key",
    "generate_mask",
    "header_tokens",
    "parse_close_payload",
    "validate_client_key",
]


class Opcode(IntEnum):
    """Frame opcodes (RFC 6455 §5.2)."""

    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class CloseCode(IntEnum):
    """Close codes this library sends (RFC 6455 §7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


class WebSocketProtocolError(Exception):
    """The peer broke RFC 6455; ``close_code`` is the code to close the connection with."""

    close_code: int
    reason: str

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(close_code, reason)
        self.close_code = close_code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (close code {self.close_code})"


# --------------------------------------------------------------------------------------------------------
# Masking


def _apply_mask_py(data: bytes, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, using one big-integer XOR (no per-byte loop)."""
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    size = len(data)
    if not size:
        return b""
    key = int.from_bytes((mask * ((size + 3) >> 2))[:size], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(size, "little")


apply_mask: Callable[[bytes, bytes], bytes]
"""Mask or unmask ``data`` with the 4-byte key ``mask`` (the operation is its own inverse)."""

try:
    from websockets.speedups import apply_mask as _c_apply_mask
except ImportError:  # pragma: no cover - depends on the environment
    apply_mask = _apply_mask_py
else:
    apply_mask = _c_apply_mask


def generate_mask() -> bytes:
    """Return a fresh random 4-byte masking key (client role)."""
    return os.urandom(4)


# --------------------------------------------------------------------------------------------------------
# Building frames

_pack_H = struct.Struct("!H").pack
_pack_BB = struct.Struct("!BB").pack
_pack_BBH = struct.Struct("!BBH").pack
_pack_BBQ = struct.Struct("!BBQ").pack
_unpack_Q_from = struct.Struct("!Q").unpack_from


def _short_headers(first: int) -> tuple[bytes, ...]:
    """The 2-byte unmasked headers for payload lengths 0..125 behind first byte ``first``."""
    return tuple(bytes((first, length)) for length in range(126))


# opcode -> headers by length for final frames; for non-final frames (data opcodes only).
_FIN_HEADERS: dict[int, tuple[bytes, ...]] = {op: _short_headers(0x80 | op) for op in (0, 1, 2, 8, 9, 10)}
_MORE_HEADERS: dict[int, tuple[bytes, ...]] = {op: _short_headers(op) for op in (0, 1, 2)}
_TEXT_HEADERS = _FIN_HEADERS[1]
_BINARY_HEADERS = _FIN_HEADERS[2]


def build_text_frame(payload: bytes) -> bytes:
    """Unmasked final TEXT frame (server role); ``payload`` must already be UTF-8."""
    size = len(payload)
    if size < 126:
        return _TEXT_HEADERS[size] + payload
    if size < 65536:
        return _pack_BBH(0x81, 126, size) + payload
    return _pack_BBQ(0x81, 127, size) + payload


def build_binary_frame(payload: bytes) -> bytes:
    """Unmasked final BINARY frame (server role)."""
    size = len(payload)
    if size < 126:
        return _BINARY_HEADERS[size] + payload
    if size < 65536:
        return _pack_BBH(0x82, 126, size) + payload
    return _pack_BBQ(0x82, 127, size) + payload


def build_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None, rsv1: bool = False
) -> bytes:
    """Serialize one frame.

    Server frames are unmasked (``mask=None``); client frames are masked with the given 4-byte key (see
    :func:`generate_mask`). ``rsv1`` marks the first frame of a compressed message (permessage-deflate,
    data frames only). Raises ``ValueError`` for an unknown opcode, a non-final or over-125-byte control
    frame, RSV1 on a control or continuation frame, or a mask that is not 4 bytes long.
    """
    try:
        headers = _FIN_HEADERS[opcode] if fin else _MORE_HEADERS[opcode]
    except KeyError:
        if opcode in _FIN_HEADERS:
            raise ValueError("control frames cannot be fragmented") from None
        raise ValueError(f"invalid opcode: {opcode!r}") from None
    size = len(payload)
    if opcode >= 8 and size > 125:
        raise ValueError("control frame payload must be at most 125 bytes")
    first = headers[0][0]
    if rsv1:
        if opcode not in (1, 2):
            raise ValueError("only the first frame of a text or binary message may set RSV1")
        first |= 0x40
    if mask is None:
        if size < 126:
            return (headers[size] if not rsv1 else _pack_BB(first, size)) + payload
        if size < 65536:
            return _pack_BBH(first, 126, size) + payload
        return _pack_BBQ(first, 127, size) + payload
    masked = apply_mask(payload, mask)  # validates the mask length
    if size < 126:
        header = _pack_BB(first, 0x80 | size)
    elif size < 65536:
        header = _pack_BBH(first, 0xFE, size)
    else:
        header = _pack_BBQ(first, 0xFF, size)
    return header + mask + masked


# Close codes a peer may put on the wire (RFC 6455 §7.4.1 and the IANA registry); 3000-4999 also allowed.
_WIRE_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


def _is_wire_close_code(code: int) -> bool:
    return code in _WIRE_CLOSE_CODES or 3000 <= code < 5000


def build_close_frame(code: int = 1000, reason: str = "", *, mask: bytes | None = None) -> bytes:
    """Serialize a CLOSE frame. ``code=1005`` ("no status") sends an empty body.

    Raises ``ValueError`` if the code may not be sent or the UTF-8 reason exceeds 123 bytes.
    """
    if code == 1005:
        if reason:
            raise ValueError("a close frame without a status code cannot carry a reason")
        payload = b""
    else:
        if not _is_wire_close_code(code):
            raise ValueError(f"close code {code} may not be sent")
        payload = _pack_H(code) + reason.encode()
        if len(payload) > 125:
            raise ValueError("close reason must be at most 123 bytes of UTF-8")
    return build_frame(Opcode.CLOSE, payload, mask=mask)


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Decode a CLOSE frame body into ``(code, reason)``; an empty body gives ``(1005, "")``.

    Raises :class:`WebSocketProtocolError` (1002 for a bad length or code, 1007 for a non-UTF-8 reason).
    """
    size = len(payload)
    if size == 0:
        return 1005, ""
    if size == 1:
        raise WebSocketProtocolError(1002, "close frame too short")
    if size > 125:
        raise WebSocketProtocolError(1002, "control frame too long")
    code = (payload[0] << 8) | payload[1]
    if not _is_wire_close_code(code):
        raise WebSocketProtocolError(1002, f"invalid close code {code}")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise WebSocketProtocolError(1007, "close reason is not valid UTF-8") from None
    return code, reason


# --------------------------------------------------------------------------------------------------------
# Reading frames


def _first_byte_error(first: int, rsv1_allowed: bool = False) -> str | None:
    if first & 0x70:
        opcode = first & 0x0F
        if not (rsv1_allowed and first & 0x70 == 0x40 and opcode in (1, 2)):
            return "reserved bits must be 0"
    opcode = first & 0x0F
    if opcode not in (0, 1, 2, 8, 9, 10):
        return f"invalid opcode {opcode:#x}"
    if opcode >= 8 and not first & 0x80:
        return "fragmented control frame"
    return None


# First byte of a frame -> why it is invalid, or None: RSV bits, opcode and control-frame FIN in one lookup.
_FIRST_BYTE_ERRORS: tuple[str | None, ...] = tuple(_first_byte_error(first) for first in range(256))
# The same with permessage-deflate negotiated: RSV1 allowed on the first frame of a data message.
_FIRST_BYTE_ERRORS_DEFLATE: tuple[str | None, ...] = tuple(
    _first_byte_error(first, rsv1_allowed=True) for first in range(256)
)
# Opcode value -> member (invalid values never reach the lookup: _FIRST_BYTE_ERRORS rejects them first).
_OPCODES: tuple[Opcode, ...] = tuple(
    Opcode(v) if v in (0, 1, 2, 8, 9, 10) else Opcode.CONTINUATION for v in range(16)
)
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_MAX_LENGTH = (1 << 63) - 1


class FrameReader:
    """Incremental parser from the received byte stream to complete messages.

    ``feed(data)`` returns ``(opcode, data)`` for each message completed so far: TEXT as ``str`` (UTF-8
    validated, reassembled across CONTINUATION frames), BINARY as ``bytes``, and CLOSE / PING / PONG with
    their raw ``bytes`` payload (control frames may arrive between the fragments of a message). Any RFC 6455
    violation raises :class:`WebSocketProtocolError` carrying the close code to send; the reader then stays
    failed and every further ``feed`` raises the same error.

    ``client_side=False`` (server role): incoming frames must be masked. ``client_side=True``: they must not
    be. A frame or reassembled message longer than ``max_message_size`` fails with 1009 as soon as its
    header is read, before any of its payload is buffered.

    ``inflate`` (with permessage-deflate negotiated, see :mod:`.permessage_deflate`) decompresses the
    payload of a message whose first frame has RSV1 set; it raises :class:`WebSocketProtocolError` for
    bad data or a message over the limit. Without it, any reserved bit fails the connection.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_error",
        "_first_errors",
        "_frag_compressed",
        "_frag_decoder",
        "_frag_opcode",
        "_frag_parts",
        "_frag_size",
        "_frag_text",
        "_inflate",
        "_mask_bit",
        "_max_size",
        "_need",
    )

    def __init__(
        self,
        *,
        client_side: bool = False,
        max_message_size: int = 1_000_000,
        inflate: Callable[[bytes], bytes] | None = None,
    ) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must be >= 0")
        self._inflate = inflate
        self._first_errors = _FIRST_BYTE_ERRORS if inflate is None else _FIRST_BYTE_ERRORS_DEFLATE
        self._frag_compressed = False
        self._mask_bit = 0 if client_side else 0x80
        self._max_size = min(max_message_size, _MAX_LENGTH)
        self._chunks: list[bytes] = []  # unparsed input, first chunk starts on a frame boundary
        self._buffered = 0  # total length of _chunks
        self._need = 0  # bytes needed in _chunks before parsing can progress
        self._frag_opcode = 0  # TEXT or BINARY while a fragmented message is in progress, else 0
        self._frag_size = 0
        self._frag_parts: list[bytes] | None = None  # fragments of a BINARY message
        self._frag_text: list[str] | None = None  # decoded fragments of a TEXT message
        self._frag_decoder: codecs.IncrementalDecoder | None = None
        self._error: WebSocketProtocolError | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes received but not parsed yet (an incomplete frame)."""
        return self._buffered

    def feed(self, data: bytes) -> list[tuple[int, bytes | str]]:
        """Consume received bytes; return the messages they complete (possibly none)."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        if data.__class__ is not bytes:
            data = bytes(data)
        chunks = self._chunks
        if chunks:
            chunks.append(data)
            self._buffered += len(data)
            if self._buffered < self._need:
                return []
            data = b"".join(chunks)
            chunks.clear()
            self._buffered = 0
        try:
            out: list[tuple[int, bytes | str]] = []
            first_errors = self._first_errors
            mask_bit = self._mask_bit
            max_size = self._max_size
            end_of_data = len(data)
            pos = 0
            while True:
                available = end_of_data - pos
                if available < 2:
                    need = 2
                    break
                first = data[pos]
                second = data[pos + 1]
                error = first_errors[first]
                if error is not None:
                    raise WebSocketProtocolError(1002, error)
                if second & 0x80 != mask_bit:
                    raise WebSocketProtocolError(
                        1002,
                        "incoming frame must be masked" if mask_bit else "incoming frame must not be masked",
                    )
                length = second & 0x7F
                if length < 126:
                    header = 2
                elif length == 126:
                    if available < 4:
                        need = 4
                        break
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    header = 4
                else:
                    if available < 10:
                        need = 10
                        break
                    length = _unpack_Q_from(data, pos + 2)[0]
                    if length > _MAX_LENGTH:
                        raise WebSocketProtocolError(
                            1002, "most significant bit of a 64-bit length must be 0"
                        )
                    header = 10
                opcode = first & 0x0F
                if opcode >= 8:
                    if length > 125:
                        raise WebSocketProtocolError(1002, "control frame too long")
                elif opcode:
                    if self._frag_opcode:
                        raise WebSocketProtocolError(1002, "expected a continuation frame")
                    if length > max_size:
                        raise WebSocketProtocolError(
                            1009, f"frame of {length} bytes exceeds the limit of {max_size}"
                        )
                else:
                    if not self._frag_opcode:
                        raise WebSocketProtocolError(1002, "unexpected continuation frame")
                    if self._frag_size + length > max_size:
                        raise WebSocketProtocolError(
                            1009,
                            f"message of {self._frag_size + length} bytes exceeds the limit of {max_size}",
                        )
                if mask_bit:
                    header += 4
                end = pos + header + length
                if end > end_of_data:
                    need = header + length
                    break
                if mask_bit:
                    start = pos + header
                    payload = apply_mask(data[start:end], data[start - 4 : start])
                else:
                    payload = data[pos + header : end]
                pos = end

                if first == 0x81:
                    try:
                        out.append((_TEXT, payload.decode()))
                    except UnicodeDecodeError:
                        raise WebSocketProtocolError(1007, "invalid UTF-8 in text message") from None
                elif first == 0x82:
                    out.append((_BINARY, payload))
                elif opcode >= 8:
                    out.append((_OPCODES[opcode], payload))
                elif first & 0x40:
                    self._compressed(opcode, first & 0x80, payload, out)
                elif self._frag_compressed:
                    self._compressed_continuation(first & 0x80, payload, out)
                else:
                    self._fragment(opcode, first & 0x80, payload, out)
            if pos < end_of_data:
                self._chunks.append(data[pos:] if pos else data)
                self._buffered = end_of_data - pos
                self._need = need
            return out
        except WebSocketProtocolError as exc:
            self._error = exc
            self._chunks = []
            self._buffered = 0
            self._frag_parts = self._frag_text = self._frag_decoder = None
            self._frag_compressed = False
            raise

    def _compressed(self, opcode: int, fin: int, payload: bytes, out: list[tuple[int, bytes | str]]) -> None:
        """The first frame of a compressed message (RSV1 set; permessage-deflate negotiated)."""
        if fin:
            self._emit_inflated(opcode, payload, out)
            return
        self._frag_opcode = opcode
        self._frag_size = len(payload)
        self._frag_parts = [payload]
        self._frag_compressed = True

    def _compressed_continuation(self, fin: int, payload: bytes, out: list[tuple[int, bytes | str]]) -> None:
        parts = self._frag_parts
        assert parts is not None
        parts.append(payload)
        self._frag_size += len(payload)
        if not fin:
            return
        opcode = self._frag_opcode
        self._frag_opcode = 0
        self._frag_size = 0
        self._frag_parts = None
        self._frag_compressed = False
        self._emit_inflated(opcode, b"".join(parts), out)

    def _emit_inflated(self, opcode: int, payload: bytes, out: list[tuple[int, bytes | str]]) -> None:
        inflate = self._inflate
        assert inflate is not None
        data = inflate(payload)
        if opcode == 1:
            try:
                out.append((_TEXT, data.decode()))
            except UnicodeDecodeError:
                raise WebSocketProtocolError(1007, "invalid UTF-8 in text message") from None
        else:
            out.append((_BINARY, data))

    def _fragment(self, opcode: int, fin: int, payload: bytes, out: list[tuple[int, bytes | str]]) -> None:
        """Handle a frame of a fragmented message: a non-final TEXT/BINARY frame or a CONTINUATION frame.

        Text is decoded incrementally, so invalid UTF-8 fails as soon as the offending fragment arrives.
        """
        if opcode:
            self._frag_opcode = opcode
            self._frag_size = len(payload)
            if opcode == 1:
                decoder = self._frag_decoder = _Utf8Decoder()
                self._frag_text = [_decode_fragment(decoder, payload, False)]
            else:
                self._frag_parts = [payload]
            return
        self._frag_size += len(payload)
        message: str | bytes
        if self._frag_decoder is not None:
            text = self._frag_text
            assert text is not None
            text.append(_decode_fragment(self._frag_decoder, payload, fin))
            if not fin:
                return
            message = "".join(text)
        else:
            parts = self._frag_parts
            assert parts is not None
            parts.append(payload)
            if not fin:
                return
            message = b"".join(parts)
        out.append((_OPCODES[self._frag_opcode], message))
        self._frag_opcode = 0
        self._frag_size = 0
        self._frag_parts = self._frag_text = self._frag_decoder = None


def _decode_fragment(decoder: codecs.IncrementalDecoder, payload: bytes, final: int) -> str:
    try:
        return decoder.decode(payload, bool(final))
    except UnicodeDecodeError:
        raise WebSocketProtocolError(1007, "invalid UTF-8 in text message") from None


# --------------------------------------------------------------------------------------------------------
# Opening handshake (RFC 6455 §4, HTTP/1.1)

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def validate_client_key(key: str | None) -> str:
    """Return the client's ``Sec-WebSocket-Key`` stripped, or raise if it is absent or not 16 bytes base64."""
    if key is None:
        raise WebSocketProtocolError(1002, "missing Sec-WebSocket-Key header")
    key = key.strip()
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise WebSocketProtocolError(1002, "Sec-WebSocket-Key is not base64") from None
    if len(raw) != 16:
        raise WebSocketProtocolError(1002, "Sec-WebSocket-Key must encode 16 bytes")
    return key


def _header_lines(extra_headers: Sequence[tuple[str, str]]) -> str:
    lines = []
    for name, value in extra_headers:
        if not name or any(c in name for c in "\r\n:") or "\r" in value or "\n" in value:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines)


def build_handshake_response(key: str, extra_headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """The server's ``101 Switching Protocols`` response for the client's (validated) ``key``."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        f"{_header_lines(extra_headers) if extra_headers else ''}\r\n"
    ).encode("latin-1")


def generate_client_key() -> str:
    """A fresh random ``Sec-WebSocket-Key`` (client role)."""
    return base64.b64encode(os.urandom(16)).decode()


def build_handshake_request(
    host: str, path_and_query: str, key: str, extra_headers: Sequence[tuple[str, str]] = ()
) -> bytes:
    """The client's upgrade request (``GET`` with the WebSocket headers, version 13)."""
    target = path_and_query or "/"
    if any(c in target for c in " \r\n") or any(c in host for c in " \r\n/"):
        raise ValueError("invalid host or request target")
    return (
        f"GET {target} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        f"{_header_lines(extra_headers) if extra_headers else ''}\r\n"
    ).encode("latin-1")


def header_tokens(value: str | None) -> frozenset[str]:
    """The comma-separated tokens of a header value (RFC 9110 5.6.1), stripped and lowercased."""
    if not value:
        return frozenset()
    return frozenset(token for token in (part.strip().lower() for part in value.split(",")) if token)


class InvalidHandshake(Exception):
    """A client's opening handshake the server must refuse (RFC 6455 4.2.1-4.2.2).

    Answer with ``status`` (400, or 426 for a version we do not speak) and ``headers``.
    """

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.headers = headers

    def __str__(self) -> str:
        return f"{self.reason} (HTTP {self.status})"


_VERSION_HEADERS = (("Sec-WebSocket-Version", "13"),)


def check_handshake_request(method: str, http_version: str, headers: Mapping[str, str]) -> str:
    """Check a client's opening handshake (``headers`` keyed by lowercase name); return its key.

    Every requirement of RFC 6455 4.2.1 is enforced: a ``GET`` over HTTP/1.1 or later, a ``Host``,
    ``websocket`` among the ``Upgrade`` tokens and ``upgrade`` among the ``Connection`` tokens (both
    case-insensitive), a ``Sec-WebSocket-Key`` that is the base64 of 16 bytes, and
    ``Sec-WebSocket-Version: 13``. Raises :class:`InvalidHandshake`: status 426 with
    ``Sec-WebSocket-Version: 13`` for a missing or other version (4.2.2 and 4.4), 400 for the rest.
    """
    if method != "GET":
        raise InvalidHandshake(400, f"the opening handshake must be a GET request, not {method}")
    major, _, minor = http_version.partition(".")
    if not (major.isdigit() and minor.isdigit()) or (int(major), int(minor)) < (1, 1):
        raise InvalidHandshake(400, f"the opening handshake needs HTTP/1.1 or later, not HTTP/{http_version}")
    if not headers.get("host"):
        raise InvalidHandshake(400, "missing Host header")
    if "websocket" not in header_tokens(headers.get("upgrade")):
        raise InvalidHandshake(400, "missing websocket token in the Upgrade header")
    if "upgrade" not in header_tokens(headers.get("connection")):
        raise InvalidHandshake(400, "missing upgrade token in the Connection header")
    version = headers.get("sec-websocket-version")
    if version is None or version.strip() != "13":
        raise InvalidHandshake(
            426,
            "missing Sec-WebSocket-Version header"
            if version is None
            else f"unsupported Sec-WebSocket-Version {version.strip()[:20]!r}",
            _VERSION_HEADERS,
        )
    try:
        return validate_client_key(headers.get("sec-websocket-key"))
    except WebSocketProtocolError as exc:
        raise InvalidHandshake(400, exc.reason) from None


def check_handshake_response(
    status: int,
    headers: Mapping[str, str],
    key: str,
    *,
    extensions_offered: bool = False,
    subprotocols: Sequence[str] = (),
) -> None:
    """Check the server's answer to our upgrade request (``headers`` keyed by lowercase name).

    Requires status 101, ``websocket`` among the ``Upgrade`` tokens, ``upgrade`` among the ``Connection``
    tokens and the expected ``Sec-WebSocket-Accept``. A ``Sec-WebSocket-Extensions`` answer is refused
    unless ``extensions_offered`` (the caller then checks it against its offer), and a
    ``Sec-WebSocket-Protocol`` unless it is one of the ``subprotocols`` offered. Raises
    :class:`WebSocketProtocolError` otherwise.
    """
    if status != 101:
        raise WebSocketProtocolError(1002, f"handshake answered with status {status}, expected 101")
    if "websocket" not in header_tokens(headers.get("upgrade")):
        raise WebSocketProtocolError(1002, "missing or invalid Upgrade header (no websocket token)")
    if "upgrade" not in header_tokens(headers.get("connection")):
        raise WebSocketProtocolError(1002, "missing or invalid Connection header (no upgrade token)")
    accept = headers.get("sec-websocket-accept")
    if accept is None:
        raise WebSocketProtocolError(1002, "missing Sec-WebSocket-Accept header")
    if accept.strip() != accept_key(key):
        raise WebSocketProtocolError(1002, "wrong Sec-WebSocket-Accept header (not the answer to our key)")
    if headers.get("sec-websocket-extensions") and not extensions_offered:
        raise WebSocketProtocolError(1002, "server selected an extension that was not offered")
    protocol = headers.get("sec-websocket-protocol")
    if protocol is not None and protocol.strip() not in subprotocols:
        raise WebSocketProtocolError(
            1002, f"server selected subprotocol {protocol.strip()[:40]!r}, which was not offered"
        )
