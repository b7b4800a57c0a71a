from typing import Any

import socketeer

io = socketeer.Server(per_message_deflate=True)


@io.on("snapshot")
def snapshot(socket: socketeer.Socket, jpeg_bytes: bytes, blob: bytes, data: Any) -> None:
    io.compress(False).emit("frame", jpeg_bytes)  # already compressed: do not spend CPU on it
    io.to("room").compress(False).emit("tick", data)
    socket.compress(False).emit("blob", blob)
