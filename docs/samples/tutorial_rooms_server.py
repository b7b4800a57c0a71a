from typing import Any

import socketeer

io = socketeer.Server()


@io.on("connection")
def on_connection(socket: socketeer.Socket, auth: Any) -> None:
    io.emit("joined", socket.id)  # to everyone, the newcomer included
    socket.broadcast.emit("say hi", socket.id)  # to everyone but the newcomer


@io.on("join")
def join(socket: socketeer.Socket, room: str) -> str:
    socket.join(room)
    socket.to(room).emit("news", f"{socket.id} joined {room}")  # the room, but not the sender
    return f"you are in {sorted(socket.rooms)}"


@io.on("to room")
def to_room(socket: socketeer.Socket, room: str, text: str) -> None:
    io.to(room).emit("news", text)  # everyone in the room, the sender too if a member


@io.on("private")
def private(socket: socketeer.Socket, to: str, text: str) -> None:
    # each socket is in a room named by its id: that room is a private channel
    io.to(to).emit("private", {"from": socket.id, "text": text})


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
