"""``examples/typed_events.py``: it passes ``mypy --strict`` and does what its docstring says."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from socketeer.client import AsyncClient

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


async def test_example_serves_typed_events(serve_socketeer: Any) -> None:
    example = load_example()
    url = await serve_socketeer(example.io)
    # WebSocket only: a volatile emit over long-polling may be dropped, by design
    async with AsyncClient(url, transports=("websocket",), reconnection=False) as client:
        other = AsyncClient(url, transports=("websocket",), reconnection=False)
        cursors: list[Any] = []
        other.on("cursor", lambda sid, position: cursors.append((sid, position)))
        async with other:
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
                        {
                            "loc": ["order", "items"],
                            "msg": "List should have at least 1 item after validation, not 0",
                        }
                    ],
                },
            }
            assert await client.emit_with_ack("join", "r1", timeout=5) is True
            assert await other.emit_with_ack("join", "r1", timeout=5) is True
            client.emit("cursor", {"x": 1, "y": 2})
            client.emit("chat", {"room": "r1", "text": "hi"})
            message = await other_event(other, "chat")
            assert message == (client.id, "hi")
            assert cursors == [(client.id, {"x": 1.0, "y": 2.0})]


async def other_event(client: AsyncClient, event: str) -> Any:
    import asyncio

    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.once(event, lambda *args: future.done() or future.set_result(args))
    return await asyncio.wait_for(future, 5)
