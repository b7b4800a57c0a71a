"""Servers configured as the official conformance suites expect (see docs/conformance.md).

``python tests/conformance/apps.py engine`` serves a bare Engine.IO echo on ``/engine.io/``;
``python tests/conformance/apps.py socketio`` serves the Socket.IO test server on ``/socket.io/``.
Both listen on 127.0.0.1:3000 with pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1e6.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import socketeer
from socketeer.engine.config import CorsConfig
from socketeer.integrations.standalone import StandaloneServer, install_uvloop


def engine_server() -> socketeer.EngineIOServer:
    eio = socketeer.EngineIOServer(
        path="/engine.io/",
        ping_interval=0.3,
        ping_timeout=0.2,
        max_http_buffer_size=1_000_000,
        cors={"origins": "*"},
    )

    @eio.on("message")
    def echo(socket: socketeer.EngineIOSocket, data: str | bytes) -> None:
        socket.send(data)

    return eio


def socketio_server() -> socketeer.Server:
    io = socketeer.Server(
        ping_interval=0.3,
        ping_timeout=0.2,
        max_http_buffer_size=1_000_000,
        cors=CorsConfig("*"),
        connect_timeout=1.0,
    )

    def on_connection(socket: socketeer.Socket, auth: Any) -> None:
        socket.emit("auth", auth or {})

    io.on("connection", on_connection)
    io.of("/custom").on("connection", on_connection)

    @io.on("message")
    def message(socket: socketeer.Socket, *args: Any) -> None:
        socket.emit("message-back", *args)

    @io.on("message-with-ack")
    def message_with_ack(socket: socketeer.Socket, *args: Any) -> tuple[Any, ...]:
        return args

    return io


async def main(kind: str, port: int = 3000) -> None:
    server = StandaloneServer(engine_server() if kind == "engine" else socketio_server())
    await server.start("127.0.0.1", port)
    print(f"ready {kind} {port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    install_uvloop()
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3000))
