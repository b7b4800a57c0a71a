"""A minimal WebTransport client on aioquic, for the tests and the load generator: open a session on
an Engine.IO path, open streams, send Engine.IO stream frames (or anything), read what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

from socketeer.protocol.engineio_stream import StreamDecoder, StreamFrame, encode_stream_frame

DEADLINE = 10.0


class WtClient(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.responses: dict[int, asyncio.Future[int]] = {}
        self.session_ended: dict[int, asyncio.Event] = {}
        self.frames: dict[int, asyncio.Queue[StreamFrame | None]] = {}
        self.decoders: dict[int, StreamDecoder] = {}
        self.terminated = asyncio.Event()

    async def open_session(self, path: str = "/socket.io/", authority: str = "127.0.0.1") -> int:
        """Send the extended CONNECT; returns the session id once the server answers 200."""
        stream_id = self._quic.get_next_available_stream_id()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.responses[stream_id] = future
        self.session_ended[stream_id] = asyncio.Event()
        self.http.send_headers(
            stream_id,
            [
                (b":method", b"CONNECT"),
                (b":scheme", b"https"),
                (b":authority", authority.encode()),
                (b":path", path.encode()),
                (b":protocol", b"webtransport"),
            ],
        )
        self.transmit()
        status = await asyncio.wait_for(future, DEADLINE)
        if status != 200:
            raise ConnectionError(f"status {status}")
        return stream_id

    def open_stream(self, session_id: int, unidirectional: bool = False) -> int:
        stream_id = self.http.create_webtransport_stream(session_id, is_unidirectional=unidirectional)
        if not unidirectional:
            # aioquic marks only the peer's streams as WebTransport ones: without this it would parse
            # what the server writes on ours as HTTP/3 frames
            with self.http._get_or_create_stream(stream_id) as stream:
                stream.frame_type = FrameType.WEBTRANSPORT_STREAM
                stream.session_id = session_id
        self.frames[stream_id] = asyncio.Queue()
        self.decoders[stream_id] = StreamDecoder(1 << 30)
        return stream_id

    def send_raw(self, stream_id: int, data: bytes, end: bool = False) -> None:
        self._quic.send_stream_data(stream_id, data, end_stream=end)
        self.transmit()

    def send_text(self, stream_id: int, text: str) -> None:
        self.send_raw(stream_id, encode_stream_frame(text.encode()))

    def send_binary(self, stream_id: int, data: bytes) -> None:
        self.send_raw(stream_id, encode_stream_frame(data, binary=True))

    async def receive(self, stream_id: int, timeout: float = DEADLINE) -> StreamFrame | None:
        """The next frame on the stream, or ``None`` once it ended."""
        return await asyncio.wait_for(self.frames[stream_id].get(), timeout)

    async def receive_text(self, stream_id: int) -> str:
        frame = await self.receive(stream_id)
        assert frame is not None and not frame.binary, frame
        return frame.data.decode()

    async def wait_session_closed(self, session_id: int, timeout: float = DEADLINE) -> None:
        await asyncio.wait_for(self.session_ended[session_id].wait(), timeout)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.terminated.set()
            for ended in self.session_ended.values():
                ended.set()
            for queue in self.frames.values():
                queue.put_nowait(None)
            return
        if isinstance(event, StreamReset):
            if event.stream_id in self.frames:
                self.frames[event.stream_id].put_nowait(None)
            if event.stream_id in self.session_ended:
                self.session_ended[event.stream_id].set()
        for h3 in self.http.handle_event(event):
            if isinstance(h3, HeadersReceived):
                future = self.responses.get(h3.stream_id)
                if future is not None and not future.done():
                    status = dict(h3.headers).get(b":status", b"0")
                    future.set_result(int(status))
                if h3.stream_ended and h3.stream_id in self.session_ended:
                    self.session_ended[h3.stream_id].set()
            elif isinstance(h3, DataReceived):
                if h3.stream_ended and h3.stream_id in self.session_ended:
                    self.session_ended[h3.stream_id].set()
            elif isinstance(h3, WebTransportStreamDataReceived):
                queue = self.frames.setdefault(h3.stream_id, asyncio.Queue())
                decoder = self.decoders.setdefault(h3.stream_id, StreamDecoder(1 << 30))
                for frame in decoder.feed(h3.data) if h3.data else []:
                    queue.put_nowait(frame)
                if h3.stream_ended:
                    queue.put_nowait(None)


@contextlib.asynccontextmanager
async def wt_connect(port: int, host: str = "127.0.0.1") -> AsyncIterator[WtClient]:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    configuration.verify_mode = ssl.CERT_NONE
    async with connect(host, port, configuration=configuration, create_protocol=WtClient) as client:
        assert isinstance(client, WtClient)
        yield client
