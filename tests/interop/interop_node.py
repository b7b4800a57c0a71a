"""Python side of ``client_driver.js``: a Node process running official ``socket.io-client`` sockets.

Commands go to the driver as JSON lines on stdin; its answers and what its sockets observe come back as
JSON lines on stdout. Every wait has a timeout, and the failure message shows what was observed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["TRANSPORT_MODES", "NodeClients", "from_wire", "manager_options", "to_wire"]

DRIVER = Path(__file__).with_name("client_driver.js")

#: the three ways a client reaches the server: polling only, WebSocket only, polling then upgrade.
TRANSPORT_MODES = ("polling", "websocket", "upgrade")


def manager_options(mode: str) -> dict[str, Any]:
    """``socket.io-client`` Manager options for a transport mode."""
    if mode == "polling":
        return {"transports": ["polling"]}
    if mode == "websocket":
        return {"transports": ["websocket"]}
    if mode == "upgrade":
        return {}
    raise ValueError(mode)


def to_wire(value: Any) -> Any:
    """A Python value as the driver's JSON: bytes become ``{"$bin": base64}``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bin": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    return value


def from_wire(value: Any) -> Any:
    """The driver's JSON as a Python value: ``{"$bin": base64}`` becomes bytes."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bin"), str):
            return base64.b64decode(value["$bin"])
        return {k: from_wire(v) for k, v in value.items()}
    return value


class NodeClients:
    """One Node process holding any number of official client sockets (see ``client_driver.js``)."""

    def __init__(self, proc: asyncio.subprocess.Process, default_timeout: float) -> None:
        self.proc = proc
        self.default_timeout = default_timeout
        self.observed: list[dict[str, Any]] = []
        self._consumed: set[int] = set()
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._changed = asyncio.Event()
        self._stderr: list[str] = []
        self._eof = False
        self._reader = asyncio.ensure_future(self._read_stdout())
        self._err_reader = asyncio.ensure_future(self._read_stderr())

    @classmethod
    async def start(
        cls, node_modules: Path, url: str, *, hard_timeout: float = 60.0, default_timeout: float = 10.0
    ) -> NodeClients:
        env = dict(os.environ, NODE_PATH=str(node_modules))
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            url,
            str(int(hard_timeout * 1000)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        clients = cls(proc, default_timeout)
        await clients.expect(ev="ready")
        return clients

    # -- reading -------------------------------------------------------------------------------

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    self._stderr.append(f"(stdout, not JSON) {line!r}")
                    continue
                if "re" in message:
                    future = self._pending.pop(message["re"], None)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    self.observed.append(message)
                self._notify()
        finally:
            self._eof = True
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(RuntimeError(f"node driver exited{self._diagnostics()}"))
            self._pending.clear()
            self._notify()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                break
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _diagnostics(self) -> str:
        lines = [json.dumps(m)[:300] for m in self.observed[-30:]]
        text = "\nobserved:\n  " + "\n  ".join(lines) if lines else "\nobserved: nothing"
        if self._stderr:
            text += "\nstderr:\n  " + "\n  ".join(self._stderr[-30:])
        return text

    # -- commands ------------------------------------------------------------------------------

    async def call(self, cmd: str, *, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and return the driver's answer."""
        assert self.proc.stdin is not None
        self._next_id += 1
        cmd_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[cmd_id] = future
        line = json.dumps({"id": cmd_id, "cmd": cmd, **to_wire(params)}) + "\n"
        self.proc.stdin.write(line.encode())
        await self.proc.stdin.drain()
        try:
            answer = await asyncio.wait_for(future, timeout or self.default_timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no answer to {cmd} {params}{self._diagnostics()}") from None
        finally:
            self._pending.pop(cmd_id, None)
        if "failed" in answer:
            raise AssertionError(f"driver command {cmd} failed: {answer['failed']}{self._diagnostics()}")
        return answer

    async def connect(
        self,
        client: str,
        mode: str,
        *,
        nsp: str = "/",
        manager: str | None = None,
        auth: dict[str, Any] | None = None,
        acks: dict[str, Any] | None = None,
        **opts: Any,
    ) -> dict[str, Any]:
        """Open a socket (its own connection unless ``manager`` names a shared one) and wait for the
        outcome: ``{"connected": True, "id": ..., "transport": ...}`` or ``{"connected": False,
        "message": ..., "data": ...}``."""
        return await self.call(
            "connect",
            client=client,
            nsp=nsp,
            manager=manager or client,
            auth=auth or {},
            acks=acks or {},
            opts={**manager_options(mode), **opts},
        )

    async def emit(self, client: str, event: str, *args: Any) -> None:
        await self.call("emit", client=client, event=event, args=list(args))

    async def emit_with_ack(
        self, client: str, event: str, *args: Any, style: str = "promise", timeout_ms: int = 5000
    ) -> list[Any]:
        """The acknowledgement's arguments (promise style: only the first one, as ``emitWithAck``)."""
        answer = await self.call(
            "emitWithAck", client=client, event=event, args=list(args), style=style, timeout=timeout_ms
        )
        if "error" in answer:
            raise AssertionError(f"client {client} got no acknowledgement for {event}: {answer['error']}")
        return list(from_wire(answer["args"]))

    async def disconnect(self, client: str) -> None:
        await self.call("disconnect", client=client)

    async def state(self, client: str) -> dict[str, Any]:
        return await self.call("state", client=client)

    # -- observations --------------------------------------------------------------------------

    async def expect(self, *, timeout: float | None = None, **match: Any) -> dict[str, Any]:
        """The first not yet expected observation whose fields equal ``match``; waits for it."""
        return await self.expect_where(lambda m: all(m.get(k) == v for k, v in match.items()), timeout, match)

    async def expect_where(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float | None = None, label: Any = None
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout or self.default_timeout)
        while True:
            for index, message in enumerate(self.observed):
                if index not in self._consumed and predicate(message):
                    self._consumed.add(index)
                    return message
            remaining = deadline - loop.time()
            if remaining <= 0 or self._eof:
                raise AssertionError(
                    f"expected {label or predicate} from the Node clients{self._diagnostics()}"
                )
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def event(self, client: str, name: str, *, timeout: float | None = None) -> dict[str, Any]:
        """The next ``name`` event received by ``client``, its ``args`` decoded (bytes for binary)."""
        message = await self.expect(ev="event", client=client, name=name, timeout=timeout)
        return {**message, "args": from_wire(message["args"])}

    def events(self, client: str, name: str) -> list[list[Any]]:
        """The arguments of every ``name`` event ``client`` received so far (expected or not)."""
        return [
            from_wire(m["args"])
            for m in self.observed
            if m.get("ev") == "event" and m.get("client") == client and m.get("name") == name
        ]

    async def disconnected(self, client: str, *, timeout: float | None = None) -> str:
        """Wait for ``client``'s disconnect and return the reason."""
        message = await self.expect(ev="disconnect", client=client, timeout=timeout)
        return str(message["reason"])

    # -- ending --------------------------------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL: the connections drop without a goodbye."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)

    async def close(self, timeout: float = 5.0) -> None:
        """Let the driver disconnect its sockets and exit; kill it if it does not."""
        if self.proc.returncode is None and self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.kill()
            await self.proc.wait()
        for task in (self._reader, self._err_reader):
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout)
