"""Engine.IO HTTP error codes, with the exact messages the official server sends.

They travel as HTTP 400 (403 for FORBIDDEN) with the body ``{"code": N, "message": "..."}``.
"""

from __future__ import annotations

from enum import IntEnum

from .jsoncodec import dumps

__all__ = ["EngineErrorCode", "error_body", "error_status"]


class EngineErrorCode(IntEnum):
    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    EngineErrorCode.UNKNOWN_TRANSPORT: "Transport unknown",
    EngineErrorCode.UNKNOWN_SID: "Session ID unknown",
    EngineErrorCode.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    EngineErrorCode.BAD_REQUEST: "Bad request",
    EngineErrorCode.FORBIDDEN: "Forbidden",
    EngineErrorCode.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


def error_status(code: EngineErrorCode) -> int:
    """HTTP status of an error: 403 for FORBIDDEN, 400 otherwise (as the official server)."""
    return 403 if code is EngineErrorCode.FORBIDDEN else 400


def error_body(code: EngineErrorCode, message: str | None = None) -> bytes:
    return dumps({"code": int(code), "message": message if message is not None else code.message})
