import asyncio
from typing import Any

import socketeer
from socketeer.exceptions import AckTimeout

io = socketeer.Server()


@io.on("add")
def add(socket: socketeer.Socket, a: int, b: int) -> int:
    return a + b  # the return value is the acknowledgement


@io.on("lookup")
async def lookup(socket: socketeer.Socket, key: str) -> dict[str, Any]:
    await asyncio.sleep(0.01)  # handlers may be coroutines: answer when ready
    return {"key": key, "found": key == "socketeer"}


@io.on("connection")
async def ask_name(socket: socketeer.Socket, auth: Any) -> None:
    # the other way round: the server asks, the client acknowledges
    try:
        name = await socket.timeout(5).emit_with_ack("your name?")
    except AckTimeout:
        print(f"{socket.id} did not answer")
        return
    print(f"{socket.id} is {name}")
    socket.emit("nice to meet you", name)


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
