"""The Socket.IO client: :class:`~socketeer.client.client.AsyncClient` (asyncio) and
:class:`~socketeer.client.sync.Client` (blocking, the same client run on a background event loop)."""

from __future__ import annotations

from .client import AsyncClient, Manager, NamespaceSocket
from .reconnect import Backoff

__all__ = ["AsyncClient", "Backoff", "Manager", "NamespaceSocket"]
