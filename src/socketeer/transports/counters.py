"""Counters of what a server does, kept as plain integers where it happens; read when scraped.

The engine and the server hold ``counters: Counters | None``; ``None`` (the default) costs one
attribute test where a count would be taken. :mod:`socketeer.metrics` installs one and exposes it
to Prometheus.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["Counters", "text_size"]


class Counters:
    """Totals since the counters were installed (Prometheus counters: they only go up)."""

    __slots__ = (
        "acks_timed_out",
        "bytes_in",
        "bytes_out",
        "disconnects",
        "engine_closes",
        "handshakes",
        "packets_in",
        "packets_out",
        "refusals",
        "send_buffer_closes",
        "send_buffer_drops",
        "volatile_drops",
    )

    def __init__(self) -> None:
        self.packets_in = 0
        """Engine.IO MESSAGE packets received (a binary attachment is one)."""
        self.bytes_in = 0
        """Their data, in bytes."""
        self.packets_out = 0
        """Engine.IO packets queued on a transport (heartbeats included; a binary attachment is one)."""
        self.bytes_out = 0
        self.volatile_drops = 0
        """Volatile messages not sent because the transport could not take them then."""
        self.send_buffer_closes = 0
        """Connections closed because their send buffer went over ``Limits.max_send_buffer``."""
        self.send_buffer_drops = 0
        """Messages dropped for the same reason, with ``send_buffer_policy="drop"``."""
        self.acks_timed_out = 0
        """Acknowledgements the server waited for in vain (``emit_with_ack`` with a timeout)."""
        self.handshakes: Counter[str] = Counter()
        """Engine.IO sessions opened, by transport."""
        self.refusals: Counter[str] = Counter()
        """Requests refused, by reason (Engine.IO error codes; ``invalid_namespace`` and ``middleware``
        for Socket.IO CONNECTs)."""
        self.engine_closes: Counter[str] = Counter()
        """Engine.IO sessions closed, by reason."""
        self.disconnects: Counter[tuple[str, str]] = Counter()
        """Sockets disconnected, by namespace and Socket.IO disconnect reason."""


def text_size(text: str) -> int:
    """The UTF-8 size of ``text``, without encoding it when it is ASCII (``isascii`` is O(1))."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
