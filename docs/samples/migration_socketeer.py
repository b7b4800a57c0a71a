# socketeer
from typing import Any

import socketeer
from socketeer.exceptions import ConnectionRefused

io = socketeer.Server()


@io.use
def authenticate(socket: socketeer.Socket) -> None:
    if socket.handshake.auth.get("token") != "t0ken":
        raise ConnectionRefused("not authorized")
    socket.data["user"] = "ada"


@io.on("connection")
def connect(socket: socketeer.Socket, auth: Any) -> None:
    socket.join("lobby")


@io.on("add")
def add(socket: socketeer.Socket, a: int, b: int) -> int:
    return a + b


@io.on("chat")
def chat(socket: socketeer.Socket, text: str) -> None:
    socket.to("lobby").emit("chat", {"from": socket.data["user"], "text": text})


@io.on("disconnect")
def disconnect(socket: socketeer.Socket, reason: str) -> None:
    print("left", socket.id, reason)


app = socketeer.ASGIApp(io)
