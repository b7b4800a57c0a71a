from typing import Any

import socketeer
from socketeer.integrations.devcert import development_certificate

io = socketeer.Server()


async def start(folder: str = ".devcert", port: int = 4433) -> Any:
    cert = development_certificate(folder)  # ECDSA P-256, valid 10 days (at most 14)
    server = await io.serve(
        "127.0.0.1", port, certfile=cert.certfile, keyfile=cert.keyfile, webtransport=True
    )
    print(cert.hash_js())  # the serverCertificateHashes entry
    return server
