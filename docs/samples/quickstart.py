import socketeer

io = socketeer.Server()


@io.on("chat message")
def chat_message(socket: socketeer.Socket, text: str) -> str:
    socket.broadcast.emit("chat message", text)  # to every other client
    return "received"  # the acknowledgement


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)  # or: app = socketeer.ASGIApp(io) for uvicorn, hypercorn, granian
