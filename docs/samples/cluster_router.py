import os

import socketeer
from socketeer.adapters.redis_streams import RedisStreamsAdapter
from socketeer.transports.forwarding import Address, SessionRouter

PEERS = {  # the same table on every server
    "node01": Address.parse(os.environ.get("NODE01", "10.0.0.11:8000")),
    "node02": Address.parse(os.environ.get("NODE02", "10.0.0.12:8000")),
}


def create_server(node_id: str) -> socketeer.Server:
    io = socketeer.Server(
        adapter=RedisStreamsAdapter.factory(os.environ.get("REDIS_URL", "redis://10.0.0.5:6379/0"))
    )
    router = SessionRouter.with_peers(node_id, PEERS)
    io.engine.use_router(router)
    io.add_closer(router.close)  # the relay's kept-alive connections close with the server
    return io
