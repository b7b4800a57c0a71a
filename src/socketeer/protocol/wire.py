"""An encoded outgoing message, shared by every connection it is sent to.

A broadcast is encoded once into a :class:`WireMessage`; each transport asks it for the form it
writes (WebSocket frames or polling payload segments), which is built once on first use and cached.
"""

from __future__ import annotations

import binascii
from typing import Any

from .engineio_stream import encode_stream_frame
from .websocket_frames import build_binary_frame, build_text_frame

__all__ = ["WireMessage"]


class WireMessage:
    """Engine.IO packets ready for the wire.

    ``text`` is the UTF-8 Engine.IO text packet (type digit included, e.g. ``b'42["hi"]'``) or
    ``None`` when the message is binary only; ``binaries`` are binary MESSAGE packets that follow it.
    ``volatile`` messages may be dropped by a transport that cannot send them now. ``compress=False``
    (``emit`` after ``compress(False)``) keeps the message out of HTTP and WebSocket compression.
    """

    __slots__ = (
        "_frames",
        "_segments",
        "_stream",
        "binaries",
        "compress",
        "deflated",
        "nbytes",
        "packet",
        "text",
        "volatile",
    )

    def __init__(
        self,
        text: bytes | None,
        binaries: tuple[bytes, ...] = (),
        volatile: bool = False,
        compress: bool = True,
    ) -> None:
        self.text = text
        self.binaries = binaries
        self.volatile = volatile
        self.nbytes = (len(text) if text is not None else 0) + (
            sum([len(b) for b in binaries]) if binaries else 0
        )
        """The size of the packets' data in bytes (the text's type digit included), as :meth:`size`."""
        self.compress = compress
        self.packet: Any = None  # the decoded form, when the sender kept it (for outgoing listeners)
        # (settings, frames) of the last permessage-deflate compression shared between connections
        self.deflated: tuple[object, bytes] | None = None
        self._frames: bytes | None = None
        self._segments: list[str] | None = None
        self._stream: bytes | None = None

    def ws_frames(self) -> bytes:
        """All packets as unmasked (server-side) WebSocket frames, concatenated."""
        frames = self._frames
        if frames is None:
            if self.text is not None:
                frames = build_text_frame(self.text)
                if self.binaries:
                    frames += b"".join([build_binary_frame(b) for b in self.binaries])
            else:
                frames = b"".join([build_binary_frame(b) for b in self.binaries])
            self._frames = frames
        return frames

    def stream_frames(self) -> bytes:
        """All packets in the stream framing of the WebTransport transport, concatenated."""
        stream = self._stream
        if stream is None:
            parts = [] if self.text is None else [encode_stream_frame(self.text)]
            parts.extend(encode_stream_frame(b, binary=True) for b in self.binaries)
            stream = self._stream = b"".join(parts)
        return stream

    def segments(self) -> list[str]:
        """All packets as polling payload segments (text as is, binary as ``b<base64>``)."""
        segments = self._segments
        if segments is None:
            segments = [] if self.text is None else [self.text.decode()]
            segments.extend(
                "b" + binascii.b2a_base64(b, newline=False).decode("ascii") for b in self.binaries
            )
            self._segments = segments
        return segments

    def size(self) -> int:
        return self.nbytes

    def __repr__(self) -> str:
        return f"WireMessage(text={self.text!r}, binaries={len(self.binaries)}, volatile={self.volatile})"
