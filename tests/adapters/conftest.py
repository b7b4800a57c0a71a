"""Fixtures of the cluster tests: socketeer servers on Redis, Node servers with the official Redis
adapter (``redis_node_server.js``), and Node processes of official clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_support import NodeClients, NodeServer, PyNode, setup_py_node

import socketeer
from redis_support import RedisServer

StartPy = Callable[..., Awaitable[PyNode]]


@pytest.fixture
async def start_py(serve_socketeer: Callable[[Any], Awaitable[str]]) -> StartPy:
    """``node = await start_py(adapter_factory)``: a socketeer server of the cluster, closed at the end."""

    async def start(adapter: Callable[..., Any], *, silent: bool = False, **server_options: Any) -> PyNode:
        io = socketeer.Server(adapter=adapter, **server_options)
        node = PyNode(io)
        setup_py_node(io, node, silent)
        node.url = await serve_socketeer(io)
        return node

    return start


@pytest.fixture
async def start_node_server(node_modules: Path) -> AsyncIterator[Callable[..., Awaitable[NodeServer]]]:
    started: list[NodeServer] = []

    async def start(redis: RedisServer, mode: str = "classic", **options: Any) -> NodeServer:
        server = await NodeServer.launch(node_modules, redis.url, mode, options)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def start_clients(node_modules: Path) -> AsyncIterator[Callable[[str], Awaitable[NodeClients]]]:
    started: list[NodeClients] = []

    async def start(url: str) -> NodeClients:
        clients = await NodeClients.start(node_modules, url)
        started.append(clients)
        return clients

    yield start
    for clients in started:
        await clients.close()
