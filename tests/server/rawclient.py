"""A minimal raw Socket.IO client over WebSocket for server tests: it speaks the text protocol and
shows exactly what the server sent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


class RawClient:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.open: dict[str, Any] = {}

    @classmethod
    async def connect(cls, port: int, namespace: str = "/", auth: dict[str, Any] | None = None) -> RawClient:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket")
        client = cls(ws)
        opening = await client.recv()
        assert opening.startswith("0")
        client.open = json.loads(opening[1:])
        await client.join(namespace, auth)
        return client

    async def join(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> str:
        prefix = "" if namespace == "/" else namespace + ","
        await self.ws.send("40" + prefix + (json.dumps(auth) if auth is not None else ""))
        reply = await self.recv()
        return reply

    async def recv(self, timeout: float = 5.0) -> Any:
        while True:
            message = await asyncio.wait_for(self.ws.recv(), timeout)
            if message == "2":
                await self.ws.send("3")
                continue
            return message

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def close(self) -> None:
        await self.ws.close()
