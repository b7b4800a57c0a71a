"""Binary attachments: ``bytes`` values swapped for ``{"_placeholder": true, "num": n}`` and back."""

from __future__ import annotations

from typing import Any

from ..exceptions import RemoteProtocolError

__all__ = ["deconstruct", "has_binary", "reconstruct"]

_BINARY = (bytes, bytearray, memoryview)


def has_binary(data: Any) -> bool:
    """Whether ``data`` holds a binary value anywhere (lists, tuples and dicts are searched)."""
    if isinstance(data, _BINARY):
        return True
    if isinstance(data, (list, tuple)):
        for item in data:
            if has_binary(item):
                return True
        return False
    if isinstance(data, dict):
        for item in data.values():
            if has_binary(item):
                return True
    return False


def deconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Return ``data`` with each binary value replaced by a placeholder; the values go to ``buffers``."""
    if isinstance(data, _BINARY):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, (list, tuple)):
        return [deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: deconstruct(value, buffers) for key, value in data.items()}
    return data


def reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Put the buffers back where their placeholders stand. Raises on a placeholder with a bad index."""
    if isinstance(data, list):
        return [reconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if isinstance(num, int) and not isinstance(num, bool) and 0 <= num < len(buffers):
                return buffers[num]
            raise RemoteProtocolError("illegal attachments")
        return {key: reconstruct(value, buffers) for key, value in data.items()}
    return data
