"""socketeer with FastAPI: one process serves the FastAPI routes and Socket.IO.

    uvicorn fastapi_app:app          (from this folder)

The official client connects with ``io("http://127.0.0.1:8000")``; ``GET /api/stats`` is FastAPI's.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import socketeer

io = socketeer.Server()
api = FastAPI()


@api.get("/api/stats")
async def stats() -> dict[str, Any]:
    return {"framework": "fastapi", "connected": len(io.sockets.sockets)}


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("welcome", socket.id)


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> str:
    socket.join(room)
    return f"joined {room}"


@io.on("chat")
def chat(socket: socketeer.Socket, room: str, text: str) -> None:
    # everyone in the room but the sender
    socket.to(room).emit("chat", {"from": socket.id, "text": text})


# Socket.IO answers /socket.io/, everything else (and the lifespan) goes to FastAPI
app = socketeer.ASGIApp(io, api)
