"""Fixtures of the client tests: Node servers and TCP proxies that end with the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from client_peers import NodeServer, StartNodeServer, StartProxy, TcpProxy

MODES = {"polling": ("polling",), "websocket": ("websocket",), "upgrade": ("polling", "websocket")}


@pytest.fixture(params=sorted(MODES))
def transports(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The client's transports: polling only, WebSocket only, or polling upgraded to WebSocket."""
    return MODES[request.param]


@pytest.fixture
async def node_server(node_modules: Path) -> AsyncIterator[StartNodeServer]:
    """``server = await node_server("--recovery", ...)``: the official server, killed after the test."""
    started: list[NodeServer] = []

    async def start(*args: str) -> NodeServer:
        server = await NodeServer.start(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.kill()


@pytest.fixture
async def proxy() -> AsyncIterator[StartProxy]:
    """``p = await proxy(port)``: a TCP proxy on loopback to ``port``."""
    started: list[TcpProxy] = []

    async def start(port: int) -> TcpProxy:
        p = await TcpProxy(port).start()
        started.append(p)
        return p

    yield start
    for p in started:
        await p.close()
