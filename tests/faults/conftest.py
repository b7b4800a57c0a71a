"""Fixtures of the fault-injection suite: the official Node server (one process per options, for the whole
session), the controllable proxy, and socketeer's server running the same application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fault_peers import NodeFaultServer

from fault_proxy import FaultProxy


@pytest.fixture(scope="session")
def node_servers(node_modules: Path) -> Iterator[dict[tuple[str, ...], NodeFaultServer]]:
    """Node servers by their options, started on first use and stopped at the end of the session."""
    servers: dict[tuple[str, ...], NodeFaultServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
async def fault_proxy() -> AsyncIterator[list[FaultProxy]]:
    """Proxies appended to this list are closed when the test ends."""
    started: list[FaultProxy] = []
    yield started
    for p in started:
        await p.close()
