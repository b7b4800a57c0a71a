"""Peers of the fault-injection suite: the official Node server, the official JS client, socketeer's server
running the same application as ``node_fault_server.js``, and the timing every scenario uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from socketeer import Server, Socket
from socketeer.client import AsyncClient

HERE = Path(__file__).resolve().parent
NODE_SERVER = HERE / "node_fault_server.js"

# Short heartbeats and reconnection delays keep each scenario well under a second.
PING_INTERVAL_MS = 400
PING_TIMEOUT_MS = 400
RECONNECT = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "randomization_factor": 0.0}


class NodeFaultServer:
    """``node_fault_server.js`` in a subprocess (not bound to an event loop, so it outlives each test)."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.process = subprocess.Popen(
            ["node", str(NODE_SERVER), *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        word, _, value = line.partition(" ")
        if word != "ready":
            self.stop()
            raise RuntimeError(f"node server did not start: {line!r}")
        self.port = int(value)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


JS_CLIENT = HERE / "js_fault_client.js"


class Observed:
    """What a client saw, in order: ``(kind, value)`` pairs, awaitable by kind and count."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.times: list[float] = []  # loop time of each item
        self._changed = asyncio.Event()

    def add(self, kind: str, value: Any = None) -> None:
        self.items.append((kind, value))
        self.times.append(asyncio.get_running_loop().time())
        self._changed.set()

    def time_of(self, kind: str, index: int = 0) -> float:
        """When the ``index``-th ``kind`` was seen."""
        return [t for (k, _), t in zip(self.items, self.times, strict=True) if k == kind][index]

    def of(self, kind: str) -> list[Any]:
        return [value for k, value in self.items if k == kind]

    async def wait(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        async def wait() -> list[Any]:
            while len(self.of(kind)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.of(kind)

        try:
            return await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"no {count} x {kind!r} within {timeout} s; saw {self.items[-20:]}"
            ) from None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, label: str = "") -> None:
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"not {label} within {timeout} s; saw {self.items[-20:]}") from None


class FaultClient:
    """The interface both clients offer the scenarios; events land in ``seen``:
    ``connect`` (id, recovered), ``disconnect`` reason, ``connect_error``, ``welcome``, ``down`` n,
    ``shouted`` n, ``upgrade``, ``reconnect_attempt`` n, ``ack`` n, ``report`` list."""

    kind = ""

    def __init__(self, key: str) -> None:
        self.key = key
        self.seen = Observed()

    async def start(self) -> None:
        raise NotImplementedError

    def up(self, start: int, stop: int) -> None:
        raise NotImplementedError

    def stream(self, count: int, every_ms: int) -> None:
        raise NotImplementedError

    def shout(self, room: str, size: int, count: int) -> None:
        raise NotImplementedError

    async def report(self) -> list[int]:
        before = len(self.seen.of("report"))
        self._ask_report()
        got = (await self.seen.wait("report", before + 1))[-1]
        assert got is not None, "the report was not acknowledged"
        return list(got)

    def _ask_report(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class PyClient(FaultClient):
    """socketeer's :class:`AsyncClient`."""

    kind = "socketeer"

    def __init__(self, url: str, transports: tuple[str, ...], key: str, retries: int = 0) -> None:
        super().__init__(key)
        self.client = AsyncClient(
            url,
            transports=transports,
            auth={"key": key},
            retries=retries,
            ack_timeout=1.0,
            timeout=5,
            # the proxy triggers on bytes of the plain stream: keep polling answers uncompressed
            # (as the official Node client, which sends no Accept-Encoding) and frames uncompressed
            headers={"Accept-Encoding": "identity"},
            per_message_deflate=False,
            **RECONNECT,
        )
        c, seen = self.client, self.seen
        c.on("connect", lambda: seen.add("connect", (c.id, c.recovered)))
        c.on("disconnect", lambda reason: seen.add("disconnect", str(reason)))
        c.on("connect_error", lambda error: seen.add("connect_error", str(error)))
        c.on("welcome", lambda *args: seen.add("welcome"))
        c.on("down", lambda n: seen.add("down", n))
        c.on("shouted", lambda n, *_: seen.add("shouted", n))
        c.io.on("reconnect_attempt", lambda n: seen.add("reconnect_attempt", n))
        self._watchers: list[asyncio.Task[None]] = []
        c.io.on("open", self._watch_upgrade)

    def _watch_upgrade(self) -> None:
        engine = self.client.io.engine
        if engine is not None:
            upgraded = engine.upgraded

            async def wait() -> None:
                await upgraded.wait()
                self.seen.add("upgrade", "websocket")

            self._watchers.append(asyncio.get_running_loop().create_task(wait()))

    async def start(self) -> None:
        await asyncio.wait_for(self.client.connect(), 5)

    def up(self, start: int, stop: int) -> None:
        for n in range(start, stop):
            self.client.emit("up", n, callback=lambda *args: self.seen.add("ack", args[-1] if args else None))

    def stream(self, count: int, every_ms: int) -> None:
        self.client.emit("stream", self.key, count, every_ms)

    def shout(self, room: str, size: int, count: int) -> None:
        self.client.emit("shout", room, size, count)

    def _ask_report(self) -> None:
        self.client.timeout(5).emit(
            "report", self.key, callback=lambda *args: self.seen.add("report", args[-1])
        )

    async def close(self) -> None:
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        await self.client.close()


class JsClient(FaultClient):
    """The official socket.io-client in a Node process (``js_fault_client.js``)."""

    kind = "js"

    def __init__(
        self, url: str, transports: tuple[str, ...], key: str, retries: int = 0, keep_alive: bool = False
    ) -> None:
        super().__init__(key)
        options = {"transports": list(transports), "key": key, "retries": retries, "keepAlive": keep_alive}
        self.args = [url, json.dumps(options)]
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "node", str(JS_CLIENT), *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.get_running_loop().create_task(self._read())
        await self.seen.wait("connect")

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            msg = json.loads(line)
            kind = msg.pop("ev")
            if kind == "connect":
                self.seen.add(kind, (msg["id"], bool(msg.get("recovered"))))
            elif kind in ("disconnect",):
                self.seen.add(kind, msg["reason"])
            elif kind == "connect_error":
                self.seen.add(kind, msg["message"])
            elif kind in ("down", "shouted", "ack", "reconnect_attempt"):
                self.seen.add(kind, msg["n"])
            elif kind == "report":
                self.seen.add(kind, msg["list"])
            elif kind == "upgrade":
                self.seen.add(kind, msg["transport"])
            else:
                self.seen.add(kind, msg)

    def _send(self, cmd: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write((json.dumps(cmd) + "\n").encode())

    def up(self, start: int, stop: int) -> None:
        self._send({"cmd": "up", "from": start, "to": stop})

    def stream(self, count: int, every_ms: int) -> None:
        self._send({"cmd": "stream", "count": count, "everyMs": every_ms})

    def shout(self, room: str, size: int, count: int) -> None:
        self._send({"cmd": "shout", "room": room, "size": size, "count": count})

    def _ask_report(self) -> None:
        self._send({"cmd": "report"})

    async def close(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ConnectionError):
                self._send({"cmd": "exit"})
            try:
                await asyncio.wait_for(process.wait(), 2)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await asyncio.wait_for(self._reader, 2)


CLIENTS: dict[str, type[FaultClient]] = {"socketeer": PyClient, "js": JsClient}


def fault_app(recovery: bool) -> Server:
    """socketeer's server running the application of ``node_fault_server.js``."""
    io = Server(
        ping_interval=PING_INTERVAL_MS / 1000,
        ping_timeout=PING_TIMEOUT_MS / 1000,
        connection_state_recovery={"max_disconnection_duration": 30.0, "skip_middlewares": True}
        if recovery
        else None,
    )
    received: dict[str, list[int]] = {}
    streams: set[asyncio.Task[None]] = set()
    nsp = io.sockets

    def key_of(socket: Socket) -> str:
        return str(socket.handshake.auth.get("key") or socket.id)

    @nsp.on("connection")
    def on_connection(socket: Socket) -> None:
        if not socket.recovered:
            socket.join(key_of(socket))
        socket.emit("welcome", socket.id, socket.recovered)

    @nsp.on("up")
    def up(socket: Socket, n: int) -> int:
        received.setdefault(key_of(socket), []).append(n)
        return n

    @nsp.on("report")
    def report(socket: Socket, key: str) -> list[int]:
        return received.get(key, [])

    async def run_stream(key: str, count: int, every_ms: int) -> None:
        for i in range(count):
            await asyncio.sleep(every_ms / 1000)
            io.to(key).emit("down", i)

    @nsp.on("stream")
    def stream(socket: Socket, key: str, count: int, every_ms: int) -> None:
        task = asyncio.get_running_loop().create_task(run_stream(key, count, every_ms))
        streams.add(task)
        task.add_done_callback(streams.discard)

    @nsp.on("shout")
    def shout(socket: Socket, room: str, size: int, count: int) -> None:
        for i in range(count):
            io.to(room).emit("shouted", i, "x" * size)

    return io


def node_args(recovery: bool) -> tuple[str, ...]:
    """The Node server's options for the suite's timing (and recovery when asked)."""
    args = ("--ping-interval", str(PING_INTERVAL_MS), "--ping-timeout", str(PING_TIMEOUT_MS))
    return (*args, "--recovery") if recovery else args
