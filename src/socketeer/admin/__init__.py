"""The official Socket.IO Admin UI (``@socket.io/admin-ui``) for socketeer servers.

>>> from socketeer.admin import instrument
>>> instrument(io, auth={"type": "basic", "username": "admin", "password": "$2b$10$..."})  # doctest: +SKIP

Basic authentication needs ``bcrypt``: ``pip install 'socketeer[admin]'``.
"""

from __future__ import annotations

from .auth import BasicAuth, InMemorySessionStore, SessionStore
from .instrument import Feature, Instrumentation, instrument

__all__ = ["BasicAuth", "Feature", "InMemorySessionStore", "Instrumentation", "SessionStore", "instrument"]
