"""Each example in examples/ served by uvicorn in its own process and driven by the official
``socket.io-client`` in each transport mode: the framework's HTTP route, a room join acknowledged, and a
chat message that reaches the other member of the room and not the sender."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_servers import asgi_server
from interop.interop_node import TRANSPORT_MODES, NodeClients

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FRAMEWORKS = ("fastapi", "starlette", "django", "litestar")


@pytest.fixture(scope="module", params=FRAMEWORKS)
def example(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    framework = str(request.param)
    target = f"{framework}_app:app"
    with asgi_server("uvicorn-websockets-sansio-httptools", target, cwd=EXAMPLES, pythonpath=[EXAMPLES]) as url:
        yield framework, url


@pytest.mark.parametrize("mode", TRANSPORT_MODES)
async def test_example_chat(example: tuple[str, str], mode: str, node_modules: Path) -> None:
    framework, url = example
    clients = await NodeClients.start(node_modules, url)
    try:
        alice = await clients.connect("alice", mode)
        bob = await clients.connect("bob", mode)
        assert alice["connected"] and bob["connected"], (alice, bob)
        assert (await clients.event("alice", "welcome"))["args"] == [alice["id"]]
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            answer = await http.get(f"{url}/api/stats")
        assert answer.status_code == 200
        assert answer.json() == {"framework": framework, "connected": 2}

        for name in ("alice", "bob"):
            assert await clients.emit_with_ack(name, "join", "lobby") == ["joined lobby"]
        await clients.emit("alice", "chat", "lobby", "hello bob")
        message = await clients.event("bob", "chat")
        assert message["args"] == [{"from": alice["id"], "text": "hello bob"}]
        # the sender is left out: bob's reply reaches alice, and alice saw no chat before it
        await clients.emit("bob", "chat", "lobby", "hi alice")
        reply = await clients.event("alice", "chat")
        assert reply["args"] == [{"from": bob["id"], "text": "hi alice"}]
        assert clients.events("alice", "chat") == [[{"from": bob["id"], "text": "hi alice"}]]
        assert clients.events("bob", "chat") == [[{"from": alice["id"], "text": "hello bob"}]]
    finally:
        await clients.close()
