"""The pytest plugin of socketeer (entry point ``pytest11``): fixtures for testing your own app.

- ``socketeer_server``: ``url = await socketeer_server(io)`` serves ``io`` on a free loopback port
  (``kind="asgi"`` for the ASGI app under uvicorn) until the test ends;
- ``socketeer_client``: ``client = await socketeer_client(io)`` serves ``io`` (once per test and kind)
  and returns a connected :class:`~socketeer.AsyncClient` that records what it receives (see
  :func:`socketeer.testing.next_event`); a URL works in place of ``io``. Options go to ``AsyncClient``
  (``namespace="/chat"``, ``auth={...}``, ``transports=("websocket",)``); reconnection is off unless
  asked for. Clients are closed, then servers, when the test ends.

The fixtures are asynchronous and use pytest-asyncio (installed with ``socketeer[testing]``); without
it pytest still starts, and the fixtures are declared for whichever plugin runs async fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest

from ..client.client import AsyncClient
from ..server.server import Server
from . import Kind, _client, serve

__all__ = ["ClientFactory", "ServerFactory", "socketeer_client", "socketeer_server"]

_F = TypeVar("_F", bound=Callable[..., Any])
_decorator: Any
try:
    from pytest_asyncio import fixture as _decorator
except ImportError:  # the plugin loads with every install of socketeer: never break pytest without it
    _decorator = pytest.fixture


def _fixture(fn: _F) -> _F:
    return cast(_F, _decorator(fn))

ServerFactory = Callable[..., Awaitable[str]]
ClientFactory = Callable[..., Awaitable[AsyncClient]]


class _Servers:
    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack
        self._urls: dict[tuple[int, str], str] = {}

    async def url(self, io: Server, kind: Kind = "standalone", **options: Any) -> str:
        key = (id(io), kind)
        url = self._urls.get(key)
        if url is None:
            live = await self._stack.enter_async_context(serve(io, kind, **options))
            url = self._urls[key] = live.url
        return url


@_fixture
async def _socketeer_servers() -> AsyncIterator[_Servers]:
    async with contextlib.AsyncExitStack() as stack:
        yield _Servers(stack)


@_fixture
async def socketeer_server(_socketeer_servers: _Servers) -> ServerFactory:
    """``url = await socketeer_server(io, kind="standalone" | "asgi", **options)``."""

    async def start(io: Server, kind: Kind = "standalone", **options: Any) -> str:
        return await _socketeer_servers.url(io, kind, **options)

    return start


@_fixture
async def socketeer_client(_socketeer_servers: _Servers) -> AsyncIterator[ClientFactory]:
    """``client = await socketeer_client(io_or_url, kind="standalone" | "asgi", **client_options)``."""
    clients: list[AsyncClient] = []

    async def connect(target: Server | str, kind: Kind = "standalone", **options: Any) -> AsyncClient:
        url = target if isinstance(target, str) else await _socketeer_servers.url(target, kind)
        client = _client(url, options)
        clients.append(client)
        await client.connect()
        return client

    yield connect
    for client in clients:
        await client.close()
