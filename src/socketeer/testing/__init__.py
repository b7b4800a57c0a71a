"""Helpers to test an application built on socketeer, and the pytest plugin that uses them.

With ``pip install socketeer[testing]`` pytest loads the plugin (:mod:`socketeer.testing.plugin`) by
itself; its fixtures serve your :class:`~socketeer.Server` in the test's event loop and hand out
connected clients::

    from socketeer.testing import next_event
    from myapp import io

    async def test_welcome(socketeer_client):
        client = await socketeer_client(io)
        assert await next_event(client, "welcome") == ("hello",)

Outside pytest, :func:`serve` and :func:`record_events` do the same work.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket as _socket
import weakref
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from ..client.client import AsyncClient, NamespaceSocket
from ..server.server import Server

__all__ = ["EventLog", "LiveServer", "next_event", "record_events", "serve"]

Kind = Literal["standalone", "asgi"]


@dataclass(frozen=True, slots=True)
class LiveServer:
    """A server listening on loopback: ``url`` is ``http://127.0.0.1:<port>``."""

    io: Server
    kind: Kind
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def serve(io: Server, kind: Kind = "standalone", **options: Any) -> AsyncIterator[LiveServer]:
    """Serve ``io`` in the running event loop on a free loopback port, then close it.

    ``kind="standalone"`` uses socketeer's own server (``options`` go to :meth:`Server.serve`);
    ``kind="asgi"`` runs :class:`~socketeer.ASGIApp` under uvicorn (``options`` go to ``uvicorn.Config``,
    for example ``ws="wsproto"``). ``io`` is closed when the block ends.
    """
    if kind == "standalone":
        server = await io.serve("127.0.0.1", 0, **options)
        try:
            yield LiveServer(io, kind, int(server.port))
        finally:
            await io.close()
        return
    if kind != "asgi":
        raise ValueError(f"kind must be 'standalone' or 'asgi', not {kind!r}")
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the environment
        raise RuntimeError("serving the ASGI app needs uvicorn: pip install uvicorn") from None
    from ..integrations.asgi import ASGIApp

    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # listening before uvicorn starts: clients may connect at once
    port = int(sock.getsockname()[1])
    settings: dict[str, Any] = {"lifespan": "on", "log_config": None, "log_level": "warning"}
    settings.update(options)
    uv = uvicorn.Server(uvicorn.Config(ASGIApp(io), **settings))
    task = asyncio.ensure_future(uv.serve(sockets=[sock]))
    try:
        yield LiveServer(io, kind, port)
    finally:
        await io.close()
        uv.should_exit = True
        try:
            await asyncio.wait_for(task, 10)
        finally:
            sock.close()


class EventLog:
    """Every event a client socket receives, kept until a test asks for it (so none is missed).

    Attach it before the client connects (:func:`record_events` does) to see the events sent on
    connection too.
    """

    def __init__(self, client: NamespaceSocket) -> None:
        self._events: dict[str, deque[tuple[Any, ...]]] = {}
        self._waiters: dict[str, deque[asyncio.Future[tuple[Any, ...]]]] = {}
        client.on_any(self._record)

    def _record(self, event: str, *args: Any) -> None:
        waiters = self._waiters.get(event)
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(args)
                return
        self._events.setdefault(event, deque()).append(args)

    def received(self, event: str) -> list[tuple[Any, ...]]:
        """The arguments of each ``event`` received and not yet taken by :meth:`next`."""
        return list(self._events.get(event, ()))

    async def next(self, event: str, timeout: float = 5.0) -> tuple[Any, ...]:
        """The arguments of the next ``event`` (one received earlier first); ``TimeoutError`` after
        ``timeout`` seconds."""
        queued = self._events.get(event)
        if queued:
            return queued.popleft()
        waiter: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(event, deque()).append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no {event!r} event within {timeout} s") from None


_LOGS: weakref.WeakKeyDictionary[NamespaceSocket, EventLog] = weakref.WeakKeyDictionary()


def record_events(client: NamespaceSocket) -> EventLog:
    """Start recording what ``client`` receives (idempotent); :func:`next_event` then reads the log."""
    log = _LOGS.get(client)
    if log is None:
        log = _LOGS[client] = EventLog(client)
    return log


async def next_event(client: NamespaceSocket, event: str, timeout: float = 5.0) -> tuple[Any, ...]:
    """Wait for ``client``'s next ``event`` and return its arguments as a tuple.

    Clients from the ``socketeer_client`` fixture record from the start, so an event that arrived
    before this call is returned at once; for another client, recording starts with the first call.
    Raises ``TimeoutError`` after ``timeout`` seconds.
    """
    return await record_events(client).next(event, timeout)


def _client(url: str, options: dict[str, Any]) -> AsyncClient:
    settings: dict[str, Any] = {"reconnection": False, "timeout": 20.0}
    settings.update(options)
    client = AsyncClient(url, **settings)
    record_events(client)
    return client
