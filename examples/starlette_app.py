"""socketeer with Starlette: the Socket.IO server mounted next to Starlette routes.

    uvicorn starlette_app:app          (from this folder)
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import socketeer

io = socketeer.Server()


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"framework": "starlette", "connected": len(io.sockets.sockets)})


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


app = socketeer.ASGIApp(io, Starlette(routes=[Route("/api/stats", stats)]))
