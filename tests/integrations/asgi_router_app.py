"""The app that tests/integrations/test_asgi_servers.py serves with each ASGI server in its own process:
a Starlette router with an HTTP route and socketeer mounted on a sub-path, so the client's path is
``/ws/socket.io/``.

``uvicorn asgi_router_app:app`` (with this folder on ``PYTHONPATH``).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import socketeer

io = socketeer.Server()


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("welcome", {"id": socket.id, "auth": auth})


@io.on("echo")
def echo(socket: socketeer.Socket, *args: Any) -> None:
    socket.emit("echo", *args)


@io.on("add")
def add(socket: socketeer.Socket, a: int, b: int) -> int:
    return a + b


@io.on("shout")
def shout(socket: socketeer.Socket, text: str) -> None:
    io.emit("shouted", text.upper())


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"ok {request.url.path}")


app = Starlette(routes=[Route("/health", health), Mount("/ws", app=socketeer.ASGIApp(io))])
