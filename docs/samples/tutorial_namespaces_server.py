from typing import Any

import socketeer
from socketeer.exceptions import ConnectionRefused

io = socketeer.Server()
admin = io.of("/admin")  # a namespace: its own handlers, middlewares, rooms, on the same connection


@admin.use
def only_admins(socket: socketeer.Socket) -> None:
    if socket.handshake.auth.get("token") != "let-me-in":
        raise ConnectionRefused("not an admin", {"hint": "send auth.token"})


@admin.on("connection")
def admin_connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("stats", {"clients": len(io.sockets.sockets)})


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.emit("welcome", socket.nsp.name)


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
