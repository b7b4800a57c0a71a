"""Counters of what a server does, kept as plain integers where it happens; read when scraped.

The engine and the server hold ``counters: Counters | None``; ``None`` (the default) costs one
attribute test where a rare count would be taken (a refusal, a close). Messages are counted only by
the connections of an engine that counts (``EngineServer.count`` swaps their class), and as cheaply
as can be: each message's size is appended to a list (no integer is allocated per message), which
:meth:`Counters.fold` adds up into the totals, when they are read and every second.
:mod:`socketeer.metrics` installs one and exposes it to Prometheus.
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
        "received",
        "refusals",
        "send_buffer_closes",
        "sent",
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
        self.sent: list[int] = []
        """The size of each message queued since the last :meth:`fold` (its binary attachments are
        added to ``packets_out`` at once)."""
        self.received: list[int] = []
        """The size of each message received since the last :meth:`fold`."""
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

    def fold(self) -> None:
        """Add the messages logged in :attr:`sent` and :attr:`received` to the totals."""
        sent = self.sent
        if sent:
            self.packets_out += len(sent)
            self.bytes_out += sum(sent)
            sent.clear()
        received = self.received
        if received:
            self.packets_in += len(received)
            self.bytes_in += sum(received)
            received.clear()


def text_size(text: str) -> int:
    """The UTF-8 size of ``text``, without encoding it when it is ASCII (``isascii`` is O(1))."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
