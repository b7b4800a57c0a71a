"""Helpers of the cluster tests: Node servers with the official Redis adapter (``redis_node_server.js``)
and socketeer servers set up the same way."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop"))

from interop_node import NodeClients  # noqa: E402

import socketeer  # noqa: E402

NODE_SERVER = Path(__file__).with_name("redis_node_server.js")


class NodeServer(NodeClients):
    """A Node socket.io server process on the official Redis adapter (see ``redis_node_server.js``)."""

    url: str = ""

    @classmethod
    async def launch(
        cls, node_modules: Path, redis_url: str, mode: str, options: dict[str, Any], hard_timeout: float = 60.0
    ) -> NodeServer:
        import json

        env = dict(os.environ, NODE_PATH=str(node_modules))
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(NODE_SERVER),
            redis_url,
            mode,
            json.dumps(options),
            str(int(hard_timeout * 1000)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        server = cls(proc, 10.0)
        ready = await server.expect(ev="ready")
        server.url = f"http://127.0.0.1:{ready['port']}"
        return server


@dataclass
class PyNode:
    """A socketeer server of the cluster, set up as ``redis_node_server.js`` sets up the Node one."""

    io: socketeer.Server
    url: str = ""
    server_side: list[tuple[str, str, list[Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``predicate()`` holds, re-checked whenever this node records something."""

        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


def setup_py_node(io: socketeer.Server, node: PyNode, silent: bool = False) -> None:
    for name in ("/", "/chat"):
        nsp = io.of(name)

        def on_connection(socket: socketeer.Socket, auth: dict[str, Any]) -> None:
            socket.data = {"where": "py"}
            rooms = auth.get("rooms") if isinstance(auth, dict) else None
            if rooms:
                socket.join(rooms)

        nsp.on("connection", on_connection)

        for event in ("hello", "question"):

            def handler(*args: Any, ack: Callable[[Any], None], _event: str = event, _nsp: str = name) -> None:
                node.server_side.append((_nsp, _event, list(args)))
                node.changed.set()
                if not silent:  # a silent server never answers
                    ack(f"py:{args[0] if args else None}")

            nsp.on_server_side_emit(event, handler)


