"""Real peers for the client tests: the official Node server as a subprocess, and a loopback TCP proxy
that can cut or freeze the connections going through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

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


class TcpProxy:
    """Forwards loopback connections to ``target_port``. ``cut()`` closes every connection (new ones are
    still accepted); ``freeze()`` stops forwarding server→client bytes while keeping connections open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        self._writers.update((client_writer, server_writer))
        up = asyncio.create_task(self._pipe(client_reader, server_writer, upstream=True))
        down = asyncio.create_task(self._pipe(server_reader, client_writer, upstream=False))
        self._tasks.update((up, down))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        self._tasks.difference_update((up, down))
        for writer in (client_writer, server_writer):
            writer.close()
            self._writers.discard(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if not upstream and self.frozen:
                    continue
                writer.write(data)
                await writer.drain()

    def cut(self) -> None:
        for writer in list(self._writers):
            transport = writer.transport
            if hasattr(transport, "abort"):
                transport.abort()
            else:  # pragma: no cover
                writer.close()
        self._writers.clear()

    def freeze(self) -> None:
        self.frozen = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


StartNodeServer = Callable[..., Awaitable[NodeServer]]
StartProxy = Callable[[int], Awaitable[TcpProxy]]
