"""socketeer's server against the official JS client: a fault on one client harms no one else.

Client A goes through the :class:`FaultProxy`, client B connects directly, both in one room. While the
server writes a broadcast of 100 events (6 MB on a WebSocket) to the room, A's link stalls (the server's writes to A
back up) or A's connection is cut in the middle of a frame or an answer. Checked:

- B receives the whole broadcast promptly and its acknowledgements stay fast (A does not slow it);
- the server ends A's old session by itself (``ping timeout`` for the stall, at once for the cut): no
  half-open session is left behind, and A reconnects;
- once both clients leave, no engine session, no namespace socket and no task is left on the server,
  and the memory the broadcast took (traced with ``tracemalloc``) is given back.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from fault_peers import PING_INTERVAL_MS, PING_TIMEOUT_MS, JsClient, fault_app
from test_faults_client import settled

from fault_proxy import Fault, FaultProxy, Scope
from socketeer import Server, Socket

MODES: dict[str, tuple[str, ...]] = {"polling": ("polling",), "websocket": ("websocket",)}
COUNT = 100
# 6 MB on a WebSocket, more than loopback socket buffers hold, so the server's writes to A do back up; with
# polling, what A does not fetch waits in the server's buffer for A anyway, and 1 MB keeps B's answers
# within the suite's short ping timeout (a ping waits behind the events queued before it)
SIZES = {"polling": 10_000, "websocket": 60_000}
_keys = itertools.count()


@pytest.fixture
async def io() -> AsyncIterator[Server]:
    server = fault_app(False)
    yield server
    await server.close()


@pytest.mark.parametrize("fault", ["stall", "truncate"])
@pytest.mark.parametrize("mode", sorted(MODES))
async def test_fault_on_one_client_during_a_broadcast(
    io: Server, fault_proxy: list[FaultProxy], mode: str, fault: str
) -> None:
    closed: list[tuple[str, str, float]] = []
    loop = asyncio.get_running_loop()

    @io.sockets.on("disconnect")
    def on_disconnect(socket: Socket, reason: str) -> None:
        closed.append((socket.id, str(reason), loop.time()))

    port = int((await io.serve("127.0.0.1", 0)).port)
    tasks_before = len(asyncio.all_tasks())
    tracemalloc.start()
    memory_before = tracemalloc.get_traced_memory()[0]
    proxy = await FaultProxy(port).start()
    fault_proxy.append(proxy)
    key = f"crowd-{next(_keys)}"
    a = JsClient(proxy.url, MODES[mode], key=key)
    b = JsClient(f"http://127.0.0.1:{port}", MODES[mode], key=key)
    try:
        await asyncio.gather(a.start(), b.start())
        await asyncio.gather(a.seen.wait("welcome"), b.seen.wait("welcome"))
        a_id = a.seen.of("connect")[0][0]
        if fault == "stall":
            proxy.stall()
        else:  # half of the first chunk of the broadcast reaches A, then its connection ends (FIN)
            proxy.on(b"shouted", Fault.TRUNCATE, keep=-1, scope=Scope.CONNECTION)
        started = loop.time()
        b.shout(key, SIZES[mode], COUNT)
        await b.seen.wait("shouted", COUNT, timeout=5)
        assert b.seen.of("shouted") == list(range(COUNT))
        assert loop.time() - started < 3.0
        before = len(b.seen.of("ack"))
        b.up(1, 2)
        await b.seen.wait("ack", before + 1, timeout=1.0)  # B's round trips stay fast

        # the server ends A's session by itself
        def a_closed() -> list[tuple[str, str, float]]:
            return [c for c in closed if c[0] == a_id]

        await a.seen.wait("disconnect")
        await a.seen.wait_until(lambda: bool(a_closed()), label="A's session closed on the server")
        sid, reason, at = a_closed()[0]
        if fault == "stall":
            assert reason == "ping timeout"
            assert at - started <= (PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.5
            proxy.resume()
        else:
            assert reason in ("transport close", "transport error")
            assert at - started < 1.0
        await a.seen.wait("connect", 2)  # A is back (a new session), B never left
        assert len(io.engine.connections) == 2 and len(b.seen.of("disconnect")) == 0
    finally:
        await asyncio.gather(a.close(), b.close())
        await proxy.close()
    try:
        await settled(io, tasks_before)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - memory_before
        assert kept < 1_000_000, f"{kept} bytes still held after a {COUNT * SIZES[mode]} byte broadcast"
    finally:
        tracemalloc.stop()
