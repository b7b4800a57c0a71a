"""socketeer with Django (ASGI): Django answers HTTP, socketeer answers /socket.io/.

    uvicorn django_app:app          (from this folder)

A one-file Django project; in a real project the last lines go in ``asgi.py`` next to ``settings.py``:
``app = socketeer.ASGIApp(io, get_asgi_application())``.
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret"),
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402  (after settings)
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

import socketeer  # noqa: E402

io = socketeer.Server()


def stats(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"framework": "django", "connected": len(io.sockets.sockets)})


urlpatterns = [path("api/stats", stats)]


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


app = socketeer.ASGIApp(io, get_asgi_application())
