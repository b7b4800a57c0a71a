import socketeer

io = socketeer.Server()


@io.on("echo")
def echo(socket: socketeer.Socket, text: str) -> None:
    socket.emit("echo", text)


if __name__ == "__main__":
    io.run("127.0.0.1", 3000)  # stop it (Ctrl+C) and start it again while the client runs
