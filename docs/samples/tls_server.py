import asyncio
import ssl
import sys
from typing import Any

import socketeer

io = socketeer.Server()


@io.on("ping")
def ping(socket: socketeer.Socket) -> str:
    return "pong over " + ("https" if socket.handshake.secure else "http")


async def start(cert: str, key: str, host: str = "127.0.0.1", port: int = 8443) -> Any:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return await io.serve(host, port, ssl=context)  # https:// and wss://


async def main(cert: str, key: str) -> None:
    server = await start(cert, key)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))  # python tls_server.py cert.pem key.pem
