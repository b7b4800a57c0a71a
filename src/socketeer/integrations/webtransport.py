"""The WebTransport transport: Engine.IO over HTTP/3, beside the standalone server (extra: ``webtransport``).

A client opens a WebTransport session (an extended ``CONNECT`` with ``:protocol webtransport`` on the
Engine.IO path, ``?EIO=4&transport=webtransport``), then one bidirectional stream, on which both sides
write Engine.IO packets in the stream framing of :mod:`socketeer.protocol.engineio_stream`. The
client's first packet is an open packet: empty for a new session (the server answers with its own
open packet, the sid in it), or ``{"sid": ...}`` to upgrade a polling session, which then goes on as
a WebSocket upgrade does (``2probe``, ``3probe``, ``5``). This is what the official engine.io server
does.

Each session is wrapped as a :class:`~socketeer.transports.ports.WebSocketPort`, so the engine runs
heartbeats, limits, backpressure and close reasons as on a WebSocket. Anything a client sends that
the protocol has no use for (a malformed or oversized frame, a second stream, a datagram) closes
that session only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer
from aioquic.asyncio.server import serve as quic_serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    DataReceived,
    H3Event,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

from ..exceptions import RemoteProtocolError
from ..protocol.engineio_stream import StreamDecoder, encode_stream_frame
from ..protocol.wire import WireMessage
from ..transports.cors import origin_allowed
from ..transports.engine_server import CloseReason, EngineServer
from ..transports.ports import NO_RECEIVER, HttpRequest, WebSocketReceiver

__all__ = ["WebTransportServer", "WebTransportSession"]

logger = logging.getLogger("socketeer.webtransport")

_MAX_SESSIONS_PER_CONNECTION = 4
"""A browser opens one session per QUIC connection; a few more are allowed, not thousands."""
_BACKLOG_BYTES = 64 * 1024
"""Over this much unsent data a stream counts as backlogged (volatile messages are dropped)."""


@dataclass(frozen=True, slots=True)
class _Options:
    path: str
    max_payload: int
    open_timeout: float


class WebTransportSession:
    """One WebTransport session carrying one Engine.IO connection: the engine's port."""

    name = "webtransport"

    def __init__(self, protocol: _Http3Protocol, session_id: int, request: HttpRequest) -> None:
        self.protocol = protocol
        self.session_id = session_id
        self.request = request
        self.receiver: WebSocketReceiver = NO_RECEIVER
        self.stream_id: int | None = None
        self.closed = False
        self._opened = False
        self._decoder = StreamDecoder(protocol.options.max_payload)
        self._open_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            protocol.options.open_timeout, self._open_timed_out
        )

    # -- the port ------------------------------------------------------------------------------

    def write(self, message: WireMessage) -> None:
        self._send(message.stream_frames())

    def send_text(self, text: str) -> None:
        self._send(encode_stream_frame(text.encode()))

    def flush(self) -> None:
        self.protocol.transmit()

    def buffered_amount(self) -> int:
        if self.stream_id is None:
            return 0
        stream = self.protocol._quic._streams.get(self.stream_id)
        if stream is None:
            return 0
        # aioquic keeps what the peer has not acknowledged in the sender's buffer
        return len(getattr(stream.sender, "_buffer", b""))

    def backlogged(self) -> bool:
        return self.buffered_amount() > _BACKLOG_BYTES

    def close(self, code: int = 1000) -> None:
        """End the session: the stream and the session's CONNECT stream are finished (FIN)."""
        if self.closed:
            return
        self._closed()
        quic = self.protocol._quic
        try:
            if self.stream_id is not None:
                quic.send_stream_data(self.stream_id, b"", end_stream=True)
            self.protocol.http.send_data(self.session_id, b"", end_stream=True)
        except Exception:  # the stream is already gone (reset by the peer)
            logger.debug("closing WebTransport session %d: streams already closed", self.session_id)
        self.protocol.schedule_transmit()

    def _send(self, data: bytes) -> None:
        if self.closed or self.stream_id is None:
            return
        self.protocol._quic.send_stream_data(self.stream_id, data, end_stream=False)
        self.protocol.schedule_transmit()

    # -- what arrives --------------------------------------------------------------------------

    def on_stream_data(self, stream_id: int, data: bytes, ended: bool) -> None:
        if self.closed:
            return
        if self.stream_id is None:
            if stream_id & 0x2:  # a unidirectional stream: the protocol has none
                self.abort("unidirectional stream")
                return
            self.stream_id = stream_id
        elif stream_id != self.stream_id:
            self.abort("a second stream")
            return
        try:
            frames = self._decoder.feed(data) if data else []
        except RemoteProtocolError as exc:
            self.abort(str(exc))
            return
        for frame in frames:
            if self.closed:
                return
            if frame.binary:
                if not self._opened:
                    self.abort("binary frame before the open packet")
                    return
                self.receiver.on_ws_binary(frame.data)
                continue
            try:
                text = frame.data.decode("utf-8")
            except UnicodeDecodeError:
                self.abort("text frame not in UTF-8")
                return
            if not self._opened:
                self._on_open_packet(text)
            else:
                self.receiver.on_ws_text(text)
        if ended and not self.closed:
            self.ended(CloseReason.TRANSPORT_CLOSE)

    def _on_open_packet(self, text: str) -> None:
        if text[:1] != "0":
            self.abort("first packet is not an open packet")
            return
        self._opened = True
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        engine = self.protocol.engine
        data = text[1:]
        if data:
            engine.accept_webtransport(self.request, self, data)
        else:  # a new session: admission and allow_request first (the client waits for the open packet)
            asyncio.get_running_loop().create_task(self._open_new())

    async def _open_new(self) -> None:
        engine = self.protocol.engine
        refusal = await engine.allow_webtransport(self.request)
        if self.closed:
            return
        if refusal is not None:
            logger.info("refusing a WebTransport session: %s", refusal.body[:100])
            self.close()
            return
        engine.accept_webtransport(self.request, self, "")

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if not self._opened:
            logger.info("closing WebTransport session %d: no open packet in time", self.session_id)
            self.close()

    def abort(self, why: str) -> None:
        """Bad input: close this session (and only this one) with ``parse error``."""
        logger.info("closing WebTransport session %d: %s", self.session_id, why)
        receiver = self.receiver
        self.close()
        receiver.on_ws_close(CloseReason.PARSE_ERROR)

    def ended(self, reason: str) -> None:
        """The peer closed the stream or the session."""
        if self.closed:
            return
        receiver = self.receiver
        self.close()
        receiver.on_ws_close(reason)

    def _closed(self) -> None:
        self.closed = True
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.protocol.sessions.pop(self.session_id, None)
        self.receiver = NO_RECEIVER


class _Http3Protocol(QuicConnectionProtocol):
    """One QUIC connection: HTTP/3, and the WebTransport sessions opened on it."""

    engine: EngineServer
    options: _Options
    server: WebTransportServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.sessions: dict[int, WebTransportSession] = {}
        self._transmit_handle: asyncio.Handle | None = None

    def schedule_transmit(self) -> None:
        """Send what is queued at the end of this event-loop iteration (writes are joined)."""
        if self._transmit_handle is None:
            self._transmit_handle = self._loop.call_soon(self._transmit_now)

    def _transmit_now(self) -> None:
        self._transmit_handle = None
        self.transmit()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.server.protocols.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_all(CloseReason.TRANSPORT_CLOSE)
        self.server.protocols.discard(self)
        super().connection_lost(exc)

    def _end_all(self, reason: str) -> None:
        for session in list(self.sessions.values()):
            session.ended(reason)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self._end_all(CloseReason.TRANSPORT_CLOSE)
            return
        if isinstance(event, StreamReset):
            for session in list(self.sessions.values()):
                if event.stream_id in (session.session_id, session.stream_id):
                    session.ended(CloseReason.TRANSPORT_CLOSE)
        try:
            events = self.http.handle_event(event)
        except Exception:  # aioquic closes the connection itself on an HTTP/3 error
            logger.info("HTTP/3 error on a WebTransport connection", exc_info=True)
            return
        for h3_event in events:
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, WebTransportStreamDataReceived):
            session = self.sessions.get(event.session_id)
            if session is None:  # a stream for no session of ours: refused
                if not event.stream_id & 0x2:
                    self._quic.reset_stream(event.stream_id, 0)
                return
            session.on_stream_data(event.stream_id, event.data, event.stream_ended)
        elif isinstance(event, HeadersReceived):
            self._on_headers(event)
        elif isinstance(event, DatagramReceived):
            session = self.sessions.get(event.stream_id)
            if session is not None:
                session.abort("a datagram")
        elif isinstance(event, DataReceived):
            session = self.sessions.get(event.stream_id)
            if session is not None and event.stream_ended:
                session.ended(CloseReason.TRANSPORT_CLOSE)  # the client closed the session

    def _on_headers(self, event: HeadersReceived) -> None:
        headers: dict[str, str] = {}
        for name, value in event.headers:
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        method = headers.get(":method")
        target = headers.get(":path", "")
        split = urlsplit(target)
        is_engine = split.path in (self.options.path, self.options.path.rstrip("/"))
        if method != "CONNECT" or headers.get(":protocol") != "webtransport" or not is_engine:
            self._answer(event.stream_id, 404)
            return
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        plain = {k: v for k, v in headers.items() if not k.startswith(":")}
        if ":authority" in headers:
            plain.setdefault("host", headers[":authority"])
        peer = self._quic._network_paths[0].addr if self._quic._network_paths else None
        request = HttpRequest(
            "CONNECT",
            split.path,
            query,
            plain,
            remote_address=(str(peer[0]), int(peer[1])) if peer else None,
            query_string=split.query,
            scheme="https",
        )
        if not origin_allowed(plain, self.engine.config.cors):
            self._answer(event.stream_id, 403)
            return
        if query.get("transport", "webtransport") != "webtransport" or query.get("EIO", "4") != "4":
            self._answer(event.stream_id, 400)
            return
        if len(self.sessions) >= _MAX_SESSIONS_PER_CONNECTION:
            self._answer(event.stream_id, 429)
            return
        self.sessions[event.stream_id] = WebTransportSession(self, event.stream_id, request)
        self.http.send_headers(
            event.stream_id, [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")]
        )
        self.transmit()

    def _answer(self, stream_id: int, status: int) -> None:
        try:
            self.http.send_headers(stream_id, [(b":status", str(status).encode())], end_stream=True)
        except Exception:
            logger.debug("could not answer stream %d", stream_id)
        self.transmit()


class WebTransportServer:
    """The UDP (HTTP/3) listener serving the WebTransport transport of one :class:`EngineServer`."""

    def __init__(
        self,
        engine: EngineServer,
        *,
        certfile: str,
        keyfile: str | None = None,
        path: str | None = None,
    ) -> None:
        self.engine = engine
        config = engine.config
        self.options = _Options(
            path=path or config.path,
            max_payload=config.max_http_buffer_size,
            open_timeout=config.upgrade_timeout,
        )
        self.configuration = QuicConfiguration(
            is_client=False,
            alpn_protocols=H3_ALPN,
            max_datagram_frame_size=65536,
            idle_timeout=config.ping_interval + config.ping_timeout + 5.0,
        )
        self.configuration.load_cert_chain(certfile, keyfile)
        self.protocols: set[_Http3Protocol] = set()
        self._server: QuicServer | None = None

    async def start(self, host: str, port: int) -> None:
        outer = self

        class Protocol(_Http3Protocol):
            engine = outer.engine
            options = outer.options
            server = outer

        self._server = await quic_serve(host, port, configuration=self.configuration, create_protocol=Protocol)
        self.engine.enable_webtransport()

    @property
    def port(self) -> int:
        assert self._server is not None and self._server._transport is not None
        return int(self._server._transport.get_extra_info("sockname")[1])

    async def close(self) -> None:
        for protocol in list(self.protocols):
            for session in list(protocol.sessions.values()):
                session.close()
            protocol.close()
        if self._server is not None:
            self._server.close()
            self._server = None

