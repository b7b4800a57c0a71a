import os
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster

import socketeer
from socketeer.adapters.redis_sharded import create_sharded_adapter

# the nodes this server knows at start; the client asks them for the rest of the cluster
NODES = os.environ.get("REDIS_CLUSTER_NODES", "10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000")

redis = RedisCluster(
    startup_nodes=[ClusterNode(host, int(port)) for host, port in (n.rsplit(":", 1) for n in NODES.split(","))],
    socket_connect_timeout=2.0,
)
io = socketeer.Server(adapter=create_sharded_adapter(redis, subscription_mode="dynamic"))


@io.on("connection")
def on_connection(socket: socketeer.Socket, auth: Any) -> None:
    socket.join(auth.get("room", "lobby") if isinstance(auth, dict) else "lobby")
