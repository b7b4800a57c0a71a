"""Real peers for the client tests: the official Node server as a subprocess, and a loopback TCP proxy
that can cut, reset, stall or slow the connections going through it (:mod:`fault_proxy`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from fault_proxy import FaultProxy

SERVER_JS = Path(__file__).resolve().parent / "node_server.js"


class NodeServer:
    """``tests/client/node_server.js`` (the official socket.io@4 server) in a subprocess."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, args: tuple[str, ...]) -> None:
        self.process = process
        self.port = port
        self.args = args

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(cls, *args: str, port: int = 0) -> NodeServer:
        process = await asyncio.create_subprocess_exec(
            "node", str(SERVER_JS), "--port", str(port), *args, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 10)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        word, _, value = line.decode().strip().partition(" ")
        if word != "ready":
            process.kill()
            await process.wait()
            raise RuntimeError(f"node server did not start: {line!r}")
        return cls(process, int(value), args)

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    async def restart(self) -> NodeServer:
        """A new server process on the same port, with the same options."""
        await self.kill()
        for _ in range(50):
            try:
                return await NodeServer.start(*self.args, port=self.port)
            except RuntimeError:  # the port may take a moment to be free again
                await asyncio.sleep(0.05)
        raise RuntimeError("could not restart the node server")


TcpProxy = FaultProxy  # the controllable proxy shared with the fault-injection suite


StartNodeServer = Callable[..., Awaitable[NodeServer]]
StartProxy = Callable[[int], Awaitable[TcpProxy]]
