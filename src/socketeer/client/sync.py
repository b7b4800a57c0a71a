"""The blocking client: the same :class:`~socketeer.client.client.AsyncClient`, run on an event loop in a
background thread. There is no second implementation; every method hands its work to that loop.

Handlers run in the client's loop thread (plain functions inline, ``async`` ones as tasks), not in the
thread that registered them: protect shared state accordingly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..sio.handlers import Handler
from .client import AsyncClient, Manager, NamespaceSocket

__all__ = ["Client", "SyncNamespaceSocket"]

H = TypeVar("H", bound=Handler)
R = TypeVar("R")


class _Loop:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="socketeer-client", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("blocking client methods cannot be called from a handler; use the AsyncClient")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], R]) -> R:
        async def call() -> R:
            return fn()

        return self.run(call())

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join()


class _SyncManager:
    """``client.io``: manager events (``reconnect_attempt``, ``reconnect``, ...)."""

    def __init__(self, loop: _Loop, manager: Manager) -> None:
        self._loop = loop
        self._manager = manager

    def on(self, event: str, handler: H | None = None) -> Any:
        def register(fn: H) -> H:
            self._loop.call(lambda: self._manager.on(event, fn))
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str | None = None, handler: Handler | None = None) -> None:
        self._loop.call(lambda: self._manager.off(event, handler))


class SyncNamespaceSocket:
    """Blocking facade of one namespace socket."""

    def __init__(self, loop: _Loop, socket: NamespaceSocket) -> None:
        self._loop = loop
        self._socket = socket

    @property
    def connected(self) -> bool:
        return self._socket.connected

    @property
    def id(self) -> str | None:
        return self._socket.id

    @property
    def recovered(self) -> bool:
        return self._socket.recovered

    @property
    def namespace(self) -> str:
        return self._socket.namespace

    def on(self, event: str, handler: H | None = None) -> Any:
        """Register a handler (decorator or direct); it runs in the client's loop thread."""

        def register(fn: H) -> H:
            self._loop.call(lambda: self._socket.on(event, fn))
            return fn

        return register if handler is None else register(handler)

    def once(self, event: str, handler: Handler) -> None:
        self._loop.call(lambda: self._socket.once(event, handler))

    def off(self, event: str | None = None, handler: Handler | None = None) -> None:
        self._loop.call(lambda: self._socket.off(event, handler))

    def on_any(self, handler: H) -> H:
        self._loop.call(lambda: self._socket.on_any(handler))
        return handler

    def connect(self, *, timeout: float | None = None) -> None:
        """Connect and block until connected (raises as :meth:`AsyncClient.connect`)."""
        self._loop.run(_with_timeout(self._socket.connect(), timeout))

    def disconnect(self) -> None:
        self._loop.run(self._socket.disconnect())

    def emit(self, event: str, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        """Send an event; ``callback`` runs in the loop thread when the server acknowledges."""
        self._loop.call(lambda: self._socket.emit(event, *args, callback=callback))

    def emit_with_ack(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send an event and block until it is acknowledged (``AckTimeout`` after ``timeout``)."""
        return self._loop.run(self._socket.emit_with_ack(event, *args, timeout=timeout))

    def send(self, *args: Any, callback: Callable[..., Any] | None = None) -> None:
        self.emit("message", *args, callback=callback)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the socket is disconnected for good."""
        self._loop.run(_with_timeout(self._socket.wait(), timeout))


async def _with_timeout(coro: Coroutine[Any, Any, R], timeout: float | None) -> R:
    return await asyncio.wait_for(coro, timeout)


class Client(SyncNamespaceSocket):
    """A blocking Socket.IO client; takes the same arguments as :class:`AsyncClient`.

    ::

        with socketeer.Client("http://localhost:3000") as client:
            client.on("news", print)
            print(client.emit_with_ack("hello", {"x": 1}, timeout=5))
    """

    def __init__(self, url: str, **options: Any) -> None:
        loop = _Loop()

        async def create() -> AsyncClient:
            return AsyncClient(url, **options)

        try:
            client = loop.run(create())
        except BaseException:
            loop.stop()
            raise
        super().__init__(loop, client)
        self._client = client
        self.io = _SyncManager(loop, client.io)

    @property
    def transport(self) -> str | None:
        return self._client.transport

    def socket(self, namespace: str, *, auth: Any = None) -> SyncNamespaceSocket:
        """Another namespace on the same connection."""
        return SyncNamespaceSocket(
            self._loop, self._loop.call(lambda: self._client.socket(namespace, auth=auth))
        )

    def disconnect(self) -> None:
        """Disconnect every namespace, then stop the background loop. The client cannot be reused."""
        if self._loop.loop.is_closed():
            return
        try:
            self._loop.run(self._client.close())
        finally:
            self._loop.stop()

    close = disconnect

    def __enter__(self) -> Client:
        try:
            self.connect()
        except BaseException:
            self.disconnect()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()
