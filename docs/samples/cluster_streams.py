import os

import socketeer
from socketeer.adapters.redis_streams import RedisStreamsAdapter

io = socketeer.Server(
    adapter=RedisStreamsAdapter.factory(os.environ.get("REDIS_URL", "redis://localhost:6379/0")),
    connection_state_recovery=True,  # optional: recovery on any node of the cluster
)
