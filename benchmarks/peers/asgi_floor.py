"""The floor of an ASGI server: a bare ASGI WebSocket app that speaks just enough Engine.IO and
Socket.IO to answer the load generator's ``echo``, ``ack`` and ``broadcast`` the cheapest way (string
slicing, no JSON, no session, one ``send`` per reply, a broadcast's one message dict sent to every
connection from the receiving coroutine). What a server costs with nothing on top; socketeer's ASGI
app under the same server, minus this, is what socketeer adds.

Run under a server with ``asgi_run.py``: ``PORT=4000 python benchmarks/peers/asgi_run.py uvicorn asgi_floor:app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

SID = "floorfloorfloorfloor"
OPEN = '0{"sid":"' + SID + '","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
CONNECTED = {"type": "websocket.send", "text": '40{"sid":"' + SID + '"}'}

#: the send callables of the open WebSockets (the broadcast's targets)
connections: dict[Send, None] = {}


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "websocket":
        await websocket(receive, send)
    elif kind == "http":  # the runner's readiness check: a polling handshake
        while (await receive()).get("more_body"):
            pass
        body = OPEN.encode()
        headers = [
            (b"content-type", b"text/plain; charset=UTF-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def websocket(receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": OPEN})
    connections[send] = None
    try:
        while True:
            message = await receive()
            text = message.get("text")
            if text is None:
                if message["type"] == "websocket.disconnect":
                    return
                continue
            if text.startswith('42["echo",'):  # 42["echo",data] -> the same packet back
                await send({"type": "websocket.send", "text": text})
            elif text.startswith('42["broadcast",'):  # -> 42["bcast",data] to everyone
                event = {"type": "websocket.send", "text": '42["bcast",' + text[15:]}
                for target in list(connections):
                    try:
                        await target(event)
                    except Exception:  # that client went away meanwhile
                        connections.pop(target, None)
            elif text.startswith("42"):  # 42<id>["ack",data] -> 43<id>[data]
                at = text.index("[", 2)
                await send({"type": "websocket.send", "text": "43" + text[2:at] + "[" + text[at + 7 :]})
            elif text == "40":
                await send(CONNECTED)
    finally:
        connections.pop(send, None)
