"""The server under abuse and what is checked after each case (shared by the security tests)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from abuse_clients import healthy_echo

from socketeer import Server

__all__ = ["ErrorRecorder", "StartTarget", "Target", "echo_server"]


class ErrorRecorder(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"log {record.name}: {record.getMessage()} {record.exc_info!r}")


@dataclass
class Target:
    io: Server
    server: Any  # StandaloneServer
    port: int
    errors: list[str] = field(default_factory=list)
    baseline: int = 0

    @property
    def connections(self) -> int:
        return len(self.io.engine.connections)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0, what: str = "") -> None:
        """Poll ``predicate`` (server state has no event to await) until it holds or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await asyncio.sleep(0.005)

    async def check(self, *, settle: float = 2.0) -> None:
        """After a case: no escaped exception, sessions back to the baseline, a healthy client echoes."""
        await self.wait_for(
            lambda: self.connections == self.baseline,
            settle,
            f"{self.connections} sessions to return to {self.baseline}",
        )
        await healthy_echo(self.port, {"after": "abuse"})
        await self.wait_for(lambda: self.connections == self.baseline, settle, "the healthy client to leave")
        assert self.errors == [], self.errors


StartTarget = Callable[..., Awaitable[Target]]


def echo_server(**options: Any) -> Server:
    io = Server(**options)

    @io.on("echo")
    def echo(socket: Any, *args: Any) -> Any:
        socket.emit("echo", *args)
        return args

    @io.on("mirror")
    def mirror(socket: Any, *args: Any) -> Any:
        return args  # answers the ack only

    @io.on("broadcast")
    def broadcast(socket: Any, *args: Any) -> None:
        io.emit("broadcast", *args)

    return io
