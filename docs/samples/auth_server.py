from typing import Any

import socketeer
from socketeer.exceptions import ConnectionRefused
from socketeer.transports.ports import HttpRequest

TOKENS = {"s3cret-ada": "ada", "s3cret-bob": "bob"}  # in real life: your session store or JWT check


async def allow_request(request: HttpRequest) -> bool | str:
    # Engine.IO handshake, before any Socket.IO work: headers, addresses, cookies (HTTP 403 if refused)
    if request.headers.get("user-agent", "").startswith("BadBot"):
        return "bots not welcome"
    return True


io = socketeer.Server(allow_request=allow_request)


@io.use
async def authenticate(socket: socketeer.Socket) -> None:
    # Socket.IO CONNECT: the client's `auth` payload; runs for every namespace connection
    user = TOKENS.get(str(socket.handshake.auth.get("token")))
    if user is None:
        raise ConnectionRefused("not authorized", {"reason": "bad or missing token"})
    socket.data["user"] = user


@io.on("connection")
def connected(socket: socketeer.Socket, auth: Any) -> None:
    socket.join(f"user:{socket.data['user']}")  # every tab of one user in one room
    socket.emit("hello", socket.data["user"])


@io.on("whoami")
def whoami(socket: socketeer.Socket) -> str:
    return str(socket.data["user"])


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)
