"""socketeer as a benchmark peer: the handlers every peer implements (echo, ack, broadcast, join, room).

Run: ``PORT=4000 python benchmarks/peers/socketeer_peer.py`` (standalone server, uvloop) or with
``--asgi`` the ASGI app under uvicorn (httptools, websockets); ``asgi_app`` is the ASGI app, for
``asgi_run.py`` (``python benchmarks/peers/asgi_run.py hypercorn socketeer_peer:asgi_app``); with ``REDIS_URL`` set, a node of a cluster on the Redis Streams
adapter (or, with ``CLUSTER_ADAPTER`` ``redis`` or ``sharded``, the classic or sharded Redis adapter);
``--metrics`` turns on Prometheus metrics (standalone); ``PING_INTERVAL`` and ``PING_TIMEOUT`` (seconds)
set the heartbeat.

With a FastAPI application on the same port (``GET /api/item``, a small JSON answer):
``--fastpath`` serves it with ``io.run(app=api)`` (Socket.IO on the standalone server's path, the
application's HTTP handed to uvicorn's protocol), ``--fastapi-asgi`` runs ``ASGIApp(io, api)`` under
uvicorn, and ``--fastapi-only`` runs the FastAPI application alone under uvicorn (no Socket.IO).
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


def fastapi_app() -> Any:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/api/item")
    async def item() -> dict[str, Any]:
        return {"id": 42, "name": "widget", "tags": ["a", "b"], "price": 9.5}

    return api


asgi_app = socketeer.ASGIApp(io)


def main() -> None:
    port = int(os.environ.get("PORT", "4000"))
    if "--fastpath" in sys.argv:  # one port: Socket.IO on the fast path, the rest to uvicorn's protocol
        io.run("127.0.0.1", port, app=fastapi_app())
    elif "--fastapi-asgi" in sys.argv or "--fastapi-only" in sys.argv:
        import uvicorn

        api = fastapi_app() if "--fastapi-only" in sys.argv else socketeer.ASGIApp(io, fastapi_app())
        uvicorn.run(api, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    elif "--asgi" in sys.argv:
        import uvicorn

        uvicorn.run(
            asgi_app, host="127.0.0.1", port=port, http="httptools", ws="websockets", loop="uvloop",
            log_level="warning", lifespan="on",
        )  # fmt: skip
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
