"""Compact JSON as the Socket.IO wire wants it: orjson when installed, the stdlib otherwise.

``dumps`` returns UTF-8 ``bytes``; ``loads`` accepts ``str`` or ``bytes``.
"""

from __future__ import annotations

import json as _stdlib_json
from collections.abc import Callable
from typing import Any

__all__ = ["JSONDecodeError", "dumps", "dumps_str", "loads"]

JSONDecodeError = ValueError

dumps: Callable[[Any], bytes]
loads: Callable[[str | bytes], Any]

try:  # pragma: no cover - depends on the environment
    import orjson as _orjson

    _orjson_dumps = _orjson.dumps
    _OPTIONS = _orjson.OPT_NON_STR_KEYS

    def _dumps_orjson(value: Any) -> bytes:
        try:
            return _orjson_dumps(value)
        except TypeError:
            # orjson refuses some inputs the stdlib takes (e.g. int keys, ints > 64 bits)
            try:
                return _orjson_dumps(value, option=_OPTIONS)
            except TypeError:
                return _stdlib_dumps(value)

    dumps = _dumps_orjson
    loads = _orjson.loads
    BACKEND = "orjson"
except ImportError:  # pragma: no cover
    BACKEND = "json"
    dumps = None  # type: ignore[assignment]
    loads = _stdlib_json.loads


def _stdlib_dumps(value: Any) -> bytes:
    try:
        return _stdlib_json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except RecursionError:
        raise ValueError("value nested too deeply to encode as JSON") from None


if BACKEND == "json":  # pragma: no cover
    dumps = _stdlib_dumps


def dumps_str(value: Any) -> str:
    """Compact JSON as ``str``."""
    return dumps(value).decode()
