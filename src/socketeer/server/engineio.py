"""``EngineIOServer``: Engine.IO sessions without Socket.IO on top, as Node's ``engine.io`` package.

Messages are plain strings or bytes: no namespaces, events, acknowledgements or rooms. The official
``engine.io-client`` (and python-engineio's client) connect to it; it runs on the standalone server
(``await eio.serve(...)``, ``eio.run()``) and under any ASGI server (``socketeer.ASGIApp(eio)``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from .._types import EngineSid
from ..engine.config import (
    AllowRequest,
    CookieConfig,
    CorsConfig,
    EngineConfig,
    HttpCompression,
    Limits,
    PerMessageDeflate,
    http_compression_option,
    per_message_deflate_option,
)
from ..protocol.wire import WireMessage
from ..transports.engine_server import CloseReason, EngineConnection, EngineServer
from ..transports.ports import HttpRequest
from ..transports.tasks import TaskGroupLite

__all__ = ["EngineIOServer", "EngineIOSocket", "EngineIOEvent"]

logger = logging.getLogger("socketeer.engine")

EngineIOEvent = Literal["connection", "message", "close"]
"""``connection`` (socket), ``message`` (socket, data: str | bytes), ``close`` (socket, reason: str)."""

F = TypeVar("F", bound=Callable[..., Any])


class EngineIOSocket:
    """One Engine.IO session (one client), the ``socket`` of Node's ``engine.io``."""

    __slots__ = ("_conn", "_server", "data")

    def __init__(self, server: EngineIOServer, conn: EngineConnection) -> None:
        self._server = server
        self._conn = conn
        self.data: dict[str, Any] = {}
        """Free for the application (a user, a counter...)."""

    def __repr__(self) -> str:
        return f"<EngineIOSocket id={self.id!r} transport={self.transport!r}>"

    @property
    def id(self) -> str:
        """The session id (``sid``) the client got in its handshake."""
        return self._conn.sid

    @property
    def request(self) -> HttpRequest:
        """The handshake request: ``query``, ``headers``, ``remote_address``."""
        return self._conn.request

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"`` (it changes when the client upgrades)."""
        return self._conn.transport

    @property
    def closed(self) -> bool:
        return self._conn.closed

    def send(self, data: str | bytes, *, compress: bool = True) -> None:
        """Send one message: a string arrives as a string, bytes as binary. Never blocks; a message
        for a closed session is dropped. ``compress=False`` keeps it out of HTTP and WebSocket
        compression (the official ``socket.send(data, {compress: false})``)."""
        message = _message(data)
        if not compress:
            message.compress = False
        self._conn.write(message)

    def close(self) -> None:
        """Close the session from the server; the ``close`` handlers see ``forced close``."""
        self._conn.close(CloseReason.FORCED_CLOSE)

    # -- from the engine -----------------------------------------------------------------------

    def on_text(self, text: str) -> None:
        self._server._dispatch("message", self, text)

    def on_binary(self, data: bytes) -> None:
        self._server._dispatch("message", self, data)

    def on_close(self, reason: str) -> None:
        self._server.clients.pop(self.id, None)
        self._server._dispatch("close", self, reason)


def _message(data: str | bytes) -> WireMessage:
    if isinstance(data, str):
        return WireMessage(b"4" + data.encode())
    if isinstance(data, (bytes, bytearray, memoryview)):
        return WireMessage(None, (bytes(data),))
    raise TypeError(f"an Engine.IO message is str or bytes, not {type(data).__name__}")


def engine_config(
    *,
    path: str,
    transports: Sequence[str],
    allow_upgrades: bool,
    ping_interval: float,
    ping_timeout: float,
    upgrade_timeout: float,
    max_http_buffer_size: int,
    cookie: CookieConfig | bool | None,
    cors: CorsConfig | dict[str, Any] | None,
    allow_request: AllowRequest | None,
    limits: Limits | None,
    http_compression: HttpCompression | dict[str, Any] | bool,
    per_message_deflate: PerMessageDeflate | dict[str, Any] | bool,
    allow_eio3: bool,
) -> EngineConfig:
    """The engine options of :class:`~socketeer.Server` and :class:`~socketeer.EngineIOServer` as an
    :class:`EngineConfig`: the path ends with ``/``, ``cookie=True`` is the default cookie, a dict is
    the config it spells, no ``limits`` the default ones."""
    if not path.endswith("/"):
        path += "/"
    if isinstance(cookie, bool):
        cookie = CookieConfig() if cookie else None
    if isinstance(cors, dict):
        cors = CorsConfig(**cors)
    return EngineConfig(
        path=path,
        transports=tuple(transports),
        allow_upgrades=allow_upgrades,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        upgrade_timeout=upgrade_timeout,
        max_http_buffer_size=max_http_buffer_size,
        cookie=cookie,
        cors=cors,
        allow_request=allow_request,
        limits=limits or Limits(),
        http_compression=http_compression_option(http_compression),
        per_message_deflate=per_message_deflate_option(per_message_deflate),
        allow_eio3=allow_eio3,
    )


class EngineIOServer:
    """An Engine.IO v4 server: sessions over long-polling and WebSocket, with the upgrade and heartbeat.

    ::

        eio = socketeer.EngineIOServer()

        @eio.on("message")
        def message(socket, data):
            socket.send(data)          # echo

        eio.run("127.0.0.1", 8000)     # or: app = socketeer.ASGIApp(eio)

    Handlers may be plain functions or coroutines (run as tasks, cancelled by :meth:`close`). The options
    are those of :class:`~socketeer.Server` that belong to Engine.IO; the default path is ``/engine.io/``,
    as with Node's ``engine.io``.
    """

    def __init__(
        self,
        *,
        path: str = "/engine.io/",
        transports: Sequence[str] = ("polling", "websocket"),
        allow_upgrades: bool = True,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        upgrade_timeout: float = 10.0,
        max_http_buffer_size: int = 1_000_000,
        cookie: CookieConfig | bool | None = None,
        cors: CorsConfig | dict[str, Any] | None = None,
        allow_request: AllowRequest | None = None,
        limits: Limits | None = None,
        http_compression: HttpCompression | dict[str, Any] | bool = True,
        per_message_deflate: PerMessageDeflate | dict[str, Any] | bool = False,
        allow_eio3: bool = False,
    ) -> None:
        self.engine_config = engine_config(
            path=path,
            transports=transports,
            allow_upgrades=allow_upgrades,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            upgrade_timeout=upgrade_timeout,
            max_http_buffer_size=max_http_buffer_size,
            cookie=cookie,
            cors=cors,
            allow_request=allow_request,
            limits=limits,
            http_compression=http_compression,
            per_message_deflate=per_message_deflate,
            allow_eio3=allow_eio3,
        )
        self.engine = EngineServer(self.engine_config, self)
        self.clients: dict[str, EngineIOSocket] = {}
        """The open sessions by id."""
        self._handlers: dict[str, list[Callable[..., Any]]] = {"connection": [], "message": [], "close": []}
        self._tasks = TaskGroupLite()
        self._closers: list[Callable[[], Any]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<socketeer.EngineIOServer path={self.engine_config.path!r} clients={len(self.clients)}>"

    # -- handlers ------------------------------------------------------------------------------

    @overload
    def on(self, event: EngineIOEvent) -> Callable[[F], F]: ...
    @overload
    def on(self, event: EngineIOEvent, handler: F) -> F: ...

    def on(self, event: EngineIOEvent, handler: F | None = None) -> F | Callable[[F], F]:
        """Register a handler (``@eio.on("message")``): ``connection(socket)``,
        ``message(socket, data)``, ``close(socket, reason)``."""
        if event not in self._handlers:
            raise ValueError(f"unknown Engine.IO event {event!r}: one of {sorted(self._handlers)}")

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"handler for {event!r} is not callable")
            self._handlers[event].append(fn)
            return fn

        return register if handler is None else register(handler)

    def _dispatch(self, event: str, *args: Any) -> None:
        for handler in self._handlers[event]:
            try:
                result = handler(*args)
            except Exception:
                logger.exception(
                    "error in the Engine.IO %s handler %s", event, getattr(handler, "__name__", "")
                )
                continue
            if inspect.iscoroutine(result):
                self._tasks.spawn(result)

    # -- from the engine -----------------------------------------------------------------------

    def on_connection(self, connection: EngineConnection) -> EngineIOSocket:
        socket = EngineIOSocket(self, connection)
        self.clients[socket.id] = socket
        self._dispatch("connection", socket)
        return socket

    # -- sending -------------------------------------------------------------------------------

    def send(self, sid: str, data: str | bytes) -> None:
        """Send a message to one session; unknown or closed ids are ignored."""
        socket = self.clients.get(sid)
        if socket is not None:
            socket.send(data)

    def broadcast(self, data: str | bytes) -> None:
        """Send one message to every open session (encoded once)."""
        message = _message(data)
        for socket in list(self.clients.values()):
            socket._conn.write(message)

    def disconnect(self, sid: str) -> None:
        """Close one session; unknown ids are ignored."""
        conn = self.engine.connections.get(EngineSid(sid))
        if conn is not None:
            conn.close(CloseReason.FORCED_CLOSE)

    # -- running -------------------------------------------------------------------------------

    async def serve(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> Any:
        """Start the standalone server and return it once it listens (see :meth:`socketeer.Server.serve`)."""
        from ..integrations.standalone import serve  # a convenience entry point, as Server.serve

        return await serve(self, host, port, **options)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve with the standalone server until SIGINT or SIGTERM, then close (blocking)."""
        from ..integrations.standalone import run  # a convenience entry point, as Server.run

        run(self, host, port, **options)

    async def start(self) -> None:
        """Nothing to start before serving (no adapters); here for the integrations."""

    @property
    def started(self) -> bool:
        return True

    def add_closer(self, closer: Callable[[], Any]) -> None:
        """Called by integrations: something to stop when the server closes."""
        self._closers.append(closer)

    async def close(self, timeout: float = 5.0) -> None:
        """Close every session (``close`` handlers see ``server shutting down``), let handler tasks
        finish up to ``timeout`` seconds, cancel what is left, and stop the integrations."""
        if self._closed:
            return
        self._closed = True
        self.engine.close_all(CloseReason.SERVER_SHUTTING_DOWN)
        await self._tasks.cancel_all(timeout)
        for closer in self._closers:
            result = closer()
            if inspect.isawaitable(result):
                await result

    async def __aenter__(self) -> EngineIOServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
