"""The application of the ``--workers`` and nginx tests (``socketeer serve workers_app:io``).

With ``NODE_ID`` and ``PEERS`` (``id=host:port,...``) set, it relays polling requests to the peer that owns
the session; with ``REDIS_URL`` set, the servers share the Redis Streams adapter.
"""

from __future__ import annotations

import os
from typing import Any

from socketeer import Server
from socketeer.transports.forwarding import Address, SessionRouter

redis_url = os.environ.get("REDIS_URL")
if redis_url:
    from socketeer.adapters.redis_streams import RedisStreamsAdapter

    io = Server(adapter=RedisStreamsAdapter.factory(redis_url))
else:
    io = Server()

node_id = os.environ.get("NODE_ID")
if node_id:
    peers = {}
    for item in os.environ.get("PEERS", "").split(","):
        if item:
            name, _, address = item.partition("=")
            peers[name] = Address.parse(address)
    io.engine.use_router(SessionRouter.with_peers(node_id, peers))


@io.on("pid")
def pid(socket: Any) -> int:
    return os.getpid()


@io.on("shout")
def shout(socket: Any, message: Any) -> None:
    io.emit("shouted", message)


@io.on("count")
async def count(socket: Any) -> int:
    return len(await io.fetch_sockets())
