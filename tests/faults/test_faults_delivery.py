"""Nothing lost, nothing duplicated: sequence-numbered traffic both ways across a fault.

With connection state recovery on the server and ``retries`` on the client, a client streams ``up`` 0..N-1
(each acknowledged) while the server streams ``down`` 0..N-1 to the client's room; the proxy cuts every
connection in the middle. Checked end to end, for both clients against both servers in every mode:

- the session is recovered (same id, ``recovered`` true) after one ``disconnect``;
- the client receives ``down`` 0..N-1 exactly once each, in order (the missed ones are replayed);
- every ``up`` is acknowledged exactly once, in order; the server's handler saw every number, and at most
  the one packet in flight at the cut twice (``retries`` is at-least-once: a handler that must not see
  a number twice keys on it).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from fault_peers import CLIENTS, NodeFaultServer, fault_app, node_args

from fault_proxy import Fault, FaultProxy, Stage
from socketeer import Server

N = 60
MODES: dict[str, tuple[str, ...]] = {
    "polling": ("polling",),
    "websocket": ("websocket",),
    "upgrade": ("polling", "websocket"),
}
_keys = itertools.count()


@pytest.fixture
async def recovering_server(
    node_servers: dict[tuple[str, ...], NodeFaultServer],
) -> AsyncIterator[Callable[[str], Awaitable[int]]]:
    started: list[Server] = []

    async def start(kind: str) -> int:
        if kind == "node":
            args = node_args(True)
            server = node_servers.get(args) or node_servers.setdefault(args, NodeFaultServer(*args))
            return server.port
        io = fault_app(True)
        started.append(io)
        return int((await io.serve("127.0.0.1", 0)).port)

    yield start
    for io in started:
        await io.close()


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("server_kind", ["node", "socketeer"])
@pytest.mark.parametrize("client_kind", sorted(CLIENTS))
async def test_cut_mid_traffic_loses_and_duplicates_nothing(
    client_kind: str,
    server_kind: str,
    mode: str,
    recovering_server: Callable[[str], Awaitable[int]],
    fault_proxy: list[FaultProxy],
) -> None:
    port = await recovering_server(server_kind)
    proxy = await FaultProxy(port).start()
    fault_proxy.append(proxy)
    client = CLIENTS[client_kind](proxy.url, MODES[mode], key=f"seq-{next(_keys)}", retries=3)
    seen = client.seen
    try:
        await client.start()
        await seen.wait("welcome")
        if mode == "upgrade":
            await seen.wait("upgrade")
        first_id = seen.of("connect")[0][0]
        if mode == "polling":
            # Long-polling only tells the server that the client is gone when a held GET's connection ends:
            # a cut between two GETs (or while an answer is on its way) reaches no server, which then keeps
            # the session until its ping timeout, so the client's quick reconnection cannot recover it (it
            # gets a new session, ``recovered`` false: the JS client and the Node server do the same). So the
            # cut comes while a GET is held: the server's events come 60 ms apart, the client's numbers all
            # went through, and the cut comes 20 ms after the next GET went up; the client's numbers from
            # N/2 on are emitted while it is disconnected.
            downs, every_ms = 12, 60
            client.up(0, N // 2)
            await seen.wait("ack", N // 2)
            client.stream(downs, every_ms)
            await seen.wait("down", 3)
            await proxy.wait_applied(proxy.on(Stage.POLL, Fault.CUT, after=0.02))
            await seen.wait("disconnect")
            client.up(N // 2, N)
        else:  # WebSocket: both ends see the cut at once, whatever is in flight
            downs = N
            client.stream(downs, 5)
            client.up(0, N)
            await seen.wait("down", N // 4)
            proxy.cut()
            await seen.wait("disconnect")
        assert (await seen.wait("connect", 2))[1] == (first_id, True), seen.items
        await seen.wait("down", downs)
        await seen.wait("ack", N)
        assert seen.of("down") == list(range(downs))
        assert seen.of("ack") == list(range(N))
        assert len(seen.of("disconnect")) == 1
        received = await client.report()
        assert sorted(set(received)) == list(range(N))
        assert len(received) - N <= 1, received
    finally:
        await client.close()
