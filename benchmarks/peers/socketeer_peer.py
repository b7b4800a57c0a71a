"""socketeer as a benchmark peer: the handlers every peer implements (echo, ack, broadcast, join, room).

Run: ``PORT=4000 python benchmarks/peers/socketeer_peer.py`` (standalone server, uvloop) or with
``--asgi`` the ASGI app under uvicorn; with ``REDIS_URL`` set, a node of a cluster on the Redis Streams
adapter (or, with ``CLUSTER_ADAPTER`` ``redis`` or ``sharded``, the classic or sharded Redis adapter);
``--metrics`` turns on Prometheus metrics (standalone); ``PING_INTERVAL`` and ``PING_TIMEOUT`` (seconds)
set the heartbeat.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import socketeer

# PING_INTERVAL / PING_TIMEOUT (seconds): a shorter heartbeat, for the scale scenario (benchmarks/scale.py)
heartbeat: dict[str, Any] = {
    name: float(os.environ[env])
    for name, env in (("ping_interval", "PING_INTERVAL"), ("ping_timeout", "PING_TIMEOUT"))
    if os.environ.get(env)
}

if os.environ.get("REDIS_URL"):  # a node of a cluster (benchmarks/cluster_bench.py)
    kind = os.environ.get("CLUSTER_ADAPTER", "streams")
    if kind == "redis":
        from socketeer.adapters.redis import create_adapter

        io = socketeer.Server(adapter=create_adapter(os.environ["REDIS_URL"]))
    elif kind == "sharded":
        from socketeer.adapters.redis_sharded import create_sharded_adapter

        io = socketeer.Server(adapter=create_sharded_adapter(os.environ["REDIS_URL"]))
    else:
        from socketeer.adapters.redis_streams import RedisStreamsAdapter

        io = socketeer.Server(adapter=RedisStreamsAdapter.factory(os.environ["REDIS_URL"]))
else:
    io = socketeer.Server(**heartbeat)


@io.on("echo")
def echo(socket: socketeer.Socket, data: Any) -> None:
    socket.emit("echo", data)


@io.on("ack")
def ack(socket: socketeer.Socket, data: Any) -> Any:
    return data


@io.on("broadcast")
def broadcast(socket: socketeer.Socket, data: Any) -> None:
    io.emit("bcast", data)


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> bool:
    socket.join(room)
    return True


@io.on("room")
def room(socket: socketeer.Socket, message: dict[str, Any]) -> None:
    io.to(message["room"]).emit("bcast", message["data"])


def main() -> None:
    port = int(os.environ.get("PORT", "4000"))
    if "--asgi" in sys.argv:
        import uvicorn

        uvicorn.run(socketeer.ASGIApp(io), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    else:
        from socketeer.integrations.standalone import run

        handler = None
        if "--metrics" in sys.argv:  # Prometheus metrics on, served at /metrics
            from socketeer.metrics import Metrics

            handler = Metrics(io).http_handler()
        certfile = os.environ.get("CERTFILE")  # HTTPS, and WebTransport on UDP (webtransport_bench.py)
        if certfile:
            run(
                io,
                "127.0.0.1",
                port,
                certfile=certfile,
                keyfile=os.environ.get("KEYFILE"),
                webtransport=True,
                http_handler=handler,
            )
        else:
            run(io, "127.0.0.1", port, http_handler=handler)


if __name__ == "__main__":
    main()
