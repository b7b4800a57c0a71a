import os

import socketeer
from socketeer.adapters.redis import create_adapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

io = socketeer.Server(adapter=create_adapter(REDIS_URL))


@io.on_server_side_emit("reload")
def reload(what: str) -> None:
    print(f"reloading {what}")  # sent by another server of the cluster, or by an emitter
