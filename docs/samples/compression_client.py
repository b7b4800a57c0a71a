import asyncio
import sys

import socketeer


async def main(url: str) -> None:
    # offers permessage-deflate, as the official client does, and asks for compressed polls
    viewer = socketeer.AsyncClient(url, transports=["websocket"])
    # offers no WebSocket compression: still connects, uncompressed
    camera = socketeer.AsyncClient(url, transports=["websocket"], per_message_deflate=False)
    loop = asyncio.get_running_loop()
    got_snapshot: asyncio.Future[list[dict[str, object]]] = loop.create_future()
    got_frame: asyncio.Future[bytes] = loop.create_future()
    viewer.on("snapshot", got_snapshot.set_result)
    viewer.on("frame", got_frame.set_result)
    await viewer.connect()
    await camera.connect()
    viewer.emit("snapshot")
    camera.emit("frame", b"\xff\xd8\xff\xe0 a jpeg")
    print("snapshot rows:", len(await got_snapshot))
    print("frame bytes:", len(await got_frame))
    await camera.close()
    await viewer.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"))
