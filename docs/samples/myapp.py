"""The app that the testing page's tests exercise (in your project: your own module)."""

from typing import Any

import socketeer

io = socketeer.Server()


@io.on("connection")
def welcome(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("welcome", socket.id)


@io.on("echo")
def echo(socket: socketeer.Socket, text: str) -> str:
    return text


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> None:
    socket.join(room)
    socket.to(room).emit("joined", socket.id)


@io.on("ping")
def ping(socket: socketeer.Socket) -> None:
    socket.emit("pong", "pong")
