"""socketeer with Litestar: Litestar answers HTTP, socketeer answers /socket.io/.

    uvicorn litestar_app:app          (from this folder)
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get

import socketeer

io = socketeer.Server()


@get("/api/stats")
async def stats() -> dict[str, Any]:
    return {"framework": "litestar", "connected": len(io.sockets.sockets)}


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("welcome", socket.id)


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> str:
    socket.join(room)
    return f"joined {room}"


@io.on("chat")
def chat(socket: socketeer.Socket, room: str, text: str) -> None:
    socket.to(room).emit("chat", {"from": socket.id, "text": text})


app = socketeer.ASGIApp(io, Litestar(route_handlers=[stats]))
