"""The regression of the polling retry: a long-polling request whose answer is lost is never re-sent.

Before the fix, a GET whose connection closed before any response byte was sent again on a new
connection; the server had already dequeued the packets of the lost answer (here the ``welcome`` event
sent right after the connection), so they were gone and the client stayed "connected" without them.
Now the client closes with ``transport error``, reconnects, and gets a ``welcome`` from the new session.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fault_peers import PING_INTERVAL_MS, PING_TIMEOUT_MS, RECONNECT, NodeFaultServer

from fault_proxy import Fault, FaultProxy, Scope, Stage
from socketeer import DisconnectReason
from socketeer.client import AsyncClient


async def test_lost_welcome_is_a_transport_error_then_a_new_session(
    node_servers: dict[tuple[str, ...], NodeFaultServer], fault_proxy: list[FaultProxy]
) -> None:
    args = ("--ping-interval", str(PING_INTERVAL_MS), "--ping-timeout", str(PING_TIMEOUT_MS))
    server = node_servers.get(args) or node_servers.setdefault(args, NodeFaultServer(*args))
    proxy = await FaultProxy(server.port).start()
    fault_proxy.append(proxy)
    # the first answer carrying "welcome" is swallowed and its connection closed (FIN)
    rule = proxy.on(b"welcome", Fault.TRUNCATE, keep=0, scope=Scope.CONNECTION)
    # uncompressed answers (as the official Node client asks), so the proxy sees the bytes it matches
    client = AsyncClient(
        proxy.url, transports=("polling",), headers={"Accept-Encoding": "identity"}, **RECONNECT
    )
    welcomes: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    disconnects: list[str] = []
    client.on("welcome", lambda *args: welcomes.put_nowait(args))
    client.on("disconnect", lambda reason: disconnects.append(reason))
    try:
        await asyncio.wait_for(client.connect(), 5)
        sid, recovered = await asyncio.wait_for(welcomes.get(), 5)
        assert rule.applied == 1
        assert disconnects == [DisconnectReason.TRANSPORT_ERROR]
        assert sid == client.id and recovered is False
        assert client.connected
    finally:
        await client.close()


async def test_post_whose_answer_is_lost_is_not_resent(
    node_servers: dict[tuple[str, ...], NodeFaultServer], fault_proxy: list[FaultProxy]
) -> None:
    args = ("--ping-interval", str(PING_INTERVAL_MS), "--ping-timeout", str(PING_TIMEOUT_MS))
    server = node_servers.get(args) or node_servers.setdefault(args, NodeFaultServer(*args))
    proxy = await FaultProxy(server.port).start()
    fault_proxy.append(proxy)
    key = "post-not-resent"
    client = AsyncClient(
        proxy.url,
        transports=("polling",),
        auth={"key": key},
        headers={"Accept-Encoding": "identity"},
        **RECONNECT,
    )
    disconnects: list[str] = []
    client.on("disconnect", lambda reason: disconnects.append(reason))
    reconnected = asyncio.Event()
    client.io.on("reconnect", lambda attempt: reconnected.set())
    try:
        await asyncio.wait_for(client.connect(), 5)
        # the next POST reaches the server, then its connection closes before the answer
        rule = proxy.on(Stage.POST, Fault.CUT, scope=Scope.CONNECTION)
        client.emit("up", 1)
        await asyncio.wait_for(reconnected.wait(), 5)
        assert rule.applied == 1
        assert disconnects == [DisconnectReason.TRANSPORT_ERROR]
        assert await client.emit_with_ack("report", key, timeout=5) == [1]  # delivered once, not twice
    finally:
        await client.close()
