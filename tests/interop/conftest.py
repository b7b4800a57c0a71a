"""Fixtures of the interop tests: the socketeer test app served in-process, and Node client processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from interop_app import InteropApp
from interop_node import TRANSPORT_MODES, NodeClients

StartApp = Callable[..., Awaitable[tuple[InteropApp, str]]]
StartNode = Callable[[str], Awaitable[NodeClients]]


@pytest.fixture(params=TRANSPORT_MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """How the clients connect: "polling", "websocket", or "upgrade" (polling, then WebSocket)."""
    return str(request.param)


@pytest.fixture
async def start_app(serve_socketeer: Callable[[Any], Awaitable[str]]) -> StartApp:
    """``app, url = await start_app(**server_options)``: an :class:`InteropApp` listening on loopback."""

    async def start(**server_options: Any) -> tuple[InteropApp, str]:
        app = InteropApp(**server_options)
        url = await serve_socketeer(app.io)
        return app, url

    return start


@pytest.fixture
async def start_node(node_modules: Path) -> AsyncIterator[StartNode]:
    """``clients = await start_node(url)``: a Node process of official clients, ended with the test."""
    started: list[NodeClients] = []

    async def start(url: str) -> NodeClients:
        clients = await NodeClients.start(node_modules, url)
        started.append(clients)
        return clients

    yield start
    for clients in started:
        await clients.close()
