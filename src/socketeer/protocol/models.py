"""Models on the wire: pydantic models and dataclasses sent as plain JSON-ready values.

The encoders call :func:`to_plain` only when the JSON encoder refused a value, so payloads made of
plain values never pay for it.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from typing import Any

__all__ = ["to_plain"]


def to_plain(value: Any) -> Any:
    """Pydantic models (``model_dump(mode="json")``), dataclasses and enums as plain values, deeply.

    Other values are returned unchanged (``bytes`` stay ``bytes``, for binary attachments).
    """
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
