from typing import Any

import socketeer
from socketeer.exceptions import ConnectionRefused

io = socketeer.Server()
LOBBY = "lobby"


def nickname(socket: socketeer.Socket) -> str:
    return str(socket.data["nickname"])


@io.use
def require_nickname(socket: socketeer.Socket) -> None:
    name = str(socket.handshake.auth.get("nickname", "")).strip()[:24]
    if not name:
        raise ConnectionRefused("pick a nickname")
    if any(other.data.get("nickname") == name for other in io.sockets.sockets.values()):
        raise ConnectionRefused(f"{name} is taken")
    socket.data["nickname"] = name


@io.on("connection")
def joined(socket: socketeer.Socket, auth: Any) -> None:
    socket.join(LOBBY)
    online = sorted(nickname(s) for s in io.sockets.sockets.values())
    socket.emit("welcome", {"you": nickname(socket), "online": online})
    socket.to(LOBBY).emit("system", f"{nickname(socket)} joined")


@io.on("message")
def message(socket: socketeer.Socket, text: str) -> bool:
    socket.to(LOBBY).emit("message", {"from": nickname(socket), "text": str(text)[:1000]})
    return True  # acknowledged: the message went out


@io.on("whisper")
def whisper(socket: socketeer.Socket, to: str, text: str) -> bool:
    for other in io.sockets.sockets.values():
        if other.data.get("nickname") == to:
            io.to(other.id).emit("whisper", {"from": nickname(socket), "text": str(text)[:1000]})
            return True
    return False


@io.on("disconnect")
def left(socket: socketeer.Socket, reason: str) -> None:
    io.to(LOBBY).emit("system", f"{nickname(socket)} left")


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
