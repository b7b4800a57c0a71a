from typing import Any

import socketeer

io = socketeer.Server()


async def start(host: str = "0.0.0.0", port: int = 443) -> Any:
    server = await io.serve(host, port, certfile="fullchain.pem", keyfile="privkey.pem", webtransport=True)
    return server
