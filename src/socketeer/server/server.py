"""``Server`` — the ``io`` object: the whole Socket.IO server."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..adapters.base import Adapter, RoomsLike
from ..adapters.memory import InMemoryAdapter, SessionAwareAdapter
from ..engine.config import (
    AllowRequest,
    CookieConfig,
    CorsConfig,
    HttpCompression,
    Limits,
    PerMessageDeflate,
)
from ..protocol.parser import JsonParser, Parser
from ..sio.handlers import Handler
from ..transports.engine_server import CloseReason, EngineConnection, EngineServer
from ..transports.tasks import TaskGroupLite
from .broadcast import BroadcastOperator
from .client import Client
from .engineio import engine_config
from .namespace import Middleware, Namespace
from .socket import HandlerObserver, RemoteSocket

if TYPE_CHECKING:
    from .client import Client as _Client

__all__ = ["ConnectionStateRecovery", "ParentNamespace", "Server"]

logger = logging.getLogger("socketeer.server")

H = TypeVar("H", bound=Handler)
NamespacePredicate = Callable[[str, dict[str, Any]], Any]
AdapterFactory = Callable[[Namespace], Adapter]


@dataclass(frozen=True, slots=True)
class ConnectionStateRecovery:
    """Restore a client's id, rooms, data and missed broadcasts after a short disconnection."""

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True


class ParentNamespace(Namespace):
    """A dynamic namespace: ``io.of(re.compile(r"^/team-\\d+$"))`` or ``io.of(predicate)``.

    Its handlers and middlewares apply to every child namespace it creates; emitting on it reaches the
    sockets of all children.
    """

    def __init__(self, server: Server, matcher: re.Pattern[str] | NamespacePredicate) -> None:
        super().__init__(server, f"<parent {getattr(matcher, 'pattern', matcher)!r}>")
        self.matcher = matcher
        self.children: dict[str, Namespace] = {}

    async def matches(self, name: str, auth: dict[str, Any]) -> bool:
        matcher = self.matcher
        if isinstance(matcher, re.Pattern):
            return matcher.fullmatch(name) is not None
        result = matcher(name, auth)
        if inspect.isawaitable(result):
            result = await result
        return bool(result)

    def create_child(self, name: str) -> Namespace:
        child = Namespace(self.server, name, parent=self)
        child._handlers = self._handlers
        child._middlewares = self._middlewares
        self.children[name] = child
        return child

    def emit(self, event: str, *args: Any) -> None:
        for child in list(self.children.values()):
            child.emit(event, *args)

    def to(self, *rooms: RoomsLike) -> BroadcastOperator:
        raise NotImplementedError("use to() on a child namespace")


class Server:
    """The Socket.IO server (``io``).

    Options mirror the official server (times in seconds): ``path``, ``transports``, ``allow_upgrades``,
    ``ping_interval``, ``ping_timeout``, ``upgrade_timeout``, ``max_http_buffer_size``, ``cookie``, ``cors``,
    ``allow_request``, ``allow_eio3`` (accept socket.io-client 2.x, off by default), ``http_compression``
    (``True``, ``False`` or :class:`HttpCompression`), ``per_message_deflate`` (``False``, ``True`` or
    :class:`PerMessageDeflate`; standalone server only), ``connect_timeout``, plus ``adapter`` (a factory
    taking the namespace), ``parser`` and ``limits``. Unknown options are a ``TypeError``.
    """

    def __init__(
        self,
        *,
        # Engine.IO
        path: str = "/socket.io/",
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
        allow_eio3: bool = False,
        http_compression: HttpCompression | dict[str, Any] | bool = True,
        per_message_deflate: PerMessageDeflate | dict[str, Any] | bool = False,
        # Socket.IO
        connect_timeout: float = 45.0,
        adapter: AdapterFactory | None = None,
        parser: Parser | None = None,
        cleanup_empty_child_namespaces: bool = False,
        connection_state_recovery: ConnectionStateRecovery | dict[str, Any] | bool | None = None,
    ) -> None:
        limits = limits or Limits()
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
            allow_eio3=allow_eio3,
            http_compression=http_compression,
            per_message_deflate=per_message_deflate,
        )
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        self.connect_timeout = connect_timeout
        self.parser: Parser = parser or JsonParser()
        self.decode_limits = limits.decode_limits()
        if connection_state_recovery is True:
            connection_state_recovery = ConnectionStateRecovery()
        elif isinstance(connection_state_recovery, dict):
            connection_state_recovery = ConnectionStateRecovery(**connection_state_recovery)
        elif connection_state_recovery is False:
            connection_state_recovery = None
        self.recovery: ConnectionStateRecovery | None = connection_state_recovery
        self.default_adapter = adapter is None
        """Whether the adapter is the built-in in-memory one (no ``adapter`` was given)."""
        if adapter is None:
            recovery = connection_state_recovery
            if recovery is not None:
                adapter = lambda nsp: SessionAwareAdapter(nsp, recovery.max_disconnection_duration)  # noqa: E731
            else:
                adapter = InMemoryAdapter
        self._adapter_factory: AdapterFactory = adapter
        self.cleanup_empty_child_namespaces = cleanup_empty_child_namespaces
        self.engine = EngineServer(self.engine_config, self)
        self._tasks = TaskGroupLite()
        self._namespaces: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._closers: list[Callable[[], Any]] = []
        self._namespace_listeners: list[Callable[[Namespace], Any]] = []
        self._closed = False
        self._started = False
        self.handler_observer: HandlerObserver | None = None
        """Told about every event handler run (:mod:`socketeer.metrics` installs one)."""
        self.sockets = self.of("/")

    def __repr__(self) -> str:
        return f"<socketeer.Server path={self.engine_config.path!r} namespaces={list(self._namespaces)}>"

    # -- namespaces ----------------------------------------------------------------------------

    @overload
    def of(self, name: str) -> Namespace: ...
    @overload
    def of(self, name: re.Pattern[str] | NamespacePredicate) -> ParentNamespace: ...

    def of(self, name: str | re.Pattern[str] | NamespacePredicate) -> Namespace:
        """The namespace ``name`` (created on first use), or a dynamic parent namespace."""
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._namespaces.get(name)
            if nsp is None:
                nsp = self._namespaces[name] = Namespace(self, name)
                self._namespace_created(nsp)
            return nsp
        parent = ParentNamespace(self, name)
        self._parents.append(parent)
        self._namespace_created(parent)
        return parent

    def on_new_namespace(self, listener: Callable[[Namespace], Any]) -> None:
        """Call ``listener(namespace)`` for every namespace created from now on (dynamic parents and
        their children included)."""
        self._namespace_listeners.append(listener)

    def _namespace_created(self, nsp: Namespace) -> None:
        for listener in self._namespace_listeners:
            try:
                listener(nsp)
            except Exception:
                logger.exception("error in a new-namespace listener")

    @property
    def parent_namespaces(self) -> list[ParentNamespace]:
        """The dynamic namespaces (regex or predicate) in the order they were declared."""
        return list(self._parents)

    @property
    def namespaces(self) -> dict[str, Namespace]:
        return dict(self._namespaces)

    def _connect(self, client: _Client, name: str, auth: Any) -> None:
        if not isinstance(auth, dict):
            auth = {}
        nsp = self._namespaces.get(name)
        if nsp is not None:
            nsp._add(client, auth)
            return
        if not self._parents:
            client.refuse(name, "Invalid namespace", invalid_namespace=True)
            return
        client.connecting(name)
        self._tasks.spawn(self._connect_dynamic(client, name, auth))

    async def _connect_dynamic(self, client: _Client, name: str, auth: dict[str, Any]) -> None:
        try:
            for parent in self._parents:
                try:
                    matched = await parent.matches(name, auth)
                except Exception:
                    logger.exception("namespace predicate failed for %r", name)
                    matched = False
                if matched:
                    nsp = self._namespaces.get(name)
                    if nsp is None:
                        nsp = self._namespaces[name] = parent.create_child(name)
                        self._namespace_created(nsp)
                    ready = nsp._adapter_ready
                    if ready is not None and not ready.done():
                        with contextlib.suppress(Exception):
                            await asyncio.shield(ready)
                    client.connected_or_refused(name)
                    if not client.conn.closed:
                        nsp._add(client, auth)
                    return
        finally:
            client.connected_or_refused(name)
        if not client.conn.closed:
            client.refuse(name, "Invalid namespace", invalid_namespace=True)

    def _namespace_emptied(self, nsp: Namespace) -> None:
        if (
            self.cleanup_empty_child_namespaces
            and isinstance(nsp.parent, ParentNamespace)
            and not nsp.sockets
        ):
            nsp.parent.children.pop(nsp.name, None)
            self._namespaces.pop(nsp.name, None)

    # -- EngineHandler -------------------------------------------------------------------------

    def on_connection(self, connection: EngineConnection) -> Client:
        client = Client(self, connection)
        if connection.protocol == 3:
            self._connect(client, "/", {})  # a v3 client is in the main namespace without asking
        return client

    # -- the main namespace, directly on io ----------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler on the main namespace (``@io.on("connection")``, ``@io.on("btn")``)."""
        if handler is None:
            return self.sockets.on(event)
        return self.sockets.on(event, handler)

    event = on

    def use(self, middleware: Middleware) -> Middleware:
        return self.sockets.use(middleware)

    def emit(self, event: str, *args: Any) -> None:
        """Send to every socket of the main namespace."""
        self.sockets.emit(event, *args)

    send = emit

    def to(self, *rooms: RoomsLike) -> BroadcastOperator:
        return self.sockets.to(*rooms)

    in_ = to

    def except_(self, *rooms: RoomsLike) -> BroadcastOperator:
        return self.sockets.except_(*rooms)

    @property
    def volatile(self) -> BroadcastOperator:
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        return self.sockets.local

    def compress(self, compress: bool = True) -> BroadcastOperator:
        return self.sockets.compress(compress)

    def timeout(self, seconds: float) -> BroadcastOperator:
        return self.sockets.timeout(seconds)

    async def emit_with_ack(self, event: str, *args: Any) -> list[Any]:
        return await self.sockets.emit_with_ack(event, *args)

    async def fetch_sockets(self) -> list[RemoteSocket]:
        return await self.sockets.fetch_sockets()

    async def sockets_join(self, *rooms: RoomsLike) -> None:
        await self.sockets.sockets_join(*rooms)

    async def sockets_leave(self, *rooms: RoomsLike) -> None:
        await self.sockets.sockets_leave(*rooms)

    async def disconnect_sockets(self, close: bool = False) -> None:
        await self.sockets.disconnect_sockets(close)

    async def server_side_emit(self, event: str, *args: Any) -> None:
        await self.sockets.server_side_emit(event, *args)

    async def server_side_emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        return await self.sockets.server_side_emit_with_ack(event, *args, timeout=timeout)

    @overload
    def on_server_side_emit(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on_server_side_emit(self, event: str, handler: H) -> H: ...

    def on_server_side_emit(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Handle a server-side event of the main namespace sent by another server of the cluster."""
        if handler is None:
            return self.sockets.on_server_side_emit(event)
        return self.sockets.on_server_side_emit(event, handler)

    async def server_count(self) -> int:
        """How many Socket.IO servers the cluster has, this one included."""
        return await self.sockets.server_count()

    async def all_rooms(self) -> set[str]:
        """The rooms of the main namespace on every server of the cluster."""
        return await self.sockets.all_rooms()

    # -- running -------------------------------------------------------------------------------

    async def serve(
        self, host: str = "127.0.0.1", port: int = 8000, *, app: Any = None, **options: Any
    ) -> Any:
        """Start the standalone server (uvloop + httptools) and return it once it listens.

        Use ``await io.serve(...)`` then ``await server.serve_forever()``, or ``socketeer serve``.
        ``app`` (a FastAPI, Starlette or any ASGI application) is served on the same port: Socket.IO's
        requests keep the standalone server's fast path, every other request is the application's,
        served by uvicorn's HTTP (extra ``socketeer[uvicorn]``; ``app_options`` for ``uvicorn.Config``).
        """
        if app is not None:
            from ..integrations.handover import serve as serve_with_app  # convenience entry point

            return await serve_with_app(self, host, port, app=app, **options)
        from ..integrations.standalone import serve  # the one upward import: a convenience entry point

        return await serve(self, host, port, **options)

    def run(self, host: str = "127.0.0.1", port: int = 8000, *, app: Any = None, **options: Any) -> None:
        """Serve with the standalone server until SIGINT or SIGTERM, then close gracefully (blocking);
        ``app`` as for :meth:`serve`."""
        if app is not None:
            from ..integrations.handover import run as run_with_app  # convenience entry point

            run_with_app(self, host, port, app=app, **options)
            return
        from ..integrations.standalone import run  # the one upward import: a convenience entry point

        run(self, host, port, **options)

    async def start(self) -> None:
        """Start the adapters (a clustered one connects to its broker). The integrations call it before
        they serve; a namespace created afterwards starts its adapter at once. Idempotent."""
        if self._started:
            return
        self._started = True
        for nsp in list(self._namespaces.values()):
            await nsp.adapter.init()

    def set_adapter(self, adapter: AdapterFactory) -> None:
        """Use another adapter factory, for the namespaces created so far too (``socketeer serve
        --workers`` gives a default in-memory server the workers' cluster adapter). Before :meth:`start`."""
        if self._started:
            raise RuntimeError("set_adapter() must come before the server starts")
        self._adapter_factory = adapter
        self.default_adapter = False
        for nsp in self._namespaces.values():
            nsp.adapter = adapter(nsp)

    @property
    def started(self) -> bool:
        return self._started

    def _adapter_created(self, nsp: Namespace) -> None:
        if self._started and not self._closed and not isinstance(nsp, ParentNamespace):
            # a namespace created on a running server: its adapter starts now; a client that made a
            # dynamic namespace waits for it (so that it hears the cluster from its first packet on)
            ready = asyncio.ensure_future(nsp.adapter.init())
            nsp._adapter_ready = ready
            ready.add_done_callback(_log_init_failure)

    def add_closer(self, closer: Callable[[], Any]) -> None:
        """Called by integrations: something to stop when the server closes."""
        self._closers.append(closer)

    async def close(self, timeout: float = 5.0) -> None:
        """Close every connection (clients see the close at once), let handlers finish up to ``timeout``
        seconds, cancel what is left, and stop the integrations that were started.

        Once closed, the server may be served again, from another event loop too (as the tests of an
        application that share one module-level ``io`` do)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.engine.close_all(CloseReason.SERVER_SHUTTING_DOWN)
            await self._tasks.cancel_all(timeout)
            for nsp in list(self._namespaces.values()):
                await nsp.adapter.close()
            closers, self._closers = self._closers, []
            for closer in closers:
                result = closer()
                if inspect.isawaitable(result):
                    await result
            await asyncio.sleep(0)
        finally:
            self.engine.release_loop()
            self._started = False  # served again, it starts its adapters again
            self._closed = False
            self._started = False  # served again, the adapters start again

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _log_init_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("an adapter failed to start", exc_info=task.exception())
