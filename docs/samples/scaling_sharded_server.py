import os

import socketeer
from socketeer.adapters.redis_sharded import create_sharded_adapter

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

io = socketeer.Server(adapter=create_sharded_adapter(REDIS_URL, subscription_mode="dynamic"))
