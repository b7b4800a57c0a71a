"""The two ports through which integrations (ASGI, the standalone server) reach the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..protocol.wire import WireMessage

__all__ = ["NO_RECEIVER", "HttpRequest", "HttpResponse", "WebSocketPort", "WebSocketReceiver"]


@dataclass(slots=True)
class HttpRequest:
    """An HTTP request as the engine sees it. Header names are lower case."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""
    remote_address: tuple[str, int] | None = None
    query_string: str = ""
    scheme: str = "http"


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class WebSocketReceiver(Protocol):
    """What an integration calls for each message that arrives on a WebSocket."""

    def on_ws_text(self, text: str) -> None: ...
    def on_ws_binary(self, data: bytes) -> None: ...
    def on_ws_close(self, reason: str) -> None: ...


class _NoReceiver:
    """Takes whatever arrives and drops it: the receiver of a WebSocket nobody listens to anymore."""

    def on_ws_text(self, text: str) -> None:
        pass

    def on_ws_binary(self, data: bytes) -> None:
        pass

    def on_ws_close(self, reason: str) -> None:
        pass


NO_RECEIVER: WebSocketReceiver = _NoReceiver()


class WebSocketPort(Protocol):
    """One accepted WebSocket, as an integration offers it to the engine.

    ``write`` and ``send_text`` never block: the port buffers and writes when it can.
    ``receiver`` is who gets what arrives; the engine may swap it (after an upgrade).
    """

    receiver: WebSocketReceiver

    def write(self, message: WireMessage) -> None: ...
    def send_text(self, text: str) -> None: ...
    def flush(self) -> None:
        """Write what is buffered now rather than at the end of the event-loop iteration."""
        ...

    def close(self, code: int = 1000) -> None: ...
    def buffered_amount(self) -> int: ...

    def backlogged(self) -> bool:
        """Whether the peer is not taking data as fast as it comes (volatile messages are then dropped)."""
        ...
