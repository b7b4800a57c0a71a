"""One port for Socket.IO and another ASGI application (FastAPI, Starlette...), with Socket.IO on the
standalone server's fast path: ``await io.serve(host, port, app=fastapi_app)``.

The standalone server owns the listening socket. Each connection starts with a small protocol of this
module that reads the request line of the first request (it may come in pieces):

- a request for the Engine.IO path (``/socket.io/``) goes to the standalone server's own
  :class:`~socketeer.integrations.standalone.HttpProtocol`, which serves it, the WebSocket it may
  become, and further requests on the connection;
- any other request hands the connection, with the bytes read so far, to uvicorn's own HTTP protocol
  (``httptools`` or ``h11``, as ``uvicorn`` picks), which serves the application with uvicorn's HTTP,
  WebSocket and flow-control code. The application runs wrapped in :class:`~socketeer.ASGIApp`, so
  a keep-alive connection that later carries a Socket.IO request still gets it answered (through ASGI).

A keep-alive connection served by the standalone server comes back to this module's protocol between
two requests, so that a browser reusing a polling connection for an application request is served by
the application. The application's lifespan (startup and shutdown) runs with uvicorn's ``LifespanOn``
before the server listens and when it closes; its state reaches the requests (``request.state``).

uvicorn is needed for the application: ``pip install 'socketeer[uvicorn]'``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import formatdate
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from ..transports.engine_server import EngineHost
from ..transports.ports import HttpRequest, HttpResponse
from .asgi import ASGIApp, ASGIApplication, Message
from .standalone import HttpProtocol, StandaloneServer, listen, run_until_signalled, tls_context

__all__ = ["AppHandover", "run", "serve"]

logger = logging.getLogger("socketeer.handover")

_MISSING_UVICORN = (
    "serving another ASGI application on the same port (app=...) needs uvicorn, which serves that "
    "application's HTTP: pip install 'socketeer[uvicorn]'"
)
_DEFAULT_APP_OPTIONS: dict[str, Any] = {"log_config": None, "timeout_graceful_shutdown": 5.0}
_FALLBACK_LIMIT = 16 * 1024 * 1024  # a pipelined application response collected in memory (see _call_app)


class AppHandover:
    """Hands the connections that are not Socket.IO's to uvicorn's protocols serving ``app``.

    ``app_options`` are keyword arguments of ``uvicorn.Config`` for the application (``root_path``,
    ``timeout_keep_alive``, ``ws_max_size``, ``proxy_headers``, ``h11_max_incomplete_event_size``,
    ``timeout_graceful_shutdown`` (default 5 s here), ``http``, ``ws``, ``lifespan``...); the listening
    socket, TLS and the event loop are the standalone server's, so uvicorn's own options for those do
    not apply.
    """

    def __init__(
        self, io: EngineHost, app: ASGIApplication, app_options: Mapping[str, Any] | None = None
    ) -> None:
        try:
            import uvicorn
            from uvicorn.server import ServerState
        except ImportError as exc:
            raise ImportError(_MISSING_UVICORN) from exc
        if isinstance(app, str):
            raise TypeError("app must be an ASGI application object, not a string")
        options = {**_DEFAULT_APP_OPTIONS, **(app_options or {})}
        for name in ("host", "port", "uds", "fd", "ssl_certfile", "ssl_keyfile", "loop", "workers", "reload"):
            if name in options:
                raise TypeError(f"app_options: {name!r} is the standalone server's (pass it to serve/run)")
        self.io = io
        self.app = app
        # the application's HTTP and WebSockets: wrapped, so that Socket.IO requests arriving on a
        # connection the application serves are still answered (the ASGI way)
        self.config = uvicorn.Config(ASGIApp(io, app), **{**options, "lifespan": "off"})
        self.config.load()
        # its lifespan: the application itself (the wrapper's lifespan would close the Socket.IO server)
        self._lifespan_config = uvicorn.Config(
            app, **{**options, "lifespan": options.get("lifespan", "auto")}
        )
        self._lifespan_config.load()
        self.lifespan: Any = self._lifespan_config.lifespan_class(self._lifespan_config)
        self.server_state: Any = ServerState()
        """uvicorn's shared state for the connections the application serves (``total_requests``,
        ``connections``, ``tasks``)."""
        self.handed_over = 0
        """How many connections went to the application."""
        self.server: StandaloneServer | None = None
        self._engine_prefix = b"/socket.io"
        self._sniffing: set[_FirstRequest] = set()
        self._date_timer: asyncio.TimerHandle | None = None
        self._started = False

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, server: StandaloneServer) -> None:
        """Take the new connections of ``server`` (before it starts)."""
        if server.http_handler is not None:
            raise TypeError("app and http_handler cannot be used together: app serves the other requests")
        self.server = server
        self._engine_prefix = server.engine.config.path.rstrip("/").encode("latin-1")
        server.connection_factory = lambda: _FirstRequest(self, None)
        server.idle_handoff = self._idle
        server.http_handler = self._call_app
        server.closing_hooks.append(self.close)

    async def startup(self) -> None:
        """Run the application's lifespan startup; :class:`RuntimeError` if it fails."""
        self._tick()
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self._cancel_tick()
            raise RuntimeError("the application's lifespan startup failed (see the log)")
        self._started = True

    async def close(self) -> None:
        """Stop the application's connections gracefully (what is in flight is answered), then run its
        lifespan shutdown. The standalone server calls it as it closes."""
        for sniffer in list(self._sniffing):
            sniffer.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        grace = self.config.timeout_graceful_shutdown
        deadline = loop.time() + (5.0 if grace is None else float(grace))
        while (state.connections or state.tasks) and loop.time() < deadline:
            await asyncio.sleep(0.05)
        if state.tasks:
            logger.warning(
                "cancelling %d application task(s) still running after the graceful shutdown",
                len(state.tasks),
            )
            for task in list(state.tasks):
                task.cancel()
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        self._cancel_tick()
        if self._started:
            self._started = False
            await self.lifespan.shutdown()
            self.lifespan = self._lifespan_config.lifespan_class(self._lifespan_config)  # served again

    # -- routing -------------------------------------------------------------------------------

    def _idle(self, proto: HttpProtocol, pending: bytes) -> None:
        """A keep-alive connection of the standalone server between two requests: read the next one's
        request line before deciding who serves it. The protocol stays the connection's owner (its
        keep-alive timer runs, the server closes it) until the application takes the connection."""
        transport = proto.transport
        if transport is None or transport.is_closing():
            return
        sniffer = _FirstRequest(self, proto)
        sniffer.transport = transport
        transport.set_protocol(sniffer)
        if pending:
            sniffer.data_received(pending)

    def is_engine_target(self, target: bytes) -> bool:
        """Whether a request-target (origin or absolute form) names the Engine.IO path."""
        if target.startswith(self._engine_prefix) and b"%" not in target:
            rest = target[len(self._engine_prefix) : len(self._engine_prefix) + 2]
            return rest in (b"", b"?", b"/", b"/?")  # the common case, without decoding
        if target[:1] != b"/":
            if target.startswith((b"http://", b"https://")):
                target = urlsplit(target).path or b"/"
            else:
                return True  # "*" or garbage: the standalone server answers it (400, 404)
        path = target.split(b"?", 1)[0].split(b"#", 1)[0]
        assert self.server is not None
        return self.server.is_engine_path(unquote(path.decode("latin-1")))

    def _to_app(self, transport: asyncio.Transport, data: bytes) -> None:
        protocol = self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )
        self.handed_over += 1
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        protocol.data_received(data)

    # -- uvicorn's clock -----------------------------------------------------------------------

    def _tick(self) -> None:
        # uvicorn's server refreshes the Date header once a second; so do we for its protocols
        date = [(b"date", formatdate(time.time(), usegmt=True).encode())] if self.config.date_header else []
        self.server_state.default_headers = date + self.config.encoded_headers
        self._date_timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    def _cancel_tick(self) -> None:
        if self._date_timer is not None:
            self._date_timer.cancel()
            self._date_timer = None

    # -- pipelined application requests --------------------------------------------------------

    async def _call_app(self, request: HttpRequest) -> HttpResponse:
        """An application request pipelined on one connection behind a Socket.IO request (the only
        way one reaches the standalone server's parser): the response is collected, then written."""
        scheme = request.scheme
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": scheme,
            "path": request.path,
            "raw_path": request.path.encode("latin-1", "replace"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": self.config.root_path,
            "headers": headers,
            "client": request.remote_address,
            "server": None,
            "state": dict(self.lifespan.state),
        }
        sent = False
        status = 500
        out_headers: list[tuple[str, str]] = []
        body: list[bytes] = []
        size = 0
        done = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out_headers[:] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", ())
                    if k.lower() not in (b"content-length", b"transfer-encoding", b"connection")
                ]
            elif message["type"] == "http.response.body":
                chunk = bytes(message.get("body", b""))
                size += len(chunk)
                if size > _FALLBACK_LIMIT:
                    raise RuntimeError("a pipelined application response over 16 MiB")
                body.append(chunk)
                if not message.get("more_body", False):
                    done.set()

        try:
            await cast(Callable[..., Awaitable[None]], self.config.loaded_app)(scope, receive, send)
        finally:
            done.set()
        return HttpResponse(status, out_headers, b"".join(body))


class _FirstRequest(asyncio.Protocol):
    """A connection at a request boundary: reads the request line, then gives the connection (and the
    bytes) to the standalone server or to the application."""

    __slots__ = ("_buffer", "_handover", "_proto", "_timer", "transport")

    def __init__(self, handover: AppHandover, proto: HttpProtocol | None) -> None:
        self._handover = handover
        self._proto = proto  # the standalone server's protocol that served the previous request
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a new connection (one given back between two requests is not "made" again)
        self.transport = cast(asyncio.Transport, transport)
        self._handover._sniffing.add(self)
        server = self._handover.server
        assert server is not None
        self._timer = asyncio.get_running_loop().call_later(server.request_timeout, self.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done()
        self.transport = None
        if self._proto is not None:
            self._proto.connection_lost(exc)  # the standalone server's protocol still owned it

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        buffer = (self._buffer + data) if self._buffer else data
        if buffer[:1] in (b"\r", b"\n"):
            buffer = buffer.lstrip(b"\r\n")  # empty lines before a request line are ignored (RFC 9112 2.2)
        end = buffer.find(b"\n")
        server = self._handover.server
        assert server is not None
        if end < 0 and len(buffer) <= server.max_header_bytes:
            self._buffer = buffer
            return
        self._done()
        parts = buffer[: max(end, 0)].split(b" ")
        proto = self._proto
        if end >= 0 and len(parts) == 3 and parts[0] and not self._handover.is_engine_target(parts[1]):
            if proto is not None:
                self._proto = None
                proto.detach()
            self._handover._to_app(transport, buffer)
            return
        # Socket.IO's, or a request line too long or malformed: the standalone server answers it
        self._proto = None
        if proto is None:
            proto = HttpProtocol(server)
            transport.set_protocol(proto)
            proto.connection_made(transport)
        else:
            transport.set_protocol(proto)
        proto.data_received(buffer)

    def close(self) -> None:
        self._done()
        if self.transport is not None:
            self.transport.close()

    def _done(self) -> None:
        self._handover._sniffing.discard(self)
        self._buffer = b""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# -- entry points ------------------------------------------------------------------------------


async def serve(
    io: EngineHost,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    app: ASGIApplication,
    app_options: Mapping[str, Any] | None = None,
    ssl: Any = None,
    reuse_port: bool = False,
    backlog: int = 2048,
    request_timeout: float = 20.0,
    keep_alive_timeout: float = 60.0,
    certfile: str | None = None,
    keyfile: str | None = None,
    webtransport: bool = False,
) -> StandaloneServer:
    """Like :func:`socketeer.integrations.standalone.serve`, with every request that is not Socket.IO's
    served by ``app`` (with uvicorn's HTTP); the application's lifespan starts before the server listens
    and shuts down when it closes (``await io.close()``). The handover is ``server.handover``."""
    ssl = tls_context(ssl, certfile, keyfile, webtransport)
    handover = AppHandover(io, app, app_options)
    server = StandaloneServer(
        io, ssl=ssl, request_timeout=request_timeout, keep_alive_timeout=keep_alive_timeout
    )
    handover.attach(server)
    server.handover = handover
    await handover.startup()
    # on failure, listen() closes the server, whose closing hooks stop the application (lifespan shutdown)
    await listen(server, host, port, reuse_port, backlog, certfile, keyfile, webtransport)
    return server


def run(
    io: EngineHost,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    app: ASGIApplication,
    app_options: Mapping[str, Any] | None = None,
    use_uvloop: bool = True,
    on_ready: Callable[[StandaloneServer], None] | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    webtransport: bool = False,
) -> None:
    """:func:`socketeer.integrations.standalone.run` with ``app`` served on the same port (see :func:`serve`)."""

    def start() -> Awaitable[StandaloneServer]:
        return serve(
            io,
            host,
            port,
            app=app,
            app_options=app_options,
            certfile=certfile,
            keyfile=keyfile,
            webtransport=webtransport,
        )

    run_until_signalled(io, start, use_uvloop=use_uvloop, on_ready=on_ready)
