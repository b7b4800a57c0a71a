import socketeer

io = socketeer.Server(
    # long-polling responses: gzip or deflate from 4 KiB on (on by default, from 1024 bytes)
    http_compression={"threshold": 4096},
    # WebSocket permessage-deflate (off by default); without context takeover on the server's side a
    # broadcast is compressed once for every client
    per_message_deflate=socketeer.PerMessageDeflate(threshold=1024, server_no_context_takeover=True),
)


@io.on("snapshot")
def snapshot(socket: socketeer.Socket) -> None:
    # a large JSON document: compressed on the wire, whatever the transport
    socket.emit("snapshot", [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(500)])


@io.on("frame")
def frame(socket: socketeer.Socket, jpeg: bytes) -> None:
    # already compressed: sent as is, to everyone else
    socket.broadcast.compress(False).emit("frame", jpeg)
