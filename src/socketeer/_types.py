"""Domain types shared by every layer.

``NewType`` ids keep the Engine.IO session id and the Socket.IO socket id apart:
passing one where the other is expected is a type error.
"""

from __future__ import annotations

from typing import Any, NewType

__all__ = ["AckId", "EngineSid", "JSONValue", "NamespacePath", "Room", "Sid"]

EngineSid = NewType("EngineSid", str)
"""The id of one Engine.IO session (one client connection)."""

Sid = NewType("Sid", str)
"""The id of one Socket.IO socket (one namespace on one connection); ``socket.id``."""

Room = str
"""A room name. Every socket is in the room named after its own id."""

NamespacePath = NewType("NamespacePath", str)
"""A namespace such as ``/`` or ``/chat``."""

AckId = NewType("AckId", int)

JSONValue = None | bool | int | float | str | bytes | list[Any] | dict[str, Any]
"""What an event argument may be: JSON values plus ``bytes`` (sent as binary attachments)."""
