"""The client's WebTransport transport (extra: ``webtransport``): one WebTransport session over
HTTP/3 (aioquic), one bidirectional stream, Engine.IO packets in the stream framing of
:mod:`socketeer.protocol.engineio_stream`. As the official client, it writes an open packet first
(``{"sid": ...}`` to upgrade a session, empty for a new one) and sends no query."""

from __future__ import annotations

import asyncio
import ssl as _ssl
from collections.abc import Callable
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

from ..exceptions import RemoteProtocolError
from ..protocol.engineio_packets import EnginePacket, decode_packet
from ..protocol.engineio_stream import StreamDecoder, encode_stream_frame

__all__ = ["WebTransportConnection", "open_webtransport"]

_MAX_FRAME = 100 * 1024 * 1024


class WebTransportConnection(QuicConnectionProtocol):
    """One QUIC connection with one WebTransport session and its Engine.IO stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.session_id = -1
        self.stream_id = -1
        self._answer: asyncio.Future[int] | None = None
        self._decoder = StreamDecoder(_MAX_FRAME)
        self._transmit_handle: asyncio.Handle | None = None
        self.ended = False
        self.on_packet: Callable[[EnginePacket], None] = lambda packet: None
        self.on_end: Callable[[str, BaseException | None], None] = lambda reason, error: None

    async def open_session(
        self, authority: str, path: str, headers: list[tuple[str, str]], timeout: float
    ) -> None:
        self.session_id = self._quic.get_next_available_stream_id()
        self._answer = asyncio.get_running_loop().create_future()
        self.http.send_headers(
            self.session_id,
            [
                (b":method", b"CONNECT"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b":protocol", b"webtransport"),
                *((name.lower().encode(), value.encode()) for name, value in headers),
            ],
        )
        self.transmit()
        status = await asyncio.wait_for(self._answer, timeout)
        if status != 200:
            raise ConnectionRefusedError(f"webtransport session refused with status {status}")
        self.stream_id = self.http.create_webtransport_stream(self.session_id)
        # aioquic marks only the peer's streams as WebTransport streams: without this it would parse
        # what the server writes on ours as HTTP/3 frames
        with self.http._get_or_create_stream(self.stream_id) as stream:
            stream.frame_type = FrameType.WEBTRANSPORT_STREAM
            stream.session_id = self.session_id

    def send_items(self, items: list[str | bytes]) -> None:
        if self.ended:
            return
        data = b"".join(
            encode_stream_frame(item.encode()) if isinstance(item, str) else encode_stream_frame(item, True)
            for item in items
        )
        self._quic.send_stream_data(self.stream_id, data)
        if self._transmit_handle is None:
            self._transmit_handle = self._loop.call_soon(self._transmit_now)

    def _transmit_now(self) -> None:
        self._transmit_handle = None
        self.transmit()

    def end_session(self) -> None:
        """Finish the stream and the session (FIN on both)."""
        if self.ended:
            return
        self.ended = True
        try:
            if self.stream_id >= 0:
                self._quic.send_stream_data(self.stream_id, b"", end_stream=True)
            if self.session_id >= 0:
                self.http.send_data(self.session_id, b"", end_stream=True)
        except Exception:  # already reset by the server
            pass
        self.transmit()

    def _end(self, reason: str, error: BaseException | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.on_end(reason, error)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            if self._answer is not None and not self._answer.done():
                self._answer.set_exception(ConnectionError(event.reason_phrase or "connection closed"))
            self._end("transport close")
            return
        if isinstance(event, StreamReset) and event.stream_id in (self.session_id, self.stream_id):
            self._end("transport close")
        for h3 in self.http.handle_event(event):
            if isinstance(h3, HeadersReceived) and h3.stream_id == self.session_id:
                if self._answer is not None and not self._answer.done():
                    self._answer.set_result(int(dict(h3.headers).get(b":status", b"0")))
                if h3.stream_ended:
                    self._end("transport close")
            elif isinstance(h3, DataReceived) and h3.stream_id == self.session_id and h3.stream_ended:
                self._end("transport close")
            elif isinstance(h3, WebTransportStreamDataReceived) and h3.stream_id == self.stream_id:
                try:
                    frames = self._decoder.feed(h3.data) if h3.data else []
                    for frame in frames:
                        if self.ended:
                            return
                        self.on_packet(
                            decode_packet(frame.data if frame.binary else frame.data.decode("utf-8"))
                        )
                except (RemoteProtocolError, UnicodeDecodeError) as exc:
                    self.end_session()
                    self.ended = False
                    self._end("transport error", exc)
                    return
                if h3.stream_ended:
                    self._end("transport close")


async def open_webtransport(
    host: str,
    port: int,
    path: str,
    headers: list[tuple[str, str]],
    ssl_context: _ssl.SSLContext | None,
    timeout: float,
) -> tuple[WebTransportConnection, Any]:
    """Connect and open the session; returns the connection and the context manager to exit."""
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    configuration.server_name = host
    if ssl_context is not None:
        configuration.verify_mode = ssl_context.verify_mode
        cas = ssl_context.get_ca_certs(binary_form=True)
        if cas:
            configuration.load_verify_locations(
                cadata="".join(_ssl.DER_cert_to_PEM_cert(c) for c in cas).encode()
            )
    manager = connect(host, port, configuration=configuration, create_protocol=WebTransportConnection)
    conn = await asyncio.wait_for(manager.__aenter__(), timeout)
    assert isinstance(conn, WebTransportConnection)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        await conn.open_session(authority, path, headers, timeout)
    except BaseException:
        await _exit(manager)
        raise
    return conn, manager


async def _exit(manager: Any) -> None:
    try:
        await asyncio.wait_for(manager.__aexit__(None, None, None), 1.0)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        pass
