"""The socketeer application the interop tests run against the official Node client.

It records what the server sees (connections, events, disconnect reasons) so tests can wait on it, and
keeps the live server sockets so tests can drive them through the public API.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from socketeer import ConnectionRefused, Namespace, Server, Socket

__all__ = ["InteropApp", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One thing the server saw: ``kind`` is "connection", "event" or "disconnect"."""

    kind: str
    nsp: str
    sid: str
    data: Any


class InteropApp:
    """A :class:`socketeer.Server` with the handlers the interop tests use, on "/" and "/chat".

    Events (each also recorded):

    - ``echo(*args)``: answers the acknowledgement with the same arguments and emits ``echoed(*args)``;
    - ``sum(*numbers)``: answers with the sum;
    - ``size(value)``: answers with ``len(value)``;
    - ``join(room)``: joins the room, answers ``True``;
    - ``shout(room, message)``: ``socket.to(room).emit("shout", message)``;
    - ``broadcast(message)``: ``socket.broadcast.emit("broadcast", message)``;
    - ``bye()``: the server disconnects this socket from the namespace.

    The connection middleware of "/" refuses a client whose ``auth`` has ``"refuse": true``.
    On connection, the server emits ``welcome(sid, auth)``.
    """

    def __init__(self, **server_options: Any) -> None:
        self.io = Server(**server_options)
        self.sockets: dict[str, Socket] = {}
        self.seen: list[Seen] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Event()
        self.io.use(self._gate)
        self._install(self.io.sockets)
        self._install(self.io.of("/chat"))

    # -- recording -----------------------------------------------------------------------------

    def _record(self, kind: str, socket: Socket, data: Any) -> None:
        self.seen.append(Seen(kind, socket.namespace.name, socket.id, data))
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(
        self, predicate: Callable[[Seen], bool], timeout: float = 10.0, label: str = ""
    ) -> Seen:
        """The first not yet waited-for record matching ``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, seen in enumerate(self.seen):
                if index not in self._consumed and predicate(seen):
                    self._consumed.add(index)
                    return seen
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = "\n  ".join(repr(s)[:200] for s in self.seen[-30:])
                raise AssertionError(f"server never saw {label or predicate}; it saw:\n  {recent}")
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def connection(self, sid: str | None = None, nsp: str = "/", timeout: float = 10.0) -> Socket:
        """Wait for a connection on ``nsp`` (of socket ``sid`` if given) and return the server socket."""
        seen = await self.wait_for(
            lambda s: s.kind == "connection" and s.nsp == nsp and (sid is None or s.sid == sid),
            timeout,
            f"a connection on {nsp} (sid {sid})",
        )
        return self.sockets[seen.sid]

    async def event(self, name: str, sid: str | None = None, timeout: float = 10.0) -> list[Any]:
        """Wait for event ``name`` (from socket ``sid`` if given) and return its arguments."""
        seen = await self.wait_for(
            lambda s: s.kind == "event" and s.data[0] == name and (sid is None or s.sid == sid),
            timeout,
            f"event {name!r} from {sid}",
        )
        return list(seen.data[1:])

    async def disconnect_reason(self, sid: str, timeout: float = 10.0) -> str:
        seen = await self.wait_for(
            lambda s: s.kind == "disconnect" and s.sid == sid, timeout, f"the disconnect of {sid}"
        )
        return str(seen.data)

    # -- handlers ------------------------------------------------------------------------------

    @staticmethod
    def _gate(socket: Socket) -> None:
        if socket.handshake.auth.get("refuse"):
            raise ConnectionRefused("not authorized", {"code": 42})

    def _install(self, nsp: Namespace) -> None:
        record = self._record

        @nsp.on("connection")
        def on_connection(socket: Socket, auth: Any) -> None:
            self.sockets[socket.id] = socket
            record("connection", socket, socket.handshake.auth)
            socket.on_any(lambda event, *args: record("event", socket, (event, *args)))
            socket.emit("welcome", socket.id, socket.handshake.auth)

        @nsp.on("disconnect")
        def on_disconnect(socket: Socket, reason: str) -> None:
            record("disconnect", socket, reason)

        @nsp.on("echo")
        def echo(socket: Socket, *args: Any) -> tuple[Any, ...]:
            socket.emit("echoed", *args)
            return args

        @nsp.on("sum")
        def sum_(socket: Socket, *numbers: float) -> float:
            return sum(numbers)

        @nsp.on("size")
        def size(socket: Socket, value: Any) -> int:
            return len(value)

        @nsp.on("join")
        def join(socket: Socket, room: str) -> bool:
            socket.join(room)
            return True

        @nsp.on("shout")
        def shout(socket: Socket, room: str, message: Any) -> None:
            socket.to(room).emit("shout", message)

        @nsp.on("broadcast")
        def broadcast(socket: Socket, message: Any) -> None:
            socket.broadcast.emit("broadcast", message)

        @nsp.on("bye")
        def bye(socket: Socket) -> None:
            socket.disconnect()
