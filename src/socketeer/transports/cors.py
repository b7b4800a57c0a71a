"""CORS response headers (pure), as the official server's ``cors`` option computes them."""

from __future__ import annotations

from collections.abc import Mapping

from ..engine.config import CorsConfig

__all__ = ["cors_headers", "origin_allowed", "preflight_headers"]


def cors_headers(config: CorsConfig | None, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    if config is None:
        return []
    origin = headers.get("origin")
    out: list[tuple[str, str]] = []
    if config.origins == "*" and not config.credentials:
        out.append(("Access-Control-Allow-Origin", "*"))
    elif origin is not None and config.allows(origin):
        out.append(("Access-Control-Allow-Origin", origin))
        out.append(("Vary", "Origin"))
    else:
        return []
    if config.credentials:
        out.append(("Access-Control-Allow-Credentials", "true"))
    if config.exposed_headers:
        out.append(("Access-Control-Expose-Headers", ",".join(config.exposed_headers)))
    return out


def preflight_headers(config: CorsConfig | None, headers: Mapping[str, str]) -> list[tuple[str, str]]:
    out = cors_headers(config, headers)
    if not out or config is None:
        return out
    out.append(("Access-Control-Allow-Methods", ",".join(config.methods)))
    allowed = ",".join(config.allowed_headers) or headers.get("access-control-request-headers", "")
    if allowed:
        out.append(("Access-Control-Allow-Headers", allowed))
    if config.max_age is not None:
        out.append(("Access-Control-Max-Age", str(config.max_age)))
    return out


def origin_allowed(headers: Mapping[str, str], cors: CorsConfig | None) -> bool:
    """Whether a WebSocket request may go on, against cross-site WebSocket hijacking.

    Without an ``Origin`` header (not a browser) it may. Otherwise the CORS settings decide when there
    are any; without them only the same origin is allowed (the Origin's host is the ``Host`` header).
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    if cors is not None:
        return cors.allows(origin)
    return origin.split("://", 1)[-1] == headers.get("host", "")
