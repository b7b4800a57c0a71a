"""The one exception tree of socketeer.

::

    SocketeerError
    ├── ProtocolError
    │   ├── LocalProtocolError        you used the API in a way the protocol forbids
    │   └── RemoteProtocolError       the peer sent something that breaks the protocol
    │       └── PayloadTooLarge       the peer sent more than the configured limit
    ├── ConnectionRefused             raised by middleware: the client gets CONNECT_ERROR
    ├── InvalidPayload (also ValueError) an event's data does not fit the handler's typed parameter
    ├── AckTimeout (also TimeoutError) no acknowledgement in time
    ├── NotConnected (also ConnectionError) the connection or socket is closed
    └── BufferFull                    an outgoing buffer reached its configured bound
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AckTimeout",
    "BufferFull",
    "ConnectionRefused",
    "InvalidPayload",
    "LocalProtocolError",
    "NotConnected",
    "PayloadTooLarge",
    "ProtocolError",
    "RemoteProtocolError",
    "SocketeerError",
]


class SocketeerError(Exception):
    """Base class of every error raised by socketeer."""


class ProtocolError(SocketeerError):
    """A violation of the Engine.IO or Socket.IO protocol."""


class LocalProtocolError(ProtocolError):
    """This side tried to do something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something that breaks the protocol."""


class PayloadTooLarge(RemoteProtocolError):
    """The peer sent a payload larger than the configured limit."""


class ConnectionRefused(SocketeerError):
    """Raise in a middleware or connect handler to refuse a connection.

    The client receives CONNECT_ERROR with ``{"message": message, "data": data}``.
    """

    def __init__(self, message: str = "Not authorized", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class InvalidPayload(SocketeerError, ValueError):
    """Received data does not fit the model a handler's parameter is annotated with.

    ``errors`` lists what is wrong, as ``{"loc": [parameter, key or index, ...], "msg": text}``.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors: list[dict[str, Any]] = errors if errors is not None else []


class AckTimeout(SocketeerError, TimeoutError):
    """No acknowledgement arrived in time.

    For a broadcast with acknowledgements, ``responses`` holds the answers that did arrive.
    """

    def __init__(self, message: str = "operation has timed out", responses: list[Any] | None = None) -> None:
        super().__init__(message)
        self.responses: list[Any] = responses if responses is not None else []


class NotConnected(SocketeerError, ConnectionError):
    """The connection or the socket is not (or no longer) connected."""


class BufferFull(SocketeerError):
    """An outgoing buffer reached its configured bound."""
