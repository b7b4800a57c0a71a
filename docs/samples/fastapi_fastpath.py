"""FastAPI and Socket.IO on one port, Socket.IO on the standalone server's fast path.

    python fastapi_fastpath.py
    socketeer serve fastapi_fastpath:io --app fastapi_fastpath:api     (the same, from the command line)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request

import socketeer

io = socketeer.Server()


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    # runs before the server listens, and again (after the yield) when it closes
    yield {"motd": "welcome"}


api = FastAPI(lifespan=lifespan)


@api.get("/api/stats")
async def stats(request: Request) -> dict[str, Any]:
    return {"connected": len(io.sockets.sockets), "motd": request.state.motd}


@io.on("chat")
def chat(socket: socketeer.Socket, text: str) -> None:
    socket.broadcast.emit("chat", text)


if __name__ == "__main__":
    # /socket.io/ is the standalone server's; every other request is FastAPI's, served by uvicorn's HTTP
    io.run("127.0.0.1", 8000, app=api)
