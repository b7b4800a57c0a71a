"""Fixtures shared by the whole suite: the official Node peers and an in-process socketeer server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from redis_support import RedisServer
from socketeer import Server

NODE_DIR = Path(__file__).resolve().parent / "node"

pytest_plugins = ["pytester"]  # for the tests of socketeer's own pytest plugin


def pytest_configure(config: pytest.Config) -> None:
    # socketeer's plugin comes with the package's entry point; an install made before it existed lacks it
    if not config.pluginmanager.has_plugin("socketeer"):
        config.pluginmanager.import_plugin("socketeer.testing.plugin")

StartServer = Callable[[Server], Awaitable[str]]


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``tests/node/node_modules``, where the official socket.io packages are installed.

    Fails (never skips) when Node or the packages are missing: the interop tests are part of the suite.
    """
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH: install Node.js 20+ to run the interop tests")
    modules = NODE_DIR / "node_modules"
    for package in ("socket.io", "socket.io-client"):
        if not (modules / package / "package.json").is_file():
            pytest.fail(
                f"{modules / package} is missing: run `npm ci --prefix tests/node` to install the official "
                "Socket.IO packages the interop tests use as peers"
            )
    return modules


@pytest.fixture
async def serve_socketeer() -> AsyncIterator[StartServer]:
    """Start a socketeer standalone server in this test's event loop on 127.0.0.1 and an ephemeral port.

    ``url = await serve_socketeer(io)`` returns ``http://127.0.0.1:<port>``; every server started is
    closed (``await io.close()``) when the test ends.
    """
    started: list[Server] = []

    async def start(io: Server) -> str:
        srv = await io.serve("127.0.0.1", 0)
        started.append(io)
        return f"http://127.0.0.1:{srv.port}"

    yield start
    for io in started:
        await io.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` on a free loopback port for this test, stopped when it ends.

    Fails (never skips) when ``redis-server`` is missing; ``scripts/test`` installs it.
    """
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
