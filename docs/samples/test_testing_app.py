"""pytest tests of testing_app.py: the real server on a free loopback port, real clients.

Needs pytest and pytest-asyncio (``asyncio_mode = "auto"`` in your pytest configuration, or mark each
test with ``@pytest.mark.asyncio``).
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from testing_app import create_server

import socketeer


@pytest.fixture
async def url() -> AsyncIterator[str]:
    io = create_server()
    server = await io.serve("127.0.0.1", 0)  # port 0: any free port
    yield f"http://127.0.0.1:{server.port}"
    await io.close()


@pytest.mark.asyncio
async def test_add_is_acknowledged(url: str) -> None:
    client = socketeer.AsyncClient(url, transports=["websocket"])
    await client.connect()
    assert await client.emit_with_ack("add", 2, 3) == 5
    await client.disconnect()


@pytest.mark.asyncio
async def test_shout_reaches_the_others_only(url: str) -> None:
    alice, bob = socketeer.AsyncClient(url), socketeer.AsyncClient(url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    bob.on("shouted", heard.put_nowait)
    alice.on("shouted", lambda text: pytest.fail("the sender heard itself"))
    await alice.connect()
    await bob.connect()
    alice.emit("shout", "hello")
    assert await asyncio.wait_for(heard.get(), timeout=5) == "HELLO"
    await alice.disconnect()
    await bob.disconnect()
