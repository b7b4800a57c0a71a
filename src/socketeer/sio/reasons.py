"""Disconnect reasons, with the strings of the official server and client."""

from __future__ import annotations

from enum import Enum

__all__ = ["DisconnectReason"]


class DisconnectReason(str, Enum):
    TRANSPORT_ERROR = "transport error"
    TRANSPORT_CLOSE = "transport close"
    FORCED_CLOSE = "forced close"
    PING_TIMEOUT = "ping timeout"
    PARSE_ERROR = "parse error"
    SERVER_SHUTTING_DOWN = "server shutting down"
    FORCED_SERVER_CLOSE = "forced server close"
    CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
    SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"
    # client side only
    IO_SERVER_DISCONNECT = "io server disconnect"
    IO_CLIENT_DISCONNECT = "io client disconnect"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: str) -> DisconnectReason:
        try:
            return cls(value)
        except ValueError:
            return cls.TRANSPORT_ERROR
