"""socketeer: Socket.IO v5 over Engine.IO v4 for asyncio, server and client.

Errors live in :mod:`socketeer.exceptions`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine.config import CookieConfig, CorsConfig, HttpCompression, Limits, PerMessageDeflate
from .exceptions import AckTimeout, ConnectionRefused
from .logs import enable_trace
from .server.broadcast import BroadcastOperator
from .server.engineio import EngineIOServer, EngineIOSocket
from .server.namespace import Namespace
from .server.server import Server
from .server.socket import Socket
from .sio.reasons import DisconnectReason

if TYPE_CHECKING:
    from .adapters.emitter import Emitter as Emitter
    from .integrations.asgi import ASGIApp

__all__ = [
    "ASGIApp",
    "AckTimeout",
    "BroadcastOperator",
    "ConnectionRefused",
    "CookieConfig",
    "CorsConfig",
    "DisconnectReason",
    "EngineIOServer",
    "EngineIOSocket",
    "HttpCompression",
    "Limits",
    "Namespace",
    "PerMessageDeflate",
    "Server",
    "Socket",
    "enable_trace",
]

__version__ = "0.1.0"

_LAZY = {
    "ASGIApp": ("socketeer.integrations.asgi", "ASGIApp"),
    "AsyncClient": ("socketeer.client.client", "AsyncClient"),
    "Client": ("socketeer.client.sync", "Client"),
    "Emitter": ("socketeer.adapters.emitter", "Emitter"),  # extra socketeer[redis]
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'socketeer' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value
