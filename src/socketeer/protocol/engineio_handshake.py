"""The Engine.IO v4 open packet payload."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import RemoteProtocolError
from .jsoncodec import dumps_str, loads

__all__ = ["OpenPayload"]


@dataclass(frozen=True, slots=True)
class OpenPayload:
    """``0{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}``; times in milliseconds."""

    sid: str
    upgrades: Sequence[str]
    ping_interval: int
    ping_timeout: int
    max_payload: int

    def to_json(self) -> str:
        return dumps_str(
            {
                "sid": self.sid,
                "upgrades": list(self.upgrades),
                "pingInterval": self.ping_interval,
                "pingTimeout": self.ping_timeout,
                "maxPayload": self.max_payload,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> OpenPayload:
        try:
            obj: Any = loads(text)
            sid = obj["sid"]
            upgrades = obj.get("upgrades", [])
            ping_interval = obj.get("pingInterval", 25000)
            ping_timeout = obj.get("pingTimeout", 20000)
            max_payload = obj.get("maxPayload", 1_000_000)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RemoteProtocolError(f"invalid open packet: {text[:100]!r}") from exc
        if not isinstance(sid, str) or not isinstance(upgrades, list):
            raise RemoteProtocolError("invalid open packet")
        if not all(isinstance(v, int) for v in (ping_interval, ping_timeout, max_payload)):
            raise RemoteProtocolError("invalid open packet timings")
        return cls(sid, tuple(str(u) for u in upgrades), ping_interval, ping_timeout, max_payload)
