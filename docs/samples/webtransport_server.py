import asyncio
import sys
from typing import Any

import socketeer
from socketeer.integrations.devcert import development_certificate

io = socketeer.Server()


@io.on("ping")
def ping(socket: socketeer.Socket) -> str:
    return "pong over " + socket.transport  # "webtransport", or "polling" / "websocket" (fallbacks)


async def start(certfile: str, keyfile: str, host: str = "0.0.0.0", port: int = 443) -> Any:
    # HTTPS on TCP (polling, WebSocket) and HTTP/3 on UDP (WebTransport), the same port number
    return await io.serve(host, port, certfile=certfile, keyfile=keyfile, webtransport=True)


async def start_dev(folder: str = ".devcert", port: int = 4433) -> Any:
    cert = development_certificate(folder)  # ECDSA P-256, valid 10 days (Chrome accepts at most 14)
    print("serverCertificateHashes: [" + cert.hash_js() + "]")
    return await start(cert.certfile, cert.keyfile, host="127.0.0.1", port=port)


async def main() -> None:
    server = await start_dev() if sys.argv[1:] == ["--dev"] else await start(sys.argv[1], sys.argv[2])
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())  # python webtransport_server.py cert.pem key.pem, or --dev
