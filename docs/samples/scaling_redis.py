import os

import socketeer
from socketeer.adapters.redis import create_adapter

io = socketeer.Server(adapter=create_adapter(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")))
