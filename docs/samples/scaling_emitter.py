import asyncio
import os
import sys

import socketeer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


async def main(socket_id: str) -> None:
    async with socketeer.Emitter(REDIS_URL) as emitter:
        await emitter.emit("maintenance", {"in": 300})
        await emitter.to("room-1").except_("banned").emit("news", 7)
        await emitter.of("/admin").in_("staff").sockets_join("audit")
        await emitter.to(socket_id).disconnect_sockets()
        await emitter.server_side_emit("reload", "config")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
