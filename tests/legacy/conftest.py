"""Fixtures of the legacy-client tests: socket.io-client 2.x processes, ended with the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from v2_clients import StartV2, V2Clients


@pytest.fixture
async def start_v2(node_modules: Path) -> AsyncIterator[StartV2]:
    started: list[V2Clients] = []

    async def start(url: str) -> V2Clients:
        clients = await V2Clients.start(node_modules, url)
        started.append(clients)
        return clients

    yield start
    for clients in started:
        await clients.close()
