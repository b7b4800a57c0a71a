"""The Engine.IO v4 client: HTTP long-polling and WebSocket transports, the polling→WebSocket upgrade
and the heartbeat (the server pings, we answer at once and close with ``ping timeout`` when pings stop).

Everything on the wire goes through the L0 codecs: :mod:`..protocol.engineio_packets` for packets and
payloads, :class:`..protocol.engineio_handshake.OpenPayload` for the handshake and
:mod:`..protocol.websocket_frames` in the client role (masked frames out, unmasked frames in).

The owner gives two callbacks: ``on_message(data)`` for each MESSAGE (``str`` without the type digit, or
``bytes``) and ``on_close(reason, error)``, called exactly once whatever ends the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import ssl as _ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from ..exceptions import RemoteProtocolError
from ..protocol.engineio_handshake import OpenPayload
from ..protocol.engineio_packets import (
    EnginePacket,
    EnginePacketType,
    decode_packet,
    decode_payload,
    encode_payload_packet,
)
from ..protocol.http_compression import decode_body
from ..protocol.permessage_deflate import DeflateCodec, PerMessageDeflate, accept_response, client_offer
from ..protocol.websocket_frames import (
    FrameReader,
    Opcode,
    WebSocketProtocolError,
    build_close_frame,
    build_frame,
    build_handshake_request,
    check_handshake_response,
    generate_client_key,
    generate_mask,
)
from ..protocol.wire import WireMessage
from .http import HttpConnection, HttpResult, open_stream

__all__ = ["EngineClient", "EngineError", "EngineOptions", "TransportName"]

logger = logging.getLogger("socketeer.client")

TransportName = Literal["polling", "websocket", "webtransport"]
OnMessage = Callable[[str | bytes], None]
OnClose = Callable[[str, "BaseException | None"], None]
# An outgoing item: a whole Engine.IO text packet (type digit included) or a binary MESSAGE.
Item = str | bytes

_PING = EnginePacketType.PING
_PONG = EnginePacketType.PONG
_MESSAGE = EnginePacketType.MESSAGE
_OPEN = EnginePacketType.OPEN
_CLOSE = EnginePacketType.CLOSE
_MAX_RESPONSE = 100 * 1024 * 1024  # the most a compressed poll response may expand to
_MAX_MESSAGE = 100 * 1024 * 1024  # the largest WebSocket message taken (after decompression)


class EngineError(ConnectionError):
    """The Engine.IO connection could not be opened (HTTP error, refused, bad handshake, timeout)."""

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Where and how to connect. ``query`` and ``headers`` are sent with every request."""

    host: str
    port: int
    path: str = "/socket.io/"
    ssl: _ssl.SSLContext | None = None
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    transports: tuple[TransportName, ...] = ("polling", "websocket")
    upgrade: bool = True
    timeout: float = 20.0  # connection (and probe) timeout
    per_message_deflate: PerMessageDeflate | None = PerMessageDeflate()
    """Offer WebSocket compression (as the official client, whose default is ``{threshold: 1024}``)."""

    def target(self, transport: TransportName, sid: str | None) -> str:
        params: list[tuple[str, str]] = list(self.query)
        params += [("EIO", "4"), ("transport", transport)]
        if transport == "polling":
            params.append(("t", secrets.token_urlsafe(6)))
        if sid is not None:
            params.append(("sid", sid))
        return f"{self.path}?{urlencode(params)}"


class _Transport:
    """What the engine needs from a transport."""

    name: TransportName
    writable: bool
    on_packet: Callable[[EnginePacket], None]
    on_close: OnClose
    on_drain: Callable[[], None]

    def send(self, items: list[Item]) -> None:
        raise NotImplementedError

    async def close(self, send_close_packet: bool) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


def _noop_packet(packet: EnginePacket) -> None:
    pass


def _noop_close(reason: str, error: BaseException | None) -> None:
    pass


def _noop() -> None:
    pass


class _WebSocketTransport(_Transport):
    name: TransportName = "websocket"

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        leftover: bytes,
        deflate: DeflateCodec | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._deflate = deflate
        self._frames = FrameReader(
            client_side=True,
            max_message_size=_MAX_MESSAGE,
            inflate=None if deflate is None else deflate.decompress,
        )
        self._leftover = leftover
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.writable = True
        self.on_packet = _noop_packet
        self.on_close = _noop_close
        self.on_drain = _noop

    @classmethod
    async def connect(cls, options: EngineOptions, sid: str | None) -> _WebSocketTransport:
        reader, writer = await open_stream(options.host, options.port, options.ssl, options.timeout)
        try:
            key = generate_client_key()
            conn = HttpConnection(options.host, options.port, ssl=options.ssl)
            offer = options.per_message_deflate
            headers = list(options.headers)
            if offer is not None:
                headers.append(("Sec-WebSocket-Extensions", client_offer(offer)))
            writer.write(
                build_handshake_request(conn.host_header, options.target("websocket", sid), key, headers)
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), options.timeout)
            status, response_headers = _parse_head(head)
            if status != 101:
                body = b""
                try:
                    body = await asyncio.wait_for(reader.read(4096), 1.0)
                except (asyncio.TimeoutError, ConnectionError):
                    pass
                raise EngineError(
                    f"websocket handshake failed with status {status}", status=status, body=body
                )
            check_handshake_response(status, response_headers, key, extensions_offered=offer is not None)
            deflate = None
            answer = response_headers.get("sec-websocket-extensions")
            if offer is not None and answer:
                params = accept_response(answer, offer)
                deflate = DeflateCodec(
                    params,
                    server_side=False,
                    threshold=offer.threshold,
                    level=offer.level,
                    mem_level=offer.mem_level,
                    max_message_size=_MAX_MESSAGE,
                )
        except BaseException as exc:
            writer.close()
            if isinstance(exc, (asyncio.IncompleteReadError, asyncio.LimitOverrunError)):
                raise EngineError("websocket handshake failed: connection closed") from exc
            if isinstance(exc, WebSocketProtocolError):
                raise EngineError(f"websocket handshake failed: {exc}") from exc
            raise
        return cls(reader, writer, b"", deflate)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    async def _read_loop(self) -> None:
        reason: str = "transport close"
        error: BaseException | None = None
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                for opcode, payload in self._frames.feed(data):
                    if self._closed:
                        return
                    if opcode == Opcode.TEXT or opcode == Opcode.BINARY:
                        self.on_packet(decode_packet(payload))
                    elif opcode == Opcode.PING:
                        assert isinstance(payload, bytes)
                        self._write(build_frame(Opcode.PONG, payload, mask=generate_mask()))
                    elif opcode == Opcode.CLOSE:
                        self._write(build_close_frame(1000, mask=generate_mask()))
                        return
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError) as exc:
            # the connection ended abnormally (e.g. a reset): the official client (``ws``) reports a close
            # 1006, hence ``transport close``; only what arrived broken is a ``transport error``
            error = exc
        except (WebSocketProtocolError, RemoteProtocolError) as exc:
            reason, error = "transport error", exc
        finally:
            if not self._closed:
                self._closed = True
                self.writable = False
                self._writer.close()
                self.on_close(reason, error)

    def _write(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def send(self, items: list[Item]) -> None:
        frames = []
        deflate = self._deflate
        for item in items:
            opcode, payload = (Opcode.TEXT, item.encode()) if isinstance(item, str) else (Opcode.BINARY, item)
            if deflate is None:
                frames.append(build_frame(opcode, payload, mask=generate_mask()))
            else:
                frames.append(deflate.frame(opcode, payload, mask=generate_mask()))
        self._write(b"".join(frames))

    async def close(self, send_close_packet: bool) -> None:
        if self._closed:
            return
        if send_close_packet:
            self.send(["1"])
        self._write(build_close_frame(1000, mask=generate_mask()))
        try:
            await asyncio.wait_for(self._writer.drain(), 1.0)
        except (asyncio.TimeoutError, ConnectionError, OSError):
            pass
        self.abort()

    def abort(self) -> None:
        self._closed = True
        self.writable = False
        self._writer.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()


class _WebTransportTransport(_Transport):
    """Engine.IO over a WebTransport session (:mod:`.webtransport`, extra ``webtransport``)."""

    name: TransportName = "webtransport"

    def __init__(self, conn: Any, manager: Any) -> None:
        self._conn = conn
        self._manager = manager
        self._exiting: asyncio.Task[None] | None = None
        self.writable = True
        self.on_packet = _noop_packet
        self.on_close = _noop_close
        self.on_drain = _noop
        conn.on_packet = lambda packet: self.on_packet(packet)
        conn.on_end = self._ended

    @classmethod
    async def connect(cls, options: EngineOptions, sid: str | None) -> _WebTransportTransport:
        try:
            from .webtransport import open_webtransport
        except ImportError as exc:
            raise EngineError(f"the webtransport transport needs socketeer[webtransport] ({exc})") from exc
        try:
            conn, manager = await open_webtransport(
                options.host, options.port, options.path, list(options.headers), options.ssl, options.timeout
            )
        except (ConnectionError, asyncio.TimeoutError) as exc:
            raise EngineError(f"webtransport connection failed: {exc or type(exc).__name__}") from exc
        transport = cls(conn, manager)
        # the client speaks first: an open packet, with the sid of the session to upgrade
        conn.send_items(["0" if sid is None else "0" + json.dumps({"sid": sid}, separators=(",", ":"))])
        return transport

    def start(self) -> None:
        pass

    def send(self, items: list[Item]) -> None:
        self._conn.send_items(items)

    async def close(self, send_close_packet: bool) -> None:
        if not self.writable:
            return
        if send_close_packet:
            self.send(["1"])
        self.writable = False
        self._conn.end_session()
        await self._exit()

    def abort(self) -> None:
        self.writable = False
        self._conn.on_end = _noop_close
        self._conn.end_session()
        if self._exiting is None:
            self._exiting = asyncio.get_running_loop().create_task(self._exit())

    async def _exit(self) -> None:
        from .webtransport import _exit

        await _exit(self._manager)

    def _ended(self, reason: str, error: BaseException | None) -> None:
        was_writable = self.writable
        self.writable = False
        if self._exiting is None:
            self._exiting = asyncio.get_running_loop().create_task(self._exit())
        if was_writable:
            self.on_close(reason, error)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise EngineError(f"invalid HTTP status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            key, value = name.strip().lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(parts[1]), headers


_farewells: set[asyncio.Task[None]] = set()  # CLOSE packets on their way after a transport error


class _PollingTransport(_Transport):
    name: TransportName = "polling"

    def __init__(self, options: EngineOptions) -> None:
        self._options = options
        self._get = HttpConnection(options.host, options.port, ssl=options.ssl)
        self._post = HttpConnection(options.host, options.port, ssl=options.ssl)
        self.sid: str | None = None
        self.writable = True
        self._closed = False
        self._poll_task: asyncio.Task[None] | None = None
        self._post_task: asyncio.Task[None] | None = None
        self._pausing = False
        self._poll_done = asyncio.get_running_loop().create_future()
        self.on_packet = _noop_packet
        self.on_close = _noop_close
        self.on_drain = _noop

    def _headers(self) -> list[tuple[str, str]]:
        return [("Accept", "*/*"), *self._options.headers]

    def _get_headers(self) -> list[tuple[str, str]]:
        headers = self._headers()
        if not any(name.lower() == "accept-encoding" for name, _ in headers):
            headers.append(("Accept-Encoding", "gzip, deflate"))  # the server's httpCompression
        return headers

    @staticmethod
    def _body(result: HttpResult) -> str:
        """A GET's payload, decompressed when the server compressed it."""
        body = result.body
        encoding = result.headers.get("content-encoding")
        if encoding is not None and encoding.strip().lower() != "identity":
            try:
                body = decode_body(body, encoding, _MAX_RESPONSE)
            except ValueError as exc:
                raise EngineError(f"invalid compressed response: {exc}") from None
        return body.decode()

    async def handshake(self) -> list[EnginePacket]:
        """The opening GET; returns its packets (an OPEN first)."""
        result = await self._get.request(
            "GET", self._options.target("polling", None), self._get_headers(), timeout=self._options.timeout
        )
        if result.status != 200:
            self._get.close()
            raise EngineError(
                f"handshake failed with status {result.status}", status=result.status, body=result.body
            )
        try:
            return decode_payload(self._body(result))
        except (UnicodeDecodeError, RemoteProtocolError, EngineError) as exc:
            self._get.close()
            raise EngineError("invalid handshake response") from exc

    def start(self) -> None:
        self._poll_task = asyncio.get_running_loop().create_task(self._poll_loop())

    async def _poll_loop(self) -> None:
        try:
            while not self._closed and not self._pausing:
                result = await self._get.request(
                    "GET", self._options.target("polling", self.sid), self._get_headers()
                )
                if self._closed:
                    return
                if result.status != 200:
                    raise EngineError(f"poll failed with status {result.status}", status=result.status)
                for packet in decode_payload(self._body(result)):
                    if packet.type is _CLOSE:
                        self._fail("transport close", None)
                        return
                    self.on_packet(packet)
                    if self._closed:
                        return
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError, UnicodeDecodeError, RemoteProtocolError, EngineError) as exc:
            self._fail("transport error", exc)
        finally:
            if not self._poll_done.done():
                self._poll_done.set_result(None)

    def send(self, items: list[Item]) -> None:
        self.writable = False
        body = "\x1e".join(
            item if isinstance(item, str) else encode_payload_packet(EnginePacket(_MESSAGE, item))
            for item in items
        ).encode()
        self._post_task = asyncio.get_running_loop().create_task(self._do_post(body))

    async def _do_post(self, body: bytes) -> None:
        try:
            result = await self._post.request(
                "POST",
                self._options.target("polling", self.sid),
                [*self._headers(), ("Content-Type", "text/plain;charset=UTF-8")],
                body,
            )
            if result.status != 200:
                raise EngineError(f"post failed with status {result.status}", status=result.status)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError, EngineError) as exc:
            self._fail("transport error", exc)
            return
        finally:
            self._post_task = None
        self.writable = True
        if not self._closed:
            self.on_drain()

    async def pause(self) -> None:
        """Stop polling once the pending GET returns and let the pending POST finish (before an upgrade)."""
        self._pausing = True
        if self._poll_task is not None:
            await self._poll_done
        post = self._post_task
        if post is not None:
            await asyncio.shield(post)

    def resume(self) -> None:
        """Poll again after :meth:`pause` (the upgrade it was paused for failed)."""
        if self._closed or not self._pausing:
            return
        self._pausing = False
        task = self._poll_task
        if task is None or task.done():
            self._poll_done = asyncio.get_running_loop().create_future()
            self._poll_task = asyncio.get_running_loop().create_task(self._poll_loop())

    def _fail(self, reason: str, error: BaseException | None) -> None:
        if self._closed:
            return
        self.abort()
        if reason == "transport error" and self.sid is not None:
            self._say_farewell()
        self.on_close(reason, error)

    def _say_farewell(self) -> None:
        """After a failed request, tell the server on a new connection that this session is over (a CLOSE
        packet, as the official client sends): a server that has not seen the failure (it may learn of a
        cut only when it next writes) then ends the session at once, so a reconnection can recover it."""
        options, target = self._options, self._options.target("polling", self.sid)
        headers = [*self._headers(), ("Content-Type", "text/plain;charset=UTF-8")]

        async def farewell() -> None:
            conn = HttpConnection(options.host, options.port, ssl=options.ssl)
            try:
                await asyncio.wait_for(conn.request("POST", target, headers, b"1", timeout=1.0), 1.0)
            except (ConnectionError, OSError, asyncio.TimeoutError, EngineError):
                pass
            finally:
                conn.close()

        task = asyncio.get_running_loop().create_task(farewell())
        _farewells.add(task)
        task.add_done_callback(_farewells.discard)

    async def close(self, send_close_packet: bool) -> None:
        if self._closed:
            return
        if send_close_packet:
            post = self._post_task
            if post is not None:
                await asyncio.wait([post], timeout=1.0)
            try:
                await self._post.request(
                    "POST",
                    self._options.target("polling", self.sid),
                    [*self._headers(), ("Content-Type", "text/plain;charset=UTF-8")],
                    b"1",
                    timeout=1.0,
                )
            except (ConnectionError, OSError, asyncio.TimeoutError):
                pass
        self.abort()

    def abort(self) -> None:
        self._closed = True
        self.writable = False
        current = asyncio.current_task()
        for task in (self._poll_task, self._post_task):
            if task is not None and task is not current:
                task.cancel()
        self._get.close()
        self._post.close()


class EngineClient:
    """One Engine.IO connection. Call :meth:`open` once, then :meth:`send` and finally :meth:`close`."""

    def __init__(
        self,
        options: EngineOptions,
        on_message: OnMessage,
        on_close: OnClose,
        on_ping: Callable[[], None] = _noop,
    ) -> None:
        if not options.transports:
            raise ValueError("at least one transport is needed")
        self.options = options
        self._on_message = on_message
        self._on_close = on_close
        self._on_ping = on_ping
        self.state: Literal["new", "opening", "open", "closing", "closed"] = "new"
        self.sid: str | None = None
        self.handshake: OpenPayload | None = None
        self._transport: _Transport | None = None
        self._buffer: list[Item] = []
        self._upgrading = False
        self._opened: asyncio.Future[OpenPayload] | None = None
        self._ping_deadline = 0.0
        self._ping_timer: asyncio.TimerHandle | None = None
        self._probe_task: asyncio.Task[None] | None = None
        self._probe: _WebSocketTransport | None = None
        self.upgraded = asyncio.Event()
        self._idle = asyncio.Event()  # nothing buffered and no write in flight
        self._idle.set()

    # ----------------------------------------------------------------------------------------------
    # public

    @property
    def transport(self) -> TransportName | None:
        return self._transport.name if self._transport is not None else None

    @property
    def writable(self) -> bool:
        t = self._transport
        return self.state == "open" and t is not None and t.writable and not self._upgrading

    def ping_expired(self) -> bool:
        """Whether the server's pings stopped longer ago than ``pingInterval + pingTimeout``."""
        return self.state == "open" and asyncio.get_running_loop().time() > self._ping_deadline

    async def open(self) -> OpenPayload:
        """Connect and handshake; raises :class:`EngineError` (or ``OSError``) when that fails."""
        if self.state != "new":
            raise RuntimeError("an EngineClient opens once")
        self.state = "opening"
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        first = self.options.transports[0]
        try:
            if first == "polling":
                polling = _PollingTransport(self.options)
                packets = await polling.handshake()
                self._attach(polling)
                for packet in packets:
                    self._handle(packet)
                if not self._opened.done():
                    raise EngineError("handshake response has no open packet")
                polling.sid = self.sid
                polling.start()
            elif first == "webtransport":
                wt = await _WebTransportTransport.connect(self.options, None)
                self._attach(wt)
            else:
                ws = await _WebSocketTransport.connect(self.options, None)
                self._attach(ws)
                ws.start()
            payload = await asyncio.wait_for(asyncio.shield(self._opened), self.options.timeout)
        except BaseException:
            self._abort_all()
            self.state = "closed"
            raise
        state: str = self.state
        if state != "open":  # closed while the handshake was being processed
            raise EngineError("connection closed during the handshake")
        return payload

    def send(self, message: WireMessage) -> None:
        """Queue a Socket.IO message (its Engine.IO packets) and flush when the transport can take it."""
        if self.state not in ("open", "opening"):
            return
        if message.text is not None:
            self._buffer.append(message.text.decode())
        self._buffer.extend(message.binaries)
        self._flush()

    def abort(self, reason: str, error: BaseException | None = None) -> None:
        """Close at once, without a CLOSE packet, reporting ``reason`` to ``on_close``."""
        self._closed(reason, error)

    async def close(self) -> None:
        """Deliberate close: flush what is buffered, send CLOSE, report ``forced close``."""
        if self.state in ("closing", "closed"):
            return
        if self.state != "open":
            self._closed("forced close", None)
            return
        self.state = "closing"
        probe = self._probe_task
        if probe is not None and not probe.done():
            if self._upgrading:  # polling is paused: let the switch finish
                await asyncio.wait([probe], timeout=self.options.timeout)
            else:
                self._cancel_probe()
        transport = self._transport
        assert transport is not None
        if transport.name != "polling":
            self._flush()
            await transport.close(send_close_packet=True)
        else:
            # CLOSE goes after what is buffered (e.g. a namespace DISCONNECT)
            self._buffer.append("1")
            self._flush()
            try:
                await asyncio.wait_for(self._idle.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            transport.abort()
        self._closed("forced close", None)

    # ----------------------------------------------------------------------------------------------
    # internals

    def _attach(self, transport: _Transport) -> None:
        self._transport = transport
        transport.on_packet = self._handle
        transport.on_close = self._transport_closed
        transport.on_drain = self._on_drain

    def _transport_closed(self, reason: str, error: BaseException | None) -> None:
        self._closed(reason, error)

    def _handle(self, packet: EnginePacket) -> None:
        ptype = packet.type
        if ptype is _MESSAGE:
            if self.state == "open" or self.state == "closing":
                self._on_message(packet.data)
        elif ptype is _PING:
            self._send_items(["3"])
            self._reset_ping_timer()
            self._on_ping()
        elif ptype is _OPEN:
            if self.state != "opening" or self._opened is None or self._opened.done():
                return
            try:
                assert isinstance(packet.data, str)
                payload = OpenPayload.from_json(packet.data)
            except (RemoteProtocolError, AssertionError) as exc:
                self._opened.set_exception(EngineError(f"invalid open packet: {exc}"))
                return
            self._on_handshake(payload)
        elif ptype is _CLOSE:
            self._closed("transport close", None)

    def _on_handshake(self, payload: OpenPayload) -> None:
        self.sid = payload.sid
        self.handshake = payload
        self.state = "open"
        self._reset_ping_timer()
        assert self._opened is not None
        self._opened.set_result(payload)
        self._flush()
        t = self._transport
        if (
            self.options.upgrade
            and t is not None
            and t.name == "polling"
            and "websocket" in payload.upgrades
            and "websocket" in self.options.transports
        ):
            self._probe_task = asyncio.get_running_loop().create_task(self._run_probe())

    def _reset_ping_timer(self) -> None:
        payload = self.handshake
        if payload is None:
            return
        loop = asyncio.get_running_loop()
        delay = (payload.ping_interval + payload.ping_timeout) / 1000
        self._ping_deadline = loop.time() + delay
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        self._ping_timer = loop.call_later(delay, self._ping_timeout)

    def _ping_timeout(self) -> None:
        self._closed("ping timeout", None)

    def _send_items(self, items: list[Item]) -> None:
        self._buffer.extend(items)
        self._flush()

    def _flush(self) -> None:
        t = self._transport
        if t is None or not self._buffer or not t.writable or self._upgrading:
            return
        if self.state not in ("open", "closing"):
            return
        if t.name == "polling" and self.handshake is not None:
            items = self._take_within(self.handshake.max_payload)
        else:
            items, self._buffer = self._buffer, []
        if t.name == "polling":
            self._idle.clear()
        t.send(items)

    def _on_drain(self) -> None:
        if self._buffer:
            self._flush()
        else:
            self._idle.set()

    def _take_within(self, max_payload: int) -> list[Item]:
        """Packets for one POST without exceeding the server's maxPayload (at least one packet)."""
        size = 0
        count = 0
        for item in self._buffer:
            length = (len(item) if isinstance(item, str) else (len(item) * 4 + 2) // 3 + 1) + 1
            if count and size + length > max_payload:
                break
            size += length
            count += 1
        items = self._buffer[:count]
        del self._buffer[:count]
        return items

    async def _run_probe(self) -> None:
        try:
            ws = await _WebSocketTransport.connect(self.options, self.sid)
        except (OSError, EngineError, asyncio.TimeoutError) as exc:
            logger.debug("websocket upgrade failed: %s", exc)
            return
        self._probe = ws
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[EnginePacket] = loop.create_future()

        def on_probe_packet(packet: EnginePacket) -> None:
            if not answer.done():
                answer.set_result(packet)

        def on_probe_close(reason: str, error: BaseException | None) -> None:
            if not answer.done():
                answer.set_exception(EngineError(f"probe failed: {reason}"))

        ws.on_packet = on_probe_packet
        ws.on_close = on_probe_close
        ws.start()
        ws.send(["2probe"])
        try:
            packet = await asyncio.wait_for(answer, self.options.timeout)
            if packet.type is not _PONG or packet.data != "probe":
                raise EngineError("probe error")
            if self.state != "open":
                raise EngineError("closed during the upgrade")
            self._upgrading = True
            polling = self._transport
            assert isinstance(polling, _PollingTransport)
            await polling.pause()
            if self.state not in ("open", "closing") or self._transport is not polling:
                raise EngineError("closed during the upgrade")
            if not ws.writable:  # the probe's connection ended while polling was pausing
                raise EngineError("probe closed before the upgrade")
        except (EngineError, asyncio.TimeoutError) as exc:
            logger.debug("websocket upgrade failed: %s", exc)
            self._upgrading = False
            self._probe = None
            ws.abort()
            if isinstance(self._transport, _PollingTransport):
                self._transport.resume()
            self._flush()
            return
        polling.on_close = _noop_close
        polling.abort()
        self._probe = None
        self._attach(ws)
        ws.send(["5"])
        self._upgrading = False
        self.upgraded.set()
        self._flush()

    def _cancel_probe(self) -> None:
        task = self._probe_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self._probe is not None:
            self._probe.abort()
            self._probe = None

    def _abort_all(self) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        self._cancel_probe()
        t = self._transport
        if t is not None:
            t.on_close = _noop_close
            t.abort()

    def _closed(self, reason: str, error: BaseException | None) -> None:
        if self.state == "closed":
            return
        was_opening = self.state == "opening"
        self.state = "closed"
        self._buffer = []
        self._abort_all()
        if was_opening:
            if self._opened is not None and not self._opened.done():
                self._opened.set_exception(EngineError(f"connection closed during the handshake ({reason})"))
            return
        try:
            self._on_close(reason, error)
        except Exception:  # pragma: no cover - the owner's bug
            logger.exception("error in the close callback")
