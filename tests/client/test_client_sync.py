"""The blocking client, in a plain (non-async) test, against the official Node server."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from client_peers import SERVER_JS

from socketeer import Client, DisconnectReason
from socketeer.exceptions import ConnectionRefused


@pytest.fixture
def node_url(node_modules: Path) -> Iterator[str]:
    process = subprocess.Popen(["node", str(SERVER_JS)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        word, _, port = process.stdout.readline().strip().partition(" ")
        assert word == "ready"
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_sync_client_connect_emit_receive_disconnect(node_url: str) -> None:
    received: list[tuple[Any, ...]] = []
    got_echo = threading.Event()
    reasons: list[Any] = []
    client = Client(node_url, transports=("polling", "websocket"))

    @client.on("echoed")
    def on_echoed(*args: Any) -> None:
        received.append(args)
        got_echo.set()

    client.on("disconnect", reasons.append)
    client.connect(timeout=10)
    assert client.connected and client.id
    assert client.emit_with_ack("echo", {"x": 1}, b"\x01", timeout=5) == ({"x": 1}, b"\x01")
    client.emit("emit_back", "hello", [1, 2])
    assert got_echo.wait(5)
    assert received == [("hello", [1, 2])]
    chat = client.socket("/chat")
    chat.connect(timeout=10)
    assert chat.emit_with_ack("echo", "chat", timeout=5) == "chat"
    client.disconnect()
    assert not client.connected
    assert reasons == [DisconnectReason.IO_CLIENT_DISCONNECT]


def test_sync_client_refused(node_url: str) -> None:
    with pytest.raises(ConnectionRefused) as info:
        with Client(node_url + "/admin", auth={"token": "bad"}):
            pass  # pragma: no cover
    assert info.value.data == {"reason": "bad token", "code": 42}
