import logging
import sys
from typing import TextIO

import socketeer
from socketeer import Server, Socket

io = Server()


@io.on("join")
def join(socket: Socket, room: str) -> bool:
    socket.join(room)
    socket.logger.info("joined %s", room)  # the record has sid, socket_id, namespace and transport
    return True


def configure_logging(stream: TextIO = sys.stderr) -> logging.Handler:
    """socketeer's records about a socket, with its context in the format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        logging.Formatter("%(levelname)s [%(namespace)s %(socket_id)s %(transport)s] %(message)s")
    )
    server_logger = logging.getLogger("socketeer.server")
    server_logger.addHandler(handler)
    server_logger.setLevel(logging.INFO)
    return handler


if __name__ == "__main__":
    configure_logging()
    socketeer.enable_trace()  # every packet, to stderr: logging is not configured otherwise
    io.run("127.0.0.1", 8000)
