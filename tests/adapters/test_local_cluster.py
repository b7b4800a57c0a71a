"""The workers' cluster: LocalClusterAdapter through a WorkerHub, with heartbeat discovery."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from socketeer import Server
from socketeer.adapters.local_cluster import LocalClusterAdapter, WorkerHub

# A second server in another process: it joins the hub, says "ready", then serves until killed.
PEER = """
import asyncio, sys
from socketeer import Server
from socketeer.adapters.local_cluster import LocalClusterAdapter

async def main():
    io = Server(adapter=LocalClusterAdapter.factory(sys.argv[1], heartbeat_interval=0.1, heartbeat_timeout=0.5))

    @io.on_server_side_emit("ping")
    def ping(value):
        return ["pong", value]

    @io.on_server_side_emit("slow")
    async def slow():
        await asyncio.sleep(30)

    await io.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[str]:
    path = str(tmp_path / "hub.sock")
    worker_hub = WorkerHub(path)
    await worker_hub.start()
    yield path
    await worker_hub.close()


async def start_peer(hub_path: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PEER, hub_path, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert await asyncio.wait_for(proc.stdout.readline(), 20) == b"ready\n"
    return proc


async def until_count(io: Server, count: int, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while await io.server_count() != count:
            await asyncio.sleep(0.02)  # the count changes on messages and timers, polled here (bounded)

    await asyncio.wait_for(wait(), timeout)


def local_server(hub_path: str) -> Server:
    return Server(
        adapter=LocalClusterAdapter.factory(hub_path, heartbeat_interval=0.1, heartbeat_timeout=0.5)
    )


async def test_server_side_emit_across_processes_and_a_sigkilled_peer(hub: str) -> None:
    io = local_server(hub)
    await io.start()
    peer = await start_peer(hub)
    try:
        await until_count(io, 2)
        assert await io.server_side_emit_with_ack("ping", 7) == [["pong", 7]]
        # a request the peer will never answer, then SIGKILL: it is dropped after the heartbeat timeout
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = asyncio.ensure_future(io.server_side_emit_with_ack("slow", timeout=20))
        await asyncio.sleep(0.05)
        peer.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(pending, 5) == []
        assert loop.time() - started < 3
        assert await io.server_count() == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            peer.kill()
        await peer.wait()
        await io.close()


async def test_two_servers_in_one_process_share_rooms_and_sockets(hub: str, serve_socketeer: Any) -> None:
    from socketeer import AsyncClient

    a, b = local_server(hub), local_server(hub)
    url_a, url_b = await serve_socketeer(a), await serve_socketeer(b)

    @a.on("connection")
    def joined(socket: Any, auth: Any) -> None:
        socket.join("room")

    await until_count(a, 2)
    await until_count(b, 2)
    client_a = AsyncClient(url_a, transports=("websocket",))
    client_b = AsyncClient(url_b, transports=("websocket",))
    got: asyncio.Queue[Any] = asyncio.Queue()
    client_b.on("news", got.put_nowait)
    try:
        await client_a.connect()
        await client_b.connect()
        sockets = await b.fetch_sockets()
        assert len(sockets) == 2
        remote = next(s for s in sockets if "room" in s.rooms)
        assert remote.id not in b.sockets.sockets
        on_b = next(iter(b.sockets.sockets.values()))
        await a.in_(on_b.id).sockets_join("room")

        async def joined_on_b() -> None:
            while "room" not in on_b.rooms:
                await asyncio.sleep(0.01)  # the join travels through the hub (bounded by wait_for)

        await asyncio.wait_for(joined_on_b(), 5)
        a.to("room").emit("news", "hello")
        assert await asyncio.wait_for(got.get(), 5) == "hello"
    finally:
        await client_a.disconnect()
        await client_b.disconnect()
