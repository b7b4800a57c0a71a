"""Python side of ``v2_client_driver.js``: socket.io-client 2.x sockets in one Node process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

__all__ = ["MODES", "StartV2", "V2Clients", "options_for"]

DRIVER = Path(__file__).with_name("v2_client_driver.js")
MODES = ("polling", "websocket", "upgrade")


def options_for(mode: str) -> dict[str, Any]:
    return {
        "polling": {"transports": ["polling"]},
        "websocket": {"transports": ["websocket"]},
        "upgrade": {},
    }[mode]


class V2Clients:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.observed: list[dict[str, Any]] = []
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, node_modules: Path, url: str) -> V2Clients:
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            url,
            "30000",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=dict(os.environ, NODE_PATH=str(node_modules)),
        )
        clients = cls(proc)
        await clients.expect(ev="ready")
        return clients

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            message = json.loads(line)
            if "re" in message:
                future = self._answers.pop(message["re"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                self.observed.append(message)
            self._changed.set()

    async def command(self, cmd: str, **fields: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._answers[self._next] = future
        self.proc.stdin.write((json.dumps({"id": self._next, "cmd": cmd, **fields}) + "\n").encode())
        await self.proc.stdin.drain()
        answer = await asyncio.wait_for(future, 10)
        assert "error" not in answer, answer
        return answer

    async def expect(self, after: int = 0, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The first observed event at index >= ``after`` whose fields include ``match``."""

        async def scan() -> dict[str, Any]:
            while True:
                for event in self.observed[after:]:
                    if all(event.get(k) == v for k, v in match.items()):
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no event matching {match}; observed {self.observed}") from None

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


StartV2 = Callable[[str], Awaitable[V2Clients]]
