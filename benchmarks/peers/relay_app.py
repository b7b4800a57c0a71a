"""The server of ``benchmarks/cluster_relay.py``: relays polling requests to the peer that owns the session."""

from __future__ import annotations

import os
from typing import Any

from socketeer import Server
from socketeer.transports.forwarding import Address, SessionRouter

io = Server()
peers = {}
for item in os.environ.get("PEERS", "").split(","):
    if item:
        name, _, address = item.partition("=")
        peers[name] = Address.parse(address)
io.engine.use_router(SessionRouter.with_peers(os.environ["NODE_ID"], peers))


@io.on("ping")
def ping(socket: Any, value: Any) -> Any:
    return value
