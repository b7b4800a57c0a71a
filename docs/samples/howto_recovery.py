from typing import Any

import socketeer

io = socketeer.Server(connection_state_recovery=True)  # 2 minutes, middlewares skipped on recovery


@io.on("connection")
def on_connection(socket: socketeer.Socket, auth: Any) -> None:
    if socket.recovered:
        return  # same id, rooms and socket.data; missed broadcasts already delivered
    socket.join("news")
