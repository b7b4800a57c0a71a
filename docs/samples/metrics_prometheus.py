from socketeer import Server, Socket
from socketeer.metrics import Metrics

io = Server()
metrics = Metrics(io)  # before the server serves


@io.on("work")
def work(socket: Socket, n: int) -> int:
    return n * 2


if __name__ == "__main__":
    # GET /metrics next to /socket.io/ on the standalone server
    io.run("0.0.0.0", 8000, http_handler=metrics.http_handler("/metrics"))
