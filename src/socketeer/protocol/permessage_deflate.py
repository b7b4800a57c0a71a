"""The WebSocket ``permessage-deflate`` extension (RFC 7692): negotiation and the per-message codec. Pure.

Negotiation: :func:`parse_extensions` reads a ``Sec-WebSocket-Extensions`` header (RFC 6455 9.1);
a server picks the first offer it can honour with :func:`accept_offer` and answers with
:meth:`DeflateParams.header`; a client sends :func:`client_offer` and checks the answer with
:func:`accept_response`. An offer the server cannot honour is declined (the connection goes on
uncompressed), as RFC 7692 section 5 says.

Messages: :class:`DeflateCodec` holds one connection's zlib streams. :meth:`DeflateCodec.compress` and
:meth:`DeflateCodec.decompress` work on message payloads (the ``00 00 ff ff`` tail removed and
restored, section 7.2.1); :meth:`DeflateCodec.message_frames` turns a :class:`~.wire.WireMessage` into
frames, compressing each packet of at least ``threshold`` bytes unless the message was sent with
``compress(False)``. Incoming messages are always inflated with a 32 KiB window, which reads whatever
window the peer chose, so only the window we compress with is constrained by the agreement.

zlib cannot deflate raw streams with an 8-bit window, so an agreement that would make us compress with
``max_window_bits=8`` is declined by a server and fails the handshake on a client.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .websocket_frames import WebSocketProtocolError, build_frame
from .wire import WireMessage

__all__ = [
    "EXTENSION",
    "DeflateCodec",
    "DeflateParams",
    "PerMessageDeflate",
    "accept_offer",
    "accept_response",
    "client_offer",
    "parse_extensions",
]

EXTENSION = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"
_PARAMS = frozenset(
    (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    )
)

Extension = tuple[str, list[tuple[str, str | None]]]
"""An extension of a header: its name and its parameters (``None`` for a parameter without value)."""


@dataclass(frozen=True, slots=True)
class PerMessageDeflate:
    """``permessage-deflate`` options, as the official ``perMessageDeflate`` (the ``ws`` options).

    Messages (each Engine.IO packet) of at least ``threshold`` bytes are compressed at zlib ``level``
    (-1: zlib's default) with ``mem_level``. ``server_no_context_takeover`` /
    ``client_no_context_takeover`` ask that the server's / the client's compressor start afresh with
    each message (less memory between messages, less compression); ``server_max_window_bits`` /
    ``client_max_window_bits`` (9..15) bound their LZ77 windows. A server uses them in its answer
    (``client_max_window_bits`` only when the client offers to take it); a client puts them in its
    offer, and always offers ``client_max_window_bits`` so that the server may choose.
    """

    threshold: int = 1024
    level: int = -1
    mem_level: int = 8
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError("threshold must be >= 0")
        if not -1 <= self.level <= 9:
            raise ValueError("level must be -1 (zlib's default) or 0..9")
        if not 1 <= self.mem_level <= 9:
            raise ValueError("mem_level must be 1..9")
        for bits in (self.server_max_window_bits, self.client_max_window_bits):
            if bits is not None and not 9 <= bits <= 15:
                raise ValueError("max_window_bits must be 9..15 (zlib cannot deflate with 8)")


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """What the two ends agreed on for one connection.

    ``client_max_window_bits`` is ``None`` when the server's answer did not bound the client's window.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None

    def header(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value that states this agreement (the server's answer)."""
        parts = [EXTENSION]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits is not None:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits is not None:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


# -- header grammar (RFC 6455 9.1, RFC 9110 5.6) ------------------------------------------------------

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Scanner:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_spaces(self) -> None:
        text = self.text
        while self.pos < len(text) and text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        self.skip_spaces()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        self.skip_spaces()
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] in _TCHAR:
            self.pos += 1
        if self.pos == start:
            raise ValueError(f"expected a token at position {start}")
        return text[start : self.pos]

    def quoted(self) -> str:
        self.pos += 1  # the opening quote
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            self.pos += 1
            if char == '"':
                return "".join(out)
            if char == "\\":
                if self.pos >= len(text):
                    break
                char = text[self.pos]
                self.pos += 1
            out.append(char)
        raise ValueError("unterminated quoted string")


def parse_extensions(header: str) -> list[Extension]:
    """The extensions of a ``Sec-WebSocket-Extensions`` value, in order; ``ValueError`` if malformed.

    Several header lines joined with ``", "`` parse as one list. Extension and parameter names are
    lowercased; quoted values are unquoted.
    """
    scanner = _Scanner(header)
    out: list[Extension] = []
    while True:
        while scanner.peek() == ",":  # empty list elements are allowed (RFC 9110 5.6.1)
            scanner.pos += 1
        if scanner.peek() == "":
            return out
        name = scanner.token().lower()
        params: list[tuple[str, str | None]] = []
        while scanner.peek() == ";":
            scanner.pos += 1
            param = scanner.token().lower()
            value: str | None = None
            if scanner.peek() == "=":
                scanner.pos += 1
                value = scanner.quoted() if scanner.peek() == '"' else scanner.token()
            params.append((param, value))
        out.append((name, params))
        following = scanner.peek()
        if following == ",":
            scanner.pos += 1
        elif following != "":
            raise ValueError(f"unexpected {following!r} at position {scanner.pos}")


def _bits(value: str | None, *, optional: bool) -> int | None:
    """A max_window_bits value: 8..15 written as a plain decimal; ``None`` for no value if allowed."""
    if value is None:
        if optional:
            return None
        raise ValueError("max_window_bits needs a value")
    if not (value.isdigit() and value.isascii()) or value[0] == "0" or not 8 <= int(value) <= 15:
        raise ValueError(f"invalid max_window_bits {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class _Offer:
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int | None
    client_max_window_bits: int | None  # None also when offered without a value
    client_max_window_bits_offered: bool


def _read_params(params: list[tuple[str, str | None]], *, client_bits_optional: bool) -> _Offer:
    seen: set[str] = set()
    values: dict[str, str | None] = {}
    for name, value in params:
        if name not in _PARAMS:
            raise ValueError(f"unknown parameter {name!r}")
        if name in seen:
            raise ValueError(f"duplicate parameter {name!r}")
        seen.add(name)
        values[name] = value
    for flag in ("server_no_context_takeover", "client_no_context_takeover"):
        if flag in values and values[flag] is not None:
            raise ValueError(f"{flag} takes no value")
    server_bits = (
        _bits(values["server_max_window_bits"], optional=False)
        if "server_max_window_bits" in values
        else None
    )
    client_offered = "client_max_window_bits" in values
    client_bits = (
        _bits(values["client_max_window_bits"], optional=client_bits_optional) if client_offered else None
    )
    return _Offer(
        "server_no_context_takeover" in values,
        "client_no_context_takeover" in values,
        server_bits,
        client_bits,
        client_offered,
    )


def accept_offer(header: str | None, options: PerMessageDeflate) -> DeflateParams | None:
    """The server's choice among a client's offers: the first ``permessage-deflate`` offer it can
    honour, or ``None`` to go on without compression (no offer, a malformed header, or only offers that
    are invalid or that cannot be honoured)."""
    if not header:
        return None
    try:
        extensions = parse_extensions(header)
    except ValueError:
        return None
    for name, params in extensions:
        if name != EXTENSION:
            continue
        try:
            offer = _read_params(params, client_bits_optional=True)
        except ValueError:
            continue  # RFC 7692 5: an invalid offer is declined
        server_bits = options.server_max_window_bits
        if offer.server_max_window_bits is not None:
            # the client bounds our window: we must answer with that bound or a smaller one
            server_bits = min(server_bits or 15, offer.server_max_window_bits)
            if server_bits < 9:
                continue  # zlib cannot deflate with an 8-bit window
        client_bits: int | None = None
        if options.client_max_window_bits is not None:
            if not offer.client_max_window_bits_offered:
                continue  # the client cannot take a bound on its window
            client_bits = options.client_max_window_bits
            if offer.client_max_window_bits is not None:
                client_bits = min(client_bits, offer.client_max_window_bits)
        return DeflateParams(
            server_no_context_takeover=offer.server_no_context_takeover or options.server_no_context_takeover,
            client_no_context_takeover=options.client_no_context_takeover or offer.client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
    return None


def client_offer(options: PerMessageDeflate) -> str:
    """The client's ``Sec-WebSocket-Extensions`` offer for ``options``."""
    parts = [EXTENSION]
    if options.server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if options.client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if options.server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={options.server_max_window_bits}")
    if options.client_max_window_bits is not None:
        parts.append(f"client_max_window_bits={options.client_max_window_bits}")
    else:
        parts.append("client_max_window_bits")
    return "; ".join(parts)


def accept_response(header: str, options: PerMessageDeflate) -> DeflateParams:
    """Check a server's answer to :func:`client_offer`; raise :class:`WebSocketProtocolError` (1002,
    the handshake fails) when it is not a valid acceptance of that offer (RFC 7692 7.1)."""
    try:
        extensions = parse_extensions(header)
    except ValueError as exc:
        raise WebSocketProtocolError(1002, f"invalid Sec-WebSocket-Extensions answer: {exc}") from None
    if len(extensions) != 1 or extensions[0][0] != EXTENSION:
        names = ", ".join(name for name, _ in extensions) or "none"
        raise WebSocketProtocolError(1002, f"server selected extensions that were not offered: {names}")
    try:
        answer = _read_params(extensions[0][1], client_bits_optional=False)
    except ValueError as exc:
        raise WebSocketProtocolError(1002, f"invalid permessage-deflate answer: {exc}") from None
    if options.server_no_context_takeover and not answer.server_no_context_takeover:
        raise WebSocketProtocolError(1002, "server ignored the server_no_context_takeover we asked for")
    wanted = options.server_max_window_bits
    if wanted is not None and (
        answer.server_max_window_bits is None or answer.server_max_window_bits > wanted
    ):
        raise WebSocketProtocolError(1002, f"server did not bound its window to {wanted} bits as asked")
    client_bits = answer.client_max_window_bits
    if client_bits is not None:
        limit = options.client_max_window_bits or 15
        if client_bits > limit:
            raise WebSocketProtocolError(
                1002, f"server's client_max_window_bits={client_bits} exceeds our offer"
            )
        if client_bits < 9:
            raise WebSocketProtocolError(
                1002, "server asked for an 8-bit window, which zlib cannot deflate with"
            )
    elif options.client_max_window_bits is not None:
        client_bits = options.client_max_window_bits  # our own bound still applies to what we send
    return DeflateParams(
        server_no_context_takeover=answer.server_no_context_takeover,
        client_no_context_takeover=answer.client_no_context_takeover or options.client_no_context_takeover,
        server_max_window_bits=answer.server_max_window_bits,
        client_max_window_bits=client_bits,
    )


# -- the codec ------------------------------------------------------------------------------------


class DeflateCodec:
    """One connection's ``permessage-deflate`` state (``server_side`` says which end we are)."""

    __slots__ = (
        "_compressor",
        "_decompressor",
        "_level",
        "_local_takeover",
        "_max_size",
        "_mem_level",
        "_remote_takeover",
        "_wbits",
        "max_message_size",
        "params",
        "share_key",
        "threshold",
    )

    def __init__(
        self,
        params: DeflateParams,
        *,
        server_side: bool,
        threshold: int = 1024,
        level: int = -1,
        mem_level: int = 8,
        max_message_size: int = 1_000_000,
    ) -> None:
        self.params = params
        self.threshold = threshold
        self._level = level
        self._mem_level = mem_level
        self._max_size = self.max_message_size = max_message_size
        if server_side:
            local_bits = params.server_max_window_bits
            self._local_takeover = not params.server_no_context_takeover
            self._remote_takeover = not params.client_no_context_takeover
        else:
            local_bits = params.client_max_window_bits
            self._local_takeover = not params.client_no_context_takeover
            self._remote_takeover = not params.server_no_context_takeover
        bits = local_bits or 15
        if bits < 9:
            raise ValueError("zlib cannot deflate with an 8-bit window")
        self._wbits = -bits
        self._compressor = self._new_compressor() if self._local_takeover else None
        self._decompressor = zlib.decompressobj(-15) if self._remote_takeover else None
        # Without context takeover on our side, a message compresses to the same bytes for every
        # connection with these settings: a broadcast is compressed once for all of them.
        self.share_key: tuple[int, int, int, int] | None = (
            None if self._local_takeover else (threshold, level, mem_level, bits)
        )

    def _new_compressor(self) -> zlib._Compress:
        return zlib.compressobj(self._level, zlib.DEFLATED, self._wbits, self._mem_level)

    def compress(self, payload: bytes) -> bytes:
        """A message payload, compressed (send it in a frame with RSV1 set)."""
        compressor = self._compressor if self._compressor is not None else self._new_compressor()
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return data[:-4] if data.endswith(_TAIL) else data

    def decompress(self, payload: bytes) -> bytes:
        """A compressed message payload, inflated; :class:`WebSocketProtocolError` with 1009 past the
        message size limit, 1007 for data that does not inflate."""
        decompressor = self._decompressor if self._decompressor is not None else zlib.decompressobj(-15)
        max_size = self._max_size
        try:
            data = decompressor.decompress(payload + _TAIL, max_size + 1)
        except zlib.error as exc:
            raise WebSocketProtocolError(1007, f"invalid compressed data: {exc}") from None
        if len(data) > max_size or decompressor.unconsumed_tail:
            raise WebSocketProtocolError(1009, f"decompressed message exceeds the limit of {max_size} bytes")
        return data

    def frame(self, opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
        """One message as a frame: compressed when it reaches ``threshold``."""
        if len(payload) >= self.threshold:
            return build_frame(opcode, self.compress(payload), mask=mask, rsv1=True)
        return build_frame(opcode, payload, mask=mask)

    def message_frames(self, message: WireMessage) -> bytes:
        """A server's frames for ``message``: its shared uncompressed frames when nothing in it reaches
        ``threshold`` or it was sent with ``compress(False)``, else a compressed copy for this connection
        (or for every connection with the same settings, without context takeover)."""
        if not message.compress:
            return message.ws_frames()
        threshold = self.threshold
        text = message.text
        binaries = message.binaries
        if (text is None or len(text) < threshold) and (
            not binaries or all(len(b) < threshold for b in binaries)
        ):
            return message.ws_frames()
        key = self.share_key
        if key is not None:
            cached = message.deflated
            if cached is not None and cached[0] == key:
                return cached[1]
        parts = [] if text is None else [self.frame(1, text)]
        parts.extend(self.frame(2, b) for b in binaries)
        frames = b"".join(parts)
        if key is not None:
            message.deflated = (key, frames)
        return frames
