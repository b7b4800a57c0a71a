from typing import Any

import socketeer

io = socketeer.Server()  # `io`: the whole server, every client


@io.on("connection")
def on_connection(socket: socketeer.Socket, auth: Any) -> None:
    # `socket`: one connected client; `socket.id` names it
    print(f"connected: {socket.id} over {socket.transport}")
    socket.emit("hello", "world")


@io.on("howdy")
def on_howdy(socket: socketeer.Socket, name: str) -> None:
    print(f"{socket.id} says howdy to {name}")


@io.on("disconnect")
def on_disconnect(socket: socketeer.Socket, reason: str) -> None:
    print(f"disconnected: {socket.id} ({reason})")


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
