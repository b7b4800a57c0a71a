"""The app under test (in your project: your own module)."""

import socketeer


def create_server() -> socketeer.Server:
    """A new server each call: a closed server is not started again, so each test gets its own."""
    io = socketeer.Server()

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("shout")
    def shout(socket: socketeer.Socket, text: str) -> None:
        socket.broadcast.emit("shouted", text.upper())

    return io


io = create_server()  # what `socketeer serve testing_app:io` or an ASGI server would run
