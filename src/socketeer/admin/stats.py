"""What the admin UI is told: aggregated event counts, serialized sockets, timestamps, process uptime."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server.socket import Socket

__all__ = ["EventBuffer", "iso_now", "plain", "process_uptime", "serialize_data", "serialize_socket"]


class EventBuffer:
    """Counts of engine events per second, type and sub-type, emptied by each ``server_stats``.

    Entries are ``{"timestamp": ms (whole second), "type", "subType"?, "count"}`` as the UI charts them
    (``rawConnection``, ``rawDisconnection`` with the reason, ``packetsIn``, ``bytesIn``, ``packetsOut``,
    ``bytesOut``).
    """

    __slots__ = ("_buffer", "_clock")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._buffer: dict[tuple[int, str, str | None], dict[str, Any]] = {}

    def push(self, type_: str, sub_type: str | None = None, count: int = 1) -> None:
        timestamp = int(self._clock()) * 1000
        key = (timestamp, type_, sub_type)
        entry = self._buffer.get(key)
        if entry is not None:
            entry["count"] += count
            return
        entry = {"timestamp": timestamp, "type": type_, "count": count}
        if sub_type is not None:
            entry["subType"] = sub_type
        self._buffer[key] = entry

    def take(self) -> list[dict[str, Any]]:
        values = list(self._buffer.values())
        self._buffer = {}
        return values

    def __len__(self) -> int:
        return len(self._buffer)


def iso_now() -> str:
    """Now, as a JavaScript ``Date`` serializes (``2024-01-31T12:00:00.000Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))


def plain(value: Any, depth: int = 0) -> Any:
    """``value`` with whatever the wire cannot carry shown as its ``repr`` (the UI only displays it)."""
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if depth > 20:
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return repr(value)


def serialize_data(data: Any) -> Any:
    return plain(data) if isinstance(data, Mapping) else {}


def serialize_socket(socket: Socket) -> dict[str, Any]:
    """A socket as the UI lists it (the official ``serialize``): the handshake without ``auth``."""
    handshake = socket.handshake
    headers = handshake.headers
    address = headers.get("cf-connecting-ip") or headers.get("x-forwarded-for") or handshake.address
    return {
        "id": socket.id,
        "clientId": socket.client.conn.sid[:12],
        "transport": socket.transport,
        "nsp": socket.namespace.name,
        "data": serialize_data(socket.data),
        "handshake": {
            "address": address,
            "headers": dict(headers),
            "query": dict(handshake.query),
            "issued": handshake.issued,
            "secure": handshake.secure,
            "time": handshake.time,
            "url": handshake.url,
            "xdomain": handshake.xdomain,
        },
        "rooms": list(socket.rooms),
    }


def _process_start() -> float:
    """When this process started, on the ``time.time()`` scale (Linux ``/proc``; else import time)."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat(5): starttime, in clock ticks since boot
        with open("/proc/uptime") as f:
            boot_uptime = float(f.read().split()[0])
        ticks = os.sysconf("SC_CLK_TCK")
        return time.time() - boot_uptime + start_ticks / ticks
    except (OSError, ValueError, IndexError):
        return time.time()


_STARTED = _process_start()


def process_uptime() -> float:
    """Seconds since the process started (``process.uptime()`` in Node)."""
    return max(time.time() - _STARTED, 0.0)
