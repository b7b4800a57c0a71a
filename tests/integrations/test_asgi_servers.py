"""The ASGI app under every ASGI server it supports, each in its own process, mounted on a sub-path
(``/ws/socket.io/``) behind a Starlette router, driven by the official ``socket.io-client`` in each
transport mode (polling only, WebSocket only, polling then upgrade).

The in-process behaviour tests (refusals, limits, lifespan) are in test_asgi.py; this module checks that
each server and WebSocket/HTTP implementation carries the protocol the official client speaks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asgi_servers import ASGI_SERVERS, asgi_server
from interop.interop_node import TRANSPORT_MODES, NodeClients

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module", params=ASGI_SERVERS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(server kind, base URL) of ``asgi_router_app:app`` served by that kind, one process per module."""
    kind = str(request.param)
    with asgi_server(kind, "asgi_router_app:app", cwd=HERE, pythonpath=[HERE]) as url:
        yield kind, url


@pytest.mark.parametrize("mode", TRANSPORT_MODES)
async def test_official_client_on_a_sub_path(served: tuple[str, str], mode: str, node_modules: Path) -> None:
    kind, url = served
    async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
        answer = await http.get(f"{url}/health")
        assert answer.status_code == 200 and answer.text == "ok /health"
        # not at the root: the Engine.IO path is below the mount
        assert (await http.get(f"{url}/socket.io/?EIO=4&transport=polling")).status_code == 404
    clients = await NodeClients.start(node_modules, url)
    try:
        path = {"path": "/ws/socket.io/"}
        first = await clients.connect("a", mode, auth={"token": kind}, **path)
        assert first["connected"], first
        second = await clients.connect("b", mode, **path)
        assert second["connected"], second
        welcome = await clients.event("a", "welcome")
        assert welcome["args"] == [{"id": first["id"], "auth": {"token": kind}}]
        if mode == "upgrade":
            await clients.expect(ev="upgrade", manager="a", transport="websocket")

        await clients.emit("a", "echo", "text", {"n": [1, 2]}, b"\x00\x01binary\xff")
        echoed = await clients.event("a", "echo")
        assert echoed["args"] == ["text", {"n": [1, 2]}, b"\x00\x01binary\xff"]

        assert await clients.emit_with_ack("b", "add", 20, 22) == [42]

        await clients.emit("b", "shout", "to everyone")
        for name in ("a", "b"):
            assert (await clients.event(name, "shouted"))["args"] == ["TO EVERYONE"]

        state = await clients.state("a")
        assert state["connected"] and state["transport"] == ("polling" if mode == "polling" else "websocket")
        await clients.disconnect("a")
        await clients.disconnect("b")
    finally:
        await clients.close()
