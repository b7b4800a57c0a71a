"""Engine.IO server options, with the official server's defaults. Times are in seconds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..protocol.permessage_deflate import PerMessageDeflate
from ..protocol.socketio_packets import DecodeLimits

__all__ = [
    "CookieConfig",
    "CorsConfig",
    "EngineConfig",
    "HttpCompression",
    "Limits",
    "PerMessageDeflate",
    "http_compression_option",
    "per_message_deflate_option",
]

AllowRequest = Callable[[Any], Awaitable[Any]]
"""``async (request: HttpRequest) -> bool | str | None``: ``False`` or a message refuses the handshake."""


@dataclass(frozen=True, slots=True)
class CorsConfig:
    """Cross-origin settings, as the ``cors`` option of the official server.

    ``origins`` is ``"*"``, a list of allowed origins, or a predicate on the request's Origin.
    """

    origins: str | Sequence[str] | Callable[[str], bool] = "*"
    credentials: bool = False
    methods: Sequence[str] = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")
    allowed_headers: Sequence[str] = ()
    exposed_headers: Sequence[str] = ()
    max_age: int | None = None

    def allows(self, origin: str) -> bool:
        origins = self.origins
        if origins == "*":
            return True
        if callable(origins):
            return bool(origins(origin))
        if isinstance(origins, str):
            return origin == origins
        return origin in origins


@dataclass(frozen=True, slots=True)
class CookieConfig:
    name: str = "io"
    path: str = "/"
    http_only: bool = True
    same_site: str = "Lax"


@dataclass(frozen=True, slots=True)
class HttpCompression:
    """Compression of long-polling responses, as the official server's ``httpCompression`` option.

    A response of at least ``threshold`` bytes is compressed with gzip or deflate, whichever the
    request's ``Accept-Encoding`` prefers, at zlib ``level`` (-1: zlib's default, 6). Messages sent with
    ``compress(False)`` are not compressed (a response is when any of its packets may be).
    """

    threshold: int = 1024
    level: int = -1

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError("threshold must be >= 0")
        if not -1 <= self.level <= 9:
            raise ValueError("level must be -1 (zlib's default) or 0..9")


def http_compression_option(value: HttpCompression | dict[str, Any] | bool | None) -> HttpCompression | None:
    """The ``http_compression`` option of the servers: ``True`` (defaults), a dict, an instance, or off."""
    if value is True:
        return HttpCompression()
    if isinstance(value, dict):
        return HttpCompression(**value)
    return value or None


def per_message_deflate_option(
    value: PerMessageDeflate | dict[str, Any] | bool | None,
) -> PerMessageDeflate | None:
    """The ``per_message_deflate`` option: ``True`` (defaults), a dict, an instance, or off."""
    if value is True:
        return PerMessageDeflate()
    if isinstance(value, dict):
        return PerMessageDeflate(**value)
    return value or None


@dataclass(frozen=True, slots=True)
class Limits:
    """Hard limits on what a peer may send or make the server hold. Each has a safe default."""

    max_packets_per_payload: int = 1000
    max_attachments: int = 100
    max_namespace_length: int = 256
    max_event_name_length: int = 512
    max_json_depth: int = 500
    max_header_bytes: int = 16 * 1024
    max_send_buffer: int = 10 * 1024 * 1024
    send_buffer_policy: str = "close"
    """What happens past ``max_send_buffer``: ``"close"`` the slow connection (``transport error``) or
    ``"drop"`` the messages that do not fit. Volatile messages are dropped first in both cases."""
    max_connections: int | None = None
    max_connections_per_address: int | None = None
    max_handshakes_per_second_per_address: float | None = None
    max_events_per_second: float | None = None
    """Per-socket rate of incoming events (off by default). Past it (after a burst of
    ``max_events_burst``, default one second's worth), the client gets CONNECT_ERROR
    ``{"message": "rate limit exceeded"}`` and the socket is disconnected."""
    max_events_burst: int | None = None

    def decode_limits(self) -> DecodeLimits:
        """The part of these limits that the Socket.IO decoder enforces."""
        return DecodeLimits(
            max_attachments=self.max_attachments,
            max_namespace_length=self.max_namespace_length,
            max_event_name_length=self.max_event_name_length,
            max_json_depth=self.max_json_depth,
        )

    def __post_init__(self) -> None:
        if self.send_buffer_policy not in ("close", "drop"):
            raise ValueError("send_buffer_policy must be 'close' or 'drop'")
        if self.max_send_buffer <= 0:
            raise ValueError("max_send_buffer must be positive")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    path: str = "/socket.io/"
    transports: Sequence[str] = ("polling", "websocket")
    allow_upgrades: bool = True
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    upgrade_timeout: float = 10.0
    max_http_buffer_size: int = 1_000_000
    cookie: CookieConfig | None = None
    cors: CorsConfig | None = None
    allow_request: AllowRequest | None = None
    limits: Limits = field(default_factory=Limits)
    allow_eio3: bool = False
    """Accept Engine.IO v3 clients (socket.io-client 2.x), as the official ``allowEIO3``."""
    http_compression: HttpCompression | None = field(default_factory=HttpCompression)
    """``None``: polling responses are never compressed."""
    per_message_deflate: PerMessageDeflate | None = None
    """WebSocket compression on the standalone server (off by default, as in the official server)."""

    def __post_init__(self) -> None:
        for name in self.transports:
            if name not in ("polling", "websocket"):
                raise ValueError(f"unknown transport {name!r}")
        if not self.transports:
            raise ValueError("at least one transport is needed")
        if self.ping_interval <= 0 or self.ping_timeout <= 0:
            raise ValueError("ping_interval and ping_timeout must be positive")
        if self.max_http_buffer_size <= 0:
            raise ValueError("max_http_buffer_size must be positive")
        if not self.path.startswith("/"):
            raise ValueError("path must start with '/'")
