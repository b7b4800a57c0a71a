"""A socketeer node for ``benchmarks/redis_cost.py``: broadcasts at a fixed rate when told to.

Run: ``PORT=4000 REDIS_URL=redis://127.0.0.1:6379/0 CLUSTER_ADAPTER=redis python benchmarks/peers/redis_cost_peer.py``
(``CLUSTER_ADAPTER``: ``redis``, the classic adapter; ``sharded``; ``streams``; without ``REDIS_URL`` a
single server with the in-memory adapter). ``PING_INTERVAL`` sets the heartbeat (seconds; 600 by default,
so that the benchmark's clients need not answer pings unless a run measures them).

Events: ``join`` (room, acknowledged); ``go`` ``{"count", "rate", "room"}``: ``count`` broadcasts of a
~100-byte payload, to everyone (``room`` null) or to that room, ``rate`` per second spread over 1 ms
ticks; ``done`` is emitted to the caller when the last has been handed to the adapter.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import socketeer

logging.basicConfig(level=logging.WARNING)  # the adapters' warnings (Redis unreachable...) on stderr
PAYLOAD = "x" * 80
ping_interval = float(os.environ.get("PING_INTERVAL", "600"))
kind = os.environ.get("CLUSTER_ADAPTER", "redis")
adapter: Any = None
if os.environ.get("REDIS_URL"):
    url = os.environ["REDIS_URL"]
    if kind == "redis":
        from socketeer.adapters.redis import create_adapter

        adapter = create_adapter(url)
    elif kind == "sharded":
        from socketeer.adapters.redis_sharded import create_sharded_adapter

        adapter = create_sharded_adapter(url)
    elif kind == "streams":
        from socketeer.adapters.redis_streams import RedisStreamsAdapter

        adapter = RedisStreamsAdapter.factory(url)
    else:
        raise SystemExit(f"unknown CLUSTER_ADAPTER {kind!r}")
io = socketeer.Server(adapter=adapter, ping_interval=ping_interval)
tasks: set[asyncio.Task[None]] = set()


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> bool:
    socket.join(room)
    return True


async def emit_at_rate(socket: socketeer.Socket, count: int, rate: float, room: str | None) -> None:
    loop = asyncio.get_running_loop()
    target = io.to(room) if room else io
    started = loop.time()
    sent = 0
    while sent < count:
        due = min(count, int((loop.time() - started) * rate) + 1)
        while sent < due:
            target.emit("bcast", {"s": sent, "p": PAYLOAD})
            sent += 1
        await asyncio.sleep(0.001)
    socket.emit("done", {"count": sent, "seconds": loop.time() - started})


@io.on("go")
def go(socket: socketeer.Socket, order: dict[str, Any]) -> None:
    task = asyncio.ensure_future(
        emit_at_rate(socket, int(order["count"]), float(order["rate"]), order.get("room"))
    )
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def main() -> None:
    from socketeer.integrations.standalone import run

    run(io, "127.0.0.1", int(os.environ.get("PORT", "4000")))


if __name__ == "__main__":
    main()
