"""A controllable TCP proxy on loopback, for fault-injection tests.

``proxy = await FaultProxy(target_port).start()`` forwards every connection made to ``proxy.port`` to
``127.0.0.1:target_port``. Faults, on every connection (a network outage) or on the one a rule matched:

- ``cut()``: close with FIN (pending bytes are dropped); ``reset()``: close with RST (``SO_LINGER`` 0);
- ``stall(direction)`` / ``freeze()``: stop forwarding, connections stay open (``resume()`` undoes it);
- ``slow(rate, direction)``: forward at most ``rate`` bytes per second;
- ``delay(seconds, direction)``: hold each chunk that long before forwarding it.

Rules fire a fault at a stage of a session. The proxy reads the HTTP request lines going up to tell the
stages apart (:class:`Stage`: the opening GET, a long-polling GET, a POST, a WebSocket handshake) and
matches bytes going down (``b"3probe"`` is the probe answer, an event name marks a message or a
broadcast). ``proxy.on(Stage.POLL, Fault.CUT)`` cuts every connection as soon as a long-polling GET has
gone up; ``proxy.on(b"welcome", Fault.TRUNCATE, keep=0, scope=Scope.CONNECTION)`` swallows the
response carrying ``welcome`` and closes its connection. Each rule fires once unless ``times`` says more.

``before=True`` applies the fault before forwarding the matched chunk (a request then never reaches the
server), ``after=seconds`` that long after forwarding it (a GET held by the server).

``proxy.seen`` records the stages in order; ``await proxy.reached(stage)`` waits for one and
``await proxy.wait_applied(rule)`` for a rule's fault. Everything is bounded: the proxy only talks to 127.0.0.1 and ``close()`` ends every task it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import socket
import struct
from dataclasses import dataclass, field

__all__ = ["Direction", "Fault", "FaultProxy", "Rule", "Scope", "Stage"]


class Direction(enum.Enum):
    UP = "up"  # client -> server
    DOWN = "down"  # server -> client
    BOTH = "both"

    def covers(self, other: Direction) -> bool:
        return self is Direction.BOTH or self is other


class Stage(enum.Enum):
    HANDSHAKE = "handshake"  # the opening GET (no sid) went up
    POLL = "poll"  # a long-polling GET went up (the server holds it)
    POST = "post"  # a POST went up
    WS_HANDSHAKE = "ws_handshake"  # a WebSocket handshake went up (a probe when it carries a sid)


class Fault(enum.Enum):
    CUT = "cut"  # FIN
    RESET = "reset"  # RST
    STALL = "stall"  # stop forwarding both directions
    TRUNCATE = "truncate"  # forward ``keep`` bytes of the matched chunk, then FIN
    SLOW = "slow"  # ``rate`` bytes per second from now on
    DELAY = "delay"  # hold each chunk ``seconds``


class Scope(enum.Enum):
    ALL = "all"  # every connection (and the faults that persist apply to new ones)
    CONNECTION = "connection"  # only the connection the rule matched


@dataclass
class Rule:
    """When ``when`` matches (a stage going up, or bytes in a chunk going down), apply ``fault``."""

    when: Stage | bytes
    fault: Fault
    scope: Scope = Scope.ALL
    keep: int = 0  # TRUNCATE: bytes of the matched chunk still forwarded (-1: half of it)
    rate: float = 0.0  # SLOW
    seconds: float = 0.0  # DELAY
    direction: Direction = Direction.BOTH  # STALL, SLOW, DELAY
    before: bool = False  # fault before forwarding the matched chunk (a request never reaches the server)
    after: float = 0.0  # seconds between forwarding the matched chunk and the fault (e.g. a GET held)
    times: int = 1
    fired: int = 0  # matches so far
    applied: int = 0  # faults applied so far

    def matches(self, stage: Stage | None, chunk: bytes, direction: Direction) -> bool:
        if self.fired >= self.times:
            return False
        if isinstance(self.when, Stage):
            return direction is Direction.UP and stage is self.when
        return direction is Direction.DOWN and self.when in chunk


@dataclass
class _Shaping:
    stalled: set[Direction] = field(default_factory=set)
    rate: dict[Direction, float] = field(default_factory=dict)
    delay: dict[Direction, float] = field(default_factory=dict)

    def apply(self, rule: Rule) -> None:
        for d in (Direction.UP, Direction.DOWN):
            if rule.direction.covers(d):
                if rule.fault is Fault.STALL:
                    self.stalled.add(d)
                elif rule.fault is Fault.SLOW:
                    self.rate[d] = rule.rate
                elif rule.fault is Fault.DELAY:
                    self.delay[d] = rule.seconds


_REQUEST_LINE = re.compile(rb"(GET|POST) (\S+) HTTP/1\.[01]\r\n")


def classify(request_line: bytes) -> Stage | None:
    """The Engine.IO stage of an HTTP request line (``None`` for anything else)."""
    match = _REQUEST_LINE.match(request_line)
    if match is None:
        return None
    method, target = match.groups()
    if b"transport=websocket" in target:
        return Stage.WS_HANDSHAKE
    if method == b"POST":
        return Stage.POST
    return Stage.POLL if b"sid=" in target else Stage.HANDSHAKE


class _Connection:
    def __init__(self, proxy: FaultProxy, number: int, client: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.number = number
        self.client = client
        self.server: asyncio.StreamWriter | None = None
        self.shaping = _Shaping()
        self.closed = asyncio.Event()
        self.websocket = False
        self.was_reset = False
        self._up_pending = b""  # request bytes not yet classified

    def writers(self) -> list[asyncio.StreamWriter]:
        return [w for w in (self.client, self.server) if w is not None]

    def cut(self) -> None:
        for writer in self.writers():
            writer.transport.abort()
        self.closed.set()

    def reset(self) -> None:
        self.was_reset = True
        for writer in self.writers():
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self.closed.set()

    def stages(self, data: bytes) -> list[Stage]:
        """The stages of the requests starting in ``data`` (requests are small: a line fits a chunk)."""
        if self.websocket:
            return []
        buf = self._up_pending + data
        found: list[Stage] = []
        start = 0
        while True:
            match = _REQUEST_LINE.search(buf, start)
            if match is None:
                break
            stage = classify(buf[match.start() :])
            if stage is not None:
                found.append(stage)
                if stage is Stage.WS_HANDSHAKE:
                    self.websocket = True
            start = match.end()
        self._up_pending = buf[-512:] if not found else b""
        return found


class FaultProxy:
    """Forwards loopback connections to ``target_port`` and injects faults (see the module docstring)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.rules: list[Rule] = []
        self.seen: list[tuple[int, Stage]] = []
        self.shaping = _Shaping()  # applies to every connection, new ones included
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._open: set[_Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    # ------------------------------------------------------------------------------------------
    # faults now

    def cut(self) -> None:
        """Close every connection with FIN (new connections are still accepted)."""
        for conn in list(self._open):
            conn.cut()

    def reset(self) -> None:
        """Close every connection with RST."""
        for conn in list(self._open):
            conn.reset()

    def stall(self, direction: Direction = Direction.BOTH) -> None:
        self.shaping.apply(Rule(b"", Fault.STALL, direction=direction))

    def freeze(self) -> None:
        """Stop forwarding server -> client bytes, connections stay open."""
        self.stall(Direction.DOWN)

    def slow(self, rate: float, direction: Direction = Direction.BOTH) -> None:
        self.shaping.apply(Rule(b"", Fault.SLOW, rate=rate, direction=direction))

    def delay(self, seconds: float, direction: Direction = Direction.BOTH) -> None:
        self.shaping.apply(Rule(b"", Fault.DELAY, seconds=seconds, direction=direction))

    def resume(self) -> None:
        """Forward normally again (stall, slow and delay are lifted everywhere)."""
        self.shaping = _Shaping()
        for conn in self._open:
            conn.shaping = _Shaping()
        self._changed.set()

    # ------------------------------------------------------------------------------------------
    # faults at a stage

    def on(
        self,
        when: Stage | bytes,
        fault: Fault,
        *,
        scope: Scope = Scope.ALL,
        keep: int = 0,
        rate: float = 0.0,
        seconds: float = 0.0,
        direction: Direction = Direction.BOTH,
        before: bool = False,
        after: float = 0.0,
        times: int = 1,
    ) -> Rule:
        """Apply ``fault`` when ``when`` matches (see :class:`Rule`); returns the rule."""
        rule = Rule(when, fault, scope, keep, rate, seconds, direction, before, after, times)
        self.rules.append(rule)
        return rule

    async def reached(self, stage: Stage, count: int = 1, timeout: float = 10) -> None:
        async def wait() -> None:
            while sum(1 for _, s in self.seen if s is stage) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    async def wait_applied(self, rule: Rule, timeout: float = 10) -> None:
        async def wait() -> None:
            while not rule.applied:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)

    # ------------------------------------------------------------------------------------------

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Connection(self, self.connections, client_writer)
        self._open.add(conn)  # a fault now also ends the connections still being set up
        try:
            server_reader, conn.server = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            self._open.discard(conn)
            client_writer.close()
            return
        if conn.closed.is_set():  # ended while connecting: end the new half the same way
            conn.reset() if conn.was_reset else conn.cut()
            self._open.discard(conn)
            return
        up = asyncio.create_task(self._pipe(conn, client_reader, conn.server, Direction.UP))
        down = asyncio.create_task(self._pipe(conn, server_reader, client_writer, Direction.DOWN))
        closed = asyncio.create_task(conn.closed.wait())
        self._tasks.update((up, down))
        try:
            await asyncio.wait({up, down, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down, closed):
                task.cancel()
            await asyncio.gather(up, down, closed, return_exceptions=True)
            self._tasks.difference_update((up, down))
            for writer in conn.writers():
                writer.close()
            self._open.discard(conn)

    def _stalled(self, conn: _Connection, direction: Direction) -> bool:
        return direction in self.shaping.stalled or direction in conn.shaping.stalled

    async def _pipe(
        self,
        conn: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(65536)
                if not data:
                    return  # one side closed: the handler closes the other
                stages = conn.stages(data) if direction is Direction.UP else []
                for stage in stages:
                    self.seen.append((conn.number, stage))
                self._changed.set()
                rule = self._match(stages, data, direction)
                if rule is not None and rule.fault is Fault.TRUNCATE:
                    keep = len(data) // 2 if rule.keep < 0 else rule.keep
                    if keep:
                        writer.write(data[:keep])
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(writer.drain(), 1)
                    self._fire(conn, rule)
                    return
                if rule is not None and rule.before:
                    self._fire(conn, rule)
                    if conn.closed.is_set():
                        return
                    rule = None
                await self._forward(conn, writer, data, direction)
                if rule is not None:
                    if rule.after:
                        asyncio.get_running_loop().call_later(rule.after, self._fire, conn, rule)
                    else:
                        self._fire(conn, rule)

    def _match(self, stages: list[Stage], data: bytes, direction: Direction) -> Rule | None:
        for rule in self.rules:
            if any(rule.matches(stage, data, direction) for stage in stages) or (
                not isinstance(rule.when, Stage) and rule.matches(None, data, direction)
            ):
                rule.fired += 1
                return rule
        return None

    def _fire(self, conn: _Connection, rule: Rule) -> None:
        rule.applied += 1
        targets = [conn] if rule.scope is Scope.CONNECTION else list(self._open)
        if rule.fault in (Fault.CUT, Fault.TRUNCATE):
            for target in targets:
                target.cut()
        elif rule.fault is Fault.RESET:
            for target in targets:
                target.reset()
        elif rule.scope is Scope.CONNECTION:
            conn.shaping.apply(rule)
        else:
            self.shaping.apply(rule)
        self._changed.set()

    async def _forward(
        self, conn: _Connection, writer: asyncio.StreamWriter, data: bytes, d: Direction
    ) -> None:
        while self._stalled(conn, d):
            self._changed.clear()
            await self._changed.wait()
        delay = conn.shaping.delay.get(d, self.shaping.delay.get(d, 0.0))
        if delay:
            await asyncio.sleep(delay)
        rate = conn.shaping.rate.get(d, self.shaping.rate.get(d, 0.0))
        if not rate:
            writer.write(data)
            await writer.drain()
            return
        step = max(1, int(rate / 100))  # 10 ms slices
        for i in range(0, len(data), step):
            writer.write(data[i : i + step])
            await writer.drain()
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
