"""The abuse-test target: a standalone socketeer server with an ``echo`` handler, watched for escapes.

Every unhandled exception is recorded: the event loop's exception handler (what escapes a protocol
callback, a task nobody awaited, a callback) and any ERROR record on the ``socketeer`` loggers (a 500, a
handler failure the server itself caused). A case passes only if that record stays empty, the server's
connection count returns to where it was, and a healthy client still gets its echo within 2 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from abuse_target import ErrorRecorder, StartTarget, Target, echo_server


@pytest.fixture
async def start_target() -> AsyncIterator[StartTarget]:
    """``target = await start_target(request_timeout=..., **server_options)``: an echo server on loopback."""
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    previous = loop.get_exception_handler()

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        errors.append(f"loop: {context.get('message')} {context.get('exception')!r}")

    loop.set_exception_handler(record)
    recorder = ErrorRecorder(errors)
    logging.getLogger("socketeer").addHandler(recorder)
    started: list[Target] = []

    async def start(**options: Any) -> Target:
        serve_options = {
            name: options.pop(name) for name in ("request_timeout", "keep_alive_timeout") if name in options
        }
        io = echo_server(**options)
        server = await io.serve("127.0.0.1", 0, **serve_options)
        target = Target(io, server, server.port, errors)
        started.append(target)
        return target

    try:
        yield start
    finally:
        for target in started:
            await target.io.close()
        logging.getLogger("socketeer").removeHandler(recorder)
        loop.set_exception_handler(previous)
    assert errors == [], errors


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: bounded soak test (runs in CI; under 10 s)")
