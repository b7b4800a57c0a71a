"""socketeer's loggers: one tree under ``socketeer``, quiet until the application configures logging.

::

    socketeer                 (a NullHandler: nothing is printed unless you configure logging)
    ├── socketeer.engine      Engine.IO sessions: handshakes refused, slow clients closed, bad payloads
    ├── socketeer.server      namespaces, sockets, handlers (errors in handlers, refused packets)
    ├── socketeer.sio         acknowledgements and typed payloads, on both sides
    ├── socketeer.client      the client
    ├── socketeer.asgi, socketeer.standalone, socketeer.workers   the integrations
    ├── socketeer.cluster, socketeer.redis                         the adapters
    ├── socketeer.admin       the Admin UI
    └── socketeer.trace       every packet in and out, at DEBUG (off unless enabled: :func:`enable_trace`)

Records about one socket or connection carry its context as attributes (``extra``): ``sid`` (the
Engine.IO session id), ``socket_id``, ``namespace`` and ``transport``, for a formatter or a structured
handler to use; :func:`socket_logger` makes such a logger for your own handlers (``socket.logger``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

__all__ = ["TRACE_FORMAT", "enable_trace", "socket_logger", "trace", "trace_enabled", "trace_logger"]

ROOT = logging.getLogger("socketeer")
ROOT.addHandler(logging.NullHandler())

trace_logger = logging.getLogger("socketeer.trace")
"""Packets in and out, one DEBUG record each (``<`` received, ``>`` sent), with ``sid`` and ``transport``.
Its level is INFO until enabled, so a root logger at DEBUG does not turn the trace on."""
trace_logger.setLevel(logging.INFO)

TRACE_FORMAT = "%(asctime)s socketeer.trace %(sid)s %(transport)s %(message)s"
_TRACE_LIMIT = 500


class _SocketAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The context of one socket, read when a record is made (its transport changes on upgrade)."""

    def __init__(self, logger: logging.Logger, socket: Any) -> None:
        super().__init__(logger, {})
        self.socket = socket

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        socket = self.socket
        conn = socket.client.conn
        context = {
            "sid": conn.sid,
            "socket_id": socket.id,
            "namespace": socket.namespace.name,
            "transport": conn.transport,
        }
        extra = kwargs.get("extra")
        kwargs["extra"] = {**context, **extra} if extra else context
        return msg, kwargs


def socket_logger(socket: Any, name: str = "socketeer.server") -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """A logger whose records carry ``socket``'s ``sid``, ``socket_id``, ``namespace`` and ``transport``."""
    return _SocketAdapter(logging.getLogger(name), socket)


def trace_enabled() -> bool:
    """Whether new connections trace their packets (checked once per connection)."""
    return trace_logger.isEnabledFor(logging.DEBUG)


def trace(sid: str, transport: str, direction: str, data: str | bytes) -> None:
    """One trace record: ``direction`` is ``<`` (received) or ``>`` (sent)."""
    if isinstance(data, bytes):
        shown = f"<binary {len(data)} bytes>"
    else:
        shown = data if len(data) <= _TRACE_LIMIT else f"{data[:_TRACE_LIMIT]}... ({len(data)} chars)"
    trace_logger.debug("%s %s", direction, shown, extra={"sid": sid, "transport": transport})


def enable_trace(enabled: bool = True, *, handler: logging.Handler | None = None) -> None:
    """Turn the protocol trace on (or off): every Engine.IO packet of the connections opened from now on
    is logged on ``socketeer.trace`` at DEBUG.

    With no ``handler`` and no logging configured anywhere (the root logger has no handler), the trace
    goes to stderr as ``TRACE_FORMAT``; otherwise it goes where your logging sends ``socketeer.trace``.
    Setting that logger's level to DEBUG yourself is the same switch (a root logger at DEBUG is not).
    """
    if not enabled:
        trace_logger.setLevel(logging.INFO)
        return
    trace_logger.setLevel(logging.DEBUG)
    if handler is None and not logging.getLogger().handlers and not trace_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(TRACE_FORMAT))
    if handler is not None and handler not in trace_logger.handlers:
        trace_logger.addHandler(handler)
