"""python-socketio (AsyncServer) under uvicorn, the same handlers as socketeer_peer.py.

Run: ``PORT=4000 python benchmarks/peers/pysio_uvicorn.py``.
"""

from __future__ import annotations

import os
from typing import Any

import socketio
import uvicorn

sio = socketio.AsyncServer(async_mode="asgi")


@sio.on("echo")
async def echo(sid: str, data: Any) -> None:
    await sio.emit("echo", data, to=sid)


@sio.on("ack")
async def ack(sid: str, data: Any) -> Any:
    return data


@sio.on("broadcast")
async def broadcast(sid: str, data: Any) -> None:
    await sio.emit("bcast", data)


@sio.on("join")
async def join(sid: str, room: str) -> bool:
    await sio.enter_room(sid, room)
    return True


@sio.on("room")
async def room(sid: str, message: dict[str, Any]) -> None:
    await sio.emit("bcast", message["data"], room=message["room"])


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "4000"))
    uvicorn.run(socketio.ASGIApp(sio), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
