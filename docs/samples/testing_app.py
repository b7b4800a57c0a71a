"""The app under test (in your project: your own module)."""

import socketeer


def create_server() -> socketeer.Server:
    """A new server each call, so that no state (rooms, socket.data) leaks from one test to the next."""
    io = socketeer.Server()

    @io.on("add")
    def add(socket: socketeer.Socket, a: int, b: int) -> int:
        return a + b

    @io.on("shout")
    def shout(socket: socketeer.Socket, text: str) -> None:
        socket.broadcast.emit("shouted", text.upper())

    return io


io = create_server()  # what `socketeer serve testing_app:io` or an ASGI server would run
