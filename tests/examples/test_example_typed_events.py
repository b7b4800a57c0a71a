"""``examples/typed_events.py``: it passes ``mypy --strict`` and does what its docstring says."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from socketeer.testing import next_event
from socketeer.testing.plugin import ClientFactory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "typed_events.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("typed_events_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def test_example_passes_mypy_strict() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(EXAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_example_serves_typed_events(socketeer_client: ClientFactory) -> None:
    example = load_example()
    # WebSocket only: a volatile emit over long-polling may be dropped, by design
    client = await socketeer_client(example.io, transports=("websocket",))
    other = await socketeer_client(example.io, transports=("websocket",))
    good = {"items": [{"sku": "tea", "quantity": 2}]}
    assert await client.emit_with_ack("order", good, timeout=5) == {"total": 5.0, "lines": 1}
    bad = await client.emit_with_ack("order", {"items": [{"sku": "tea", "quantity": 0}]}, timeout=5)
    assert bad["message"].startswith("invalid payload for 'order': order.items.0.quantity")
    assert await client.emit_with_ack("order", {"items": []}, timeout=5) == {
        "message": "invalid payload for 'order': order.items: List should have at least 1 item "
        "after validation, not 0",
        "data": {
            "event": "order",
            "errors": [
                {"loc": ["order", "items"], "msg": "List should have at least 1 item after validation, not 0"}
            ],
        },
    }
    assert await client.emit_with_ack("join", "r1", timeout=5) is True
    assert await other.emit_with_ack("join", "r1", timeout=5) is True
    client.emit("cursor", {"x": 1, "y": 2})
    client.emit("chat", {"room": "r1", "text": "hi"})
    assert await next_event(other, "cursor") == (client.id, {"x": 1.0, "y": 2.0})
    assert await next_event(other, "chat") == (client.id, "hi")
