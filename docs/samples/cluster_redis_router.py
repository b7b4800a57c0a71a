import os

import socketeer
from socketeer.integrations.redis_routing import RedisSessionRouter

io = socketeer.Server()

router = RedisSessionRouter(
    os.environ.get("REDIS_URL", "redis://10.0.0.5:6379/0"),
    advertise=os.environ.get("ADVERTISE", "10.0.0.11:8000"),
)
io.engine.use_router(router)
io.add_closer(router.aclose)
