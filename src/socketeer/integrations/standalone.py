"""The standalone server, built for speed: an ``asyncio.Protocol`` per connection (uvloop when installed),
``httptools`` for HTTP, and socketeer's own sans-I/O WebSocket frame codec.

No task runs per WebSocket connection: frames are parsed in ``data_received`` and handed to the
engine; writes made during one event-loop iteration are joined into one ``transport.write``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

import httptools

from ..protocol.permessage_deflate import DeflateCodec, accept_offer
from ..protocol.websocket_frames import (
    FrameReader,
    InvalidHandshake,
    Opcode,
    WebSocketProtocolError,
    build_close_frame,
    build_frame,
    build_handshake_response,
    build_text_frame,
    check_handshake_request,
    header_tokens,
    parse_close_payload,
)
from ..protocol.wire import WireMessage
from ..transports.cors import origin_allowed
from ..transports.engine_server import EngineHost, EngineServer
from ..transports.ports import NO_RECEIVER, HttpRequest, HttpResponse, WebSocketReceiver

__all__ = ["HttpHandler", "StandaloneServer", "serve"]

logger = logging.getLogger("socketeer.standalone")

HttpHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]

_REASONS = {
    101: "Switching Protocols",
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_HOLD_AFTER_CONNECT = 0.001
_MAX_PIPELINED = 100  # requests parsed and waiting behind the one in flight on a connection
_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CLOSE = Opcode.CLOSE
_PING = Opcode.PING
_PONG = Opcode.PONG


def render_response(response: HttpResponse, keep_alive: bool) -> bytes:
    status = response.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    has_length = False
    for name, value in response.headers:
        if name.lower() == "content-length":
            has_length = True
        lines.append(f"{name}: {value}")
    if not has_length and status not in (101, 204, 304):
        lines.append(f"Content-Length: {len(response.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


# One copy of the strings most requests repeat (header names, the path, "websocket", a browser's
# User-Agent...): a connection keeps its request for its lifetime (the handshake), so the copies add up.
# Bounded: once full, new strings are used as they come.
_SHARED: dict[str, str] = {}
_SHARED_MAX = 4096
_REPEATED_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "origin",
        "cache-control",
        "pragma",
        "content-type",
    }
)
_REPEATED_QUERY = frozenset({"EIO", "transport"})


def _shared(text: str) -> str:
    found = _SHARED.get(text)
    if found is not None:
        return found
    if len(_SHARED) < _SHARED_MAX and len(text) <= 512:
        _SHARED[text] = text
    return text


# shared by every WebSocket connection (never appended to: a WebSocket takes no more HTTP requests)
_NO_DATA: list[bytes] = []
_NO_REQUESTS: list[tuple[HttpRequest, bool]] = []


class HttpProtocol(asyncio.Protocol):
    """One TCP connection: HTTP/1.1 requests until it becomes a WebSocket."""

    __slots__ = (
        "_begun",
        "_body",
        "_body_size",
        "_closing",
        "_deflate",
        "_headers",
        "_header_bytes",
        "_held",
        "_in_flight",
        "_parser",
        "_paused",
        "_pending",
        "_queued",
        "_reader",
        "_timer",
        "_url",
        "_wbuf",
        "_wsize",
        "receiver",
        "server",
        "transport",
    )

    def __init__(self, server: StandaloneServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._in_flight: asyncio.Task[None] | None = None
        self._pending: list[bytes] = []
        self._queued: list[tuple[HttpRequest, bool]] = []
        self._reader: FrameReader | None = None
        self.receiver: WebSocketReceiver = NO_RECEIVER
        self._wbuf: list[bytes] = []
        self._wsize = 0
        self._paused = False
        self._held = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._deflate: DeflateCodec | None = None  # permessage-deflate, when negotiated
        self._begun = False  # the parser is inside a request (for the idle hand-off)

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.server._connections.add(self)
        self._arm_timer(self.server.request_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        self._cancel_timer()
        self._closing = True
        if self._in_flight is not None:
            self._in_flight.cancel()
            self._in_flight = None
        self._queued = []
        if self._reader is not None:
            receiver = self.receiver
            self.receiver = NO_RECEIVER
            receiver.on_ws_close("transport close")
        self._wbuf = []
        self._wsize = 0

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is not None:
            self._ws_data(reader, data)
            return
        if self._in_flight is not None:
            # one request at a time per connection: keep what comes until the response is written
            self._pending.append(data)
            if sum(len(p) for p in self._pending) > self.server.max_pending_bytes:
                self._abort(413)
            return
        self._feed_http(data)

    # -- HTTP ----------------------------------------------------------------------------------

    def _feed_http(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args else len(data)
            self._upgrade(data[offset:])
        except httptools.HttpParserError as exc:
            # httptools wraps what a callback raises (our 413/431) in HttpParserCallbackError
            too_large = exc.__context__
            if isinstance(too_large, _RequestTooLarge):
                self._abort(too_large.status)
                return
            if isinstance(too_large, _Refused):
                self._refuse(too_large.refusal)
                return
            logger.debug("bad HTTP request: %s", exc)
            self._abort(400)
        except _RequestTooLarge as exc:
            self._abort(exc.status)
        except _Refused as exc:
            self._refuse(exc.refusal)

    def on_message_begin(self) -> None:
        self._arm_timer(self.server.request_timeout)  # each request, not only the first, must finish in time
        self._begun = True
        self._url = b""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.server.max_header_bytes:
            raise _RequestTooLarge(431)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self.server.max_header_bytes:
            raise _RequestTooLarge(431)
        key = _shared(name.decode("latin-1").lower())
        text = value.decode("latin-1")
        if key in _REPEATED_HEADERS:
            text = _shared(text)
        previous = self._headers.get(key)
        self._headers[key] = text if previous is None else f"{previous}, {text}"

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self.server.max_body_bytes:
            raise _RequestTooLarge(413)
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._begun = False
        parser = self._parser
        if parser is None or parser.should_upgrade():
            return
        request = self._request(parser.get_method().decode("ascii"))
        headers = self._headers
        if (
            "websocket" in header_tokens(headers.get("upgrade")) or "sec-websocket-key" in headers
        ) and self.server.is_engine_path(request.path):
            # a WebSocket request the HTTP parser did not take as an upgrade (no Connection: upgrade,
            # say): refused as the RFC says, rather than served as a poll
            try:
                check_handshake_request(request.method, parser.get_http_version(), headers)
            except InvalidHandshake as exc:
                raise _Refused(exc) from None
        keep_alive = parser.should_keep_alive()
        self._cancel_timer()
        if self._in_flight is not None:
            # pipelined behind the request in flight: answered after it, in order (RFC 9112 9.3.2)
            if len(self._queued) >= _MAX_PIPELINED:
                raise _RequestTooLarge(503)
            self._queued.append((request, keep_alive))
            return
        self._in_flight = asyncio.get_running_loop().create_task(self._respond(request, keep_alive))

    def _request(self, method: str) -> HttpRequest:
        url = httptools.parse_url(self._url)
        raw_query = url.query.decode("latin-1") if url.query else ""
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        remote = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
        return HttpRequest(
            method=method,
            path=_shared(unquote(url.path.decode("latin-1"))),
            query={
                _shared(k): _shared(v) if k in _REPEATED_QUERY else v
                for k, v in parse_qsl(raw_query, keep_blank_values=True)
            },
            headers=self._headers,
            body=b"".join(self._body),
            remote_address=remote,
            query_string=raw_query,
            scheme="https" if self.server.ssl else "http",
        )

    async def _respond(self, request: HttpRequest, keep_alive: bool) -> None:
        try:
            response = await self.server.handle_http(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("error while handling %s %s", request.method, request.path)
            response = HttpResponse(500, [("Content-Type", "text/plain")], b"Internal Server Error")
        self._in_flight = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(render_response(response, keep_alive))
        if not keep_alive:
            transport.close()
            return
        if self._queued:
            request, keep_alive = self._queued.pop(0)
            self._in_flight = asyncio.get_running_loop().create_task(self._respond(request, keep_alive))
            return
        self._arm_timer(self.server.keep_alive_timeout)
        handoff = self.server.idle_handoff
        if handoff is not None and not self._begun:
            # between two requests: the hand-over decides who serves the next one
            pending = b"".join(self._pending)
            self._pending = []
            handoff(self, pending)
            return
        if self._pending:
            pending = b"".join(self._pending)
            self._pending = []
            self._feed_http(pending)

    def _abort(self, status: int) -> None:
        transport = self.transport
        self._parser = None
        if transport is not None and not transport.is_closing():
            transport.write(render_response(HttpResponse(status), keep_alive=False))
            transport.close()

    def _refuse(self, refusal: InvalidHandshake) -> None:
        """Answer a WebSocket handshake that breaks RFC 6455 (400, or 426 for another version)."""
        logger.debug("refusing a WebSocket handshake: %s", refusal)
        transport = self.transport
        self._parser = None
        if transport is not None and not transport.is_closing():
            headers = [("Content-Type", "text/plain"), *refusal.headers]
            response = HttpResponse(refusal.status, headers, refusal.reason.encode())
            transport.write(render_response(response, keep_alive=False))
            transport.close()

    def _arm_timer(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        if self._in_flight is None and self._reader is None and self.transport is not None:
            self.transport.close()

    def detach(self) -> asyncio.Transport | None:
        """Stop serving the connection without closing it, between two requests (the inverse of
        ``connection_made``): :mod:`socketeer.integrations.handover` gives it to another protocol."""
        transport = self.transport
        self.transport = None
        self.server._connections.discard(self)
        self._cancel_timer()
        return transport

    # -- WebSocket -----------------------------------------------------------------------------

    def _upgrade(self, rest: bytes) -> None:
        parser = self._parser
        transport = self.transport
        if parser is None or transport is None:
            return
        if self._in_flight is not None:  # an upgrade pipelined behind a request: refused
            self._abort(400)
            return
        self._cancel_timer()
        request = self._request(parser.get_method().decode("ascii"))
        http_version = parser.get_http_version()
        self._parser = None
        server = self.server
        if not server.is_engine_path(request.path):
            self._abort(404)
            return
        try:
            key = check_handshake_request(request.method, http_version, self._headers)
        except InvalidHandshake as exc:
            self._refuse(exc)
            return
        engine = server.engine
        handoff = server.upgrade_handoff
        if (
            handoff is not None
            and server.ssl is None  # a TLS session cannot change process
            and handoff(request, self._raw_head(http_version) + rest, transport)
        ):
            self.transport = None  # the connection now belongs to the session's owner
            return
        if engine.config.allow_request is None and server.origin_allowed(request):
            refusal = engine.verify(request, websocket=True)
            if refusal is not None:
                self._write_error(engine, request)
                return
            self._accept(request, key, rest)
            return
        self._in_flight = asyncio.get_running_loop().create_task(self._upgrade_checked(request, key, rest))

    def _raw_head(self, http_version: str) -> bytes:
        """The upgrade request's head again (to hand the connection to another process)."""
        lines = [b"GET " + self._url + b" HTTP/" + http_version.encode("ascii")]
        lines += [f"{name}: {value}".encode("latin-1") for name, value in self._headers.items()]
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _upgrade_checked(self, request: HttpRequest, key: str, rest: bytes) -> None:
        server = self.server
        if not server.origin_allowed(request):
            self._in_flight = None
            self._abort(403)
            return
        response = await server.engine.allow_websocket(request)
        self._in_flight = None
        if self.transport is None or self.transport.is_closing():
            return
        if response is not None:
            self.transport.write(render_response(response, keep_alive=False))
            self.transport.close()
            return
        pending = b"".join(self._pending)
        self._pending = []
        self._accept(request, key, rest + pending)

    def _write_error(self, engine: EngineServer, request: HttpRequest) -> None:
        # verify() said no: answer with the same HTTP error the polling transport gives
        async def answer() -> None:
            response = await engine.allow_websocket(request)
            self._in_flight = None
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(render_response(response or HttpResponse(400), keep_alive=False))
                transport.close()

        self._in_flight = asyncio.get_running_loop().create_task(answer())

    def _accept(self, request: HttpRequest, key: str, rest: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        engine = self.server.engine
        headers = engine.websocket_headers(request)
        max_size = engine.config.max_http_buffer_size
        options = engine.config.per_message_deflate
        params = (
            None if options is None else accept_offer(self._headers.get("sec-websocket-extensions"), options)
        )
        if options is not None and params is not None:
            headers = [*headers, ("Sec-WebSocket-Extensions", params.header())]
            self.use_deflate(
                DeflateCodec(
                    params,
                    server_side=True,
                    threshold=options.threshold,
                    level=options.level,
                    mem_level=options.mem_level,
                    max_message_size=max_size,
                )
            )
        else:
            self._reader = FrameReader(max_message_size=max_size)
        transport.write(build_handshake_response(key, headers))
        engine.accept_websocket(request, self)
        # A WebSocket now: what only HTTP requests use goes (idle connections are most of the memory)
        self._url = b""
        self._body = self._pending = _NO_DATA
        self._queued = _NO_REQUESTS
        if rest and self._reader is not None:
            self._ws_data(self._reader, rest)

    def use_deflate(self, codec: DeflateCodec) -> None:
        """Compress and inflate with ``codec`` (permessage-deflate negotiated) from now on."""
        self._deflate = codec
        self._reader = FrameReader(max_message_size=codec.max_message_size, inflate=codec.decompress)
        # the compressing write path is a subclass, so that the uncompressed one stays as it is
        self.__class__ = _DeflateHttpProtocol

    def _ws_data(self, reader: FrameReader, data: bytes) -> None:
        try:
            messages = reader.feed(data)
        except WebSocketProtocolError as exc:
            logger.info("closing WebSocket: %s (code %d)", exc.reason, exc.close_code)
            self._ws_fail(exc.close_code)
            return
        for opcode, payload in messages:
            if opcode == _TEXT:
                self.receiver.on_ws_text(payload)  # type: ignore[arg-type]
            elif opcode == _BINARY:
                self.receiver.on_ws_binary(payload)  # type: ignore[arg-type]
            elif opcode == _PING:
                self._write_raw(build_frame(_PONG, payload))  # type: ignore[arg-type]
            elif opcode == _CLOSE:
                try:
                    parse_close_payload(payload)  # type: ignore[arg-type]
                except WebSocketProtocolError as exc:
                    self._ws_fail(exc.close_code)
                    return
                self._ws_closed_by_peer()
                return
            if self._closing:
                return

    def _ws_closed_by_peer(self) -> None:
        receiver = self.receiver
        self.receiver = NO_RECEIVER
        if not self._closing:
            self._write_raw(build_close_frame(1000))  # before _closing is set: _write_raw drops writes after
            self._closing = True
            self._held = False
            self._flush()
            if self.transport is not None:
                self.transport.close()
        receiver.on_ws_close("transport close")

    def _ws_fail(self, code: int) -> None:
        receiver = self.receiver
        self.receiver = NO_RECEIVER
        if not self._closing:
            self._write_raw(build_close_frame(code))  # before _closing is set: _write_raw drops writes after
            self._closing = True
            self._held = False
            self._flush()
            if self.transport is not None:
                self.transport.close()
        receiver.on_ws_close("transport error")

    # -- WebSocketPort -------------------------------------------------------------------------

    def write(self, message: WireMessage) -> None:
        if self._closing:
            return
        frames = message.ws_frames()
        self._wbuf.append(frames)
        self._wsize += len(frames)
        if len(self._wbuf) == 1:
            self.server._schedule_flush(self)

    def send_text(self, text: str) -> None:
        self._write_raw(build_text_frame(text.encode()))

    def _write_raw(self, frame: bytes) -> None:
        if self._closing:
            return
        self._wbuf.append(frame)
        self._wsize += len(frame)
        if len(self._wbuf) == 1:
            self.server._schedule_flush(self)

    def flush(self) -> None:
        self._flush()
        # Like the official server, whose transport takes the next batch only once the previous write
        # has completed: what follows the CONNECT reply goes out a moment later, in a write of its own
        # (clients that take one frame per read, like the official conformance suite, depend on it).
        self._held = True

    def _release(self) -> None:
        self._held = False
        self._flush()

    def _flush(self) -> None:
        wbuf = self._wbuf
        if not wbuf:
            return
        if self._held:
            self.server._call_later(_HOLD_AFTER_CONNECT, self._release)
            return
        transport = self.transport
        self._wbuf = []
        self._wsize = 0
        if transport is None:
            return
        transport.write(wbuf[0] if len(wbuf) == 1 else b"".join(wbuf))

    def close(self, code: int = 1000) -> None:
        if self._closing:
            return
        self._write_raw(build_close_frame(code))
        self._closing = True
        self._held = False
        self._flush()
        self.receiver = NO_RECEIVER
        if self.transport is not None:
            self.transport.close()

    def backlogged(self) -> bool:
        transport = self.transport
        return self._paused or (transport is not None and transport.get_write_buffer_size() > 0)

    def buffered_amount(self) -> int:
        transport = self.transport
        pending = transport.get_write_buffer_size() if transport is not None else 0
        return pending + self._wsize if self._paused or pending else self._wsize


class _DeflateHttpProtocol(HttpProtocol):
    """A connection with permessage-deflate negotiated: what it writes goes through its codec
    (compressed from the threshold on, unless sent with ``compress(False)``)."""

    __slots__ = ()

    def write(self, message: WireMessage) -> None:
        if self._closing:
            return
        deflate = self._deflate
        assert deflate is not None
        frames = deflate.message_frames(message)
        self._wbuf.append(frames)
        self._wsize += len(frames)
        if len(self._wbuf) == 1:
            self.server._schedule_flush(self)

    def send_text(self, text: str) -> None:
        deflate = self._deflate
        assert deflate is not None
        self._write_raw(deflate.frame(_TEXT, text.encode()))


class _Refused(Exception):
    def __init__(self, refusal: InvalidHandshake) -> None:
        super().__init__(refusal)
        self.refusal = refusal


class _RequestTooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


UpgradeHandoff = Callable[[HttpRequest, bytes, asyncio.Transport], bool]
IdleHandoff = Callable[[HttpProtocol, bytes], None]


class StandaloneServer:
    """A listening standalone server for one :class:`~socketeer.Server` or :class:`~socketeer.EngineIOServer`."""

    def __init__(
        self,
        io: EngineHost,
        *,
        http_handler: HttpHandler | None = None,
        ssl: Any = None,
        request_timeout: float = 20.0,
        keep_alive_timeout: float = 60.0,
        max_header_bytes: int | None = None,
    ) -> None:
        self.io = io
        self.engine: EngineServer = io.engine
        self.http_handler = http_handler
        self.ssl = ssl
        self.request_timeout = request_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.max_header_bytes = max_header_bytes or io.engine_config.limits.max_header_bytes
        self.max_body_bytes = io.engine_config.max_http_buffer_size + 64 * 1024
        self.max_pending_bytes = self.max_body_bytes
        self._path = io.engine_config.path
        self._path_bare = self._path.rstrip("/")
        self._connections: set[HttpProtocol] = set()
        self._dirty: list[HttpProtocol] = []
        self._flush_handle: asyncio.Handle | None = None
        self._server: asyncio.AbstractServer | None = None
        self._extra_servers: list[asyncio.AbstractServer] = []
        self.upgrade_handoff: UpgradeHandoff | None = None
        """``fn(request, raw_request, transport) -> bool``: give a WebSocket upgrade's connection to
        another process (``--workers``: the worker that owns the session); ``True`` if it took it."""
        # -- hand-over of connections to another application (integrations/handover.py) --
        self.connection_factory: Callable[[], asyncio.Protocol] | None = None
        """Makes the protocol of each connection the TCP listener accepts (``None``: :class:`HttpProtocol`)."""
        self.idle_handoff: IdleHandoff | None = None
        """``fn(protocol, pending_bytes)``: called when a keep-alive connection has answered its last
        request (its keep-alive timer armed), with the bytes already received; it may read the next
        request line before giving the connection back or taking it (``protocol.detach()``)."""
        self.closing_hooks: list[Callable[[], Awaitable[None]]] = []
        """Awaited by :meth:`close` once the listeners are closed, before waiting for them."""
        self.handover: Any = None
        """The :class:`~socketeer.integrations.handover.AppHandover` when another application shares the port."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self.webtransport: Any = None
        """The UDP (HTTP/3) listener of the WebTransport transport, when it runs
        (a :class:`socketeer.integrations.webtransport.WebTransportServer`)."""

    # -- serving -------------------------------------------------------------------------------

    async def start(self, host: str, port: int, *, reuse_port: bool = False, backlog: int = 2048) -> None:
        self._loop = asyncio.get_running_loop()
        await self.io.start()
        self._server = await self._loop.create_server(
            self.connection_factory or (lambda: HttpProtocol(self)),
            host,
            port,
            ssl=self.ssl,
            reuse_port=reuse_port or None,
            backlog=backlog,
        )
        self.io.add_closer(self.close)

    async def start_unix(self, path: str) -> None:
        """Also take requests on a unix socket (the workers of ``socketeer serve --workers`` take the
        requests relayed to them there)."""
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        server = await loop.create_unix_server(lambda: HttpProtocol(self), path)
        self._extra_servers.append(server)

    def adopt(self, sock: Any, data: bytes) -> None:
        """Serve a connection accepted by another process, whose first bytes were ``data``."""
        loop = self._loop or asyncio.get_running_loop()

        async def adopt() -> None:
            _, protocol = await loop.connect_accepted_socket(lambda: HttpProtocol(self), sock)
            protocol.data_received(data)

        loop.create_task(adopt())

    @property
    def sockets(self) -> list[Any]:
        server = cast(asyncio.Server | None, self._server)
        return list(server.sockets) if server is not None else []

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def start_webtransport(self, host: str, certfile: str, keyfile: str | None = None) -> None:
        """Listen for WebTransport (HTTP/3, UDP) on the TCP listener's port number (extra: ``webtransport``)."""
        from .webtransport import WebTransportServer

        webtransport = WebTransportServer(self.engine, certfile=certfile, keyfile=keyfile)
        await webtransport.start(host, self.port)
        self.webtransport = webtransport

    async def close(self) -> None:
        if self.webtransport is not None:
            await self.webtransport.close()
            self.webtransport = None
        if self._server is not None:
            self._server.close()
        for extra in self._extra_servers:
            extra.close()
        for hook in self.closing_hooks:
            await hook()
        # write the responses already decided (the polls answered by io.close()) before closing
        in_flight = [proto._in_flight for proto in self._connections if proto._in_flight is not None]
        if in_flight:
            await asyncio.wait(in_flight, timeout=1.0)
        for proto in list(self._connections):
            proto._held = False
            proto._flush()
            if proto.transport is not None:
                proto.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        extras, self._extra_servers = self._extra_servers, []
        for extra in extras:
            await extra.wait_closed()

    # -- routing -------------------------------------------------------------------------------

    def is_engine_path(self, path: str) -> bool:
        return path == self._path or path == self._path_bare

    def origin_allowed(self, request: HttpRequest) -> bool:
        """Refuse cross-site WebSocket requests unless CORS allows the origin."""
        return origin_allowed(request.headers, self.engine.config.cors)

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        if self.is_engine_path(request.path):
            return await self.engine.handle_request(request)
        if self.http_handler is not None:
            return await self.http_handler(request)
        return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")

    # -- write joining -------------------------------------------------------------------------

    def _schedule_flush(self, proto: HttpProtocol) -> None:
        self._dirty.append(proto)
        if self._flush_handle is None:
            loop = self._loop or asyncio.get_running_loop()
            self._flush_handle = loop.call_soon(self._flush_all)

    def _call_later(self, delay: float, callback: Callable[[], None]) -> None:
        (self._loop or asyncio.get_running_loop()).call_later(delay, callback)

    def _flush_all(self) -> None:
        self._flush_handle = None
        dirty = self._dirty
        self._dirty = []
        for proto in dirty:
            proto._flush()


def install_uvloop() -> bool:
    """Use uvloop for new event loops when it is installed; returns whether it is."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


async def serve(
    io: EngineHost,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    http_handler: HttpHandler | None = None,
    ssl: Any = None,
    reuse_port: bool = False,
    backlog: int = 2048,
    request_timeout: float = 20.0,
    keep_alive_timeout: float = 60.0,
    certfile: str | None = None,
    keyfile: str | None = None,
    webtransport: bool = False,
) -> StandaloneServer:
    """Listen on ``host:port`` and return the running :class:`StandaloneServer`.

    ``certfile`` (and ``keyfile``, PEM) serve HTTPS when no ``ssl`` context is given. ``webtransport``
    also listens on UDP, on the same port number, for the WebTransport transport over HTTP/3 (it needs
    ``certfile``; extra ``socketeer[webtransport]``), and handshakes then offer the upgrade to it.

    ``request_timeout`` bounds how long a client may take to send a complete request (headers and body;
    it also closes idle fresh connections and slow "slowloris" senders); ``keep_alive_timeout`` is how long
    an idle keep-alive connection stays open between requests.
    """
    server = StandaloneServer(
        io,
        http_handler=http_handler,
        ssl=tls_context(ssl, certfile, keyfile, webtransport),
        request_timeout=request_timeout,
        keep_alive_timeout=keep_alive_timeout,
    )
    await listen(server, host, port, reuse_port, backlog, certfile, keyfile, webtransport)
    return server


def tls_context(ssl: Any, certfile: str | None, keyfile: str | None, webtransport: bool) -> Any:
    """The TLS context of :func:`serve` (and of the one-port server of ``integrations.handover``):
    ``ssl`` when given, else one made from ``certfile``/``keyfile``, else ``None``."""
    if webtransport and certfile is None:
        raise ValueError("webtransport needs certfile (HTTP/3 has no plain-text mode)")
    if ssl is not None or certfile is None:
        return ssl
    import ssl as ssl_module

    context = ssl_module.create_default_context(ssl_module.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def listen(
    server: StandaloneServer,
    host: str,
    port: int,
    reuse_port: bool,
    backlog: int,
    certfile: str | None,
    keyfile: str | None,
    webtransport: bool,
) -> None:
    """Start ``server`` on TCP (and on UDP for WebTransport); if that fails, close it and raise."""
    try:
        await server.start(host, port, reuse_port=reuse_port, backlog=backlog)
        if webtransport:
            assert certfile is not None
            await server.start_webtransport(host, certfile, keyfile)
    except BaseException:
        await server.close()
        raise


def run(
    io: EngineHost,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    http_handler: HttpHandler | None = None,
    use_uvloop: bool = True,
    on_ready: Callable[[StandaloneServer], None] | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    webtransport: bool = False,
) -> None:
    """Run until SIGINT or SIGTERM, then close gracefully (``socketeer serve``); ``certfile``,
    ``keyfile`` and ``webtransport`` as for :func:`serve`."""

    def start() -> Awaitable[StandaloneServer]:
        return serve(
            io,
            host,
            port,
            http_handler=http_handler,
            certfile=certfile,
            keyfile=keyfile,
            webtransport=webtransport,
        )

    run_until_signalled(io, start, use_uvloop=use_uvloop, on_ready=on_ready)


def run_until_signalled(
    io: EngineHost,
    start: Callable[[], Awaitable[StandaloneServer]],
    *,
    use_uvloop: bool = True,
    on_ready: Callable[[StandaloneServer], None] | None = None,
) -> None:
    """Start a server with ``start()`` in a new event loop, run it until SIGINT or SIGTERM, then close
    ``io`` gracefully: the body of :func:`run` and of the one-port runner of ``integrations.handover``."""
    if use_uvloop:
        install_uvloop()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # before anyone can be told we are ready
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
        server = await start()
        if on_ready is not None:
            on_ready(server)
        await stop.wait()
        await io.close()

    asyncio.run(main())
