"""An Engine.IO server without Socket.IO: echo, a greeting, a broadcast of who left."""

from __future__ import annotations

import socketeer

eio = socketeer.EngineIOServer()  # path "/engine.io/", as Node's engine.io


@eio.on("connection")
def connected(socket: socketeer.EngineIOSocket) -> None:
    print("open", socket.id, socket.transport)
    socket.send(f"welcome {socket.id}")


@eio.on("message")
def message(socket: socketeer.EngineIOSocket, data: str | bytes) -> None:
    socket.send(data)  # a string comes back as a string, bytes as binary


@eio.on("close")
def closed(socket: socketeer.EngineIOSocket, reason: str) -> None:
    eio.broadcast(f"{socket.id} left: {reason}")


app = socketeer.ASGIApp(eio)  # for uvicorn, hypercorn, granian: `uvicorn engineio_server:app`

if __name__ == "__main__":
    eio.run("127.0.0.1", 8000)  # or the standalone server
