"""The floor of an ASGI server: a bare ASGI WebSocket app that speaks just enough Engine.IO and
Socket.IO to answer the load generator's ``echo``, ``ack`` and ``broadcast`` the cheapest way (string
slicing, no JSON, no session, one ``send`` per reply, a broadcast's one message dict sent to every
connection from the receiving coroutine). Each ``send`` is started and, if the server has to wait
(granian's sends always do), finished by a callback, without waiting for it before the next: the
cheapest for every server, though it keeps no order between the messages of one connection (the load
generator does not need it; socketeer keeps it). What a server costs with nothing on top;
socketeer's ASGI app under the same server, minus this, is what socketeer adds.

Run under a server with ``asgi_run.py``: ``PORT=4000 python benchmarks/peers/asgi_run.py uvicorn asgi_floor:app``.
"""

from __future__ import annotations

import asyncio
import functools
import types
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


def fire(send: Send, event: Message) -> None:
    """Start ``send(event)``; if it has to wait, a callback finishes it (no task, no await)."""
    awaitable = send(event)
    resume: Callable[[], Any]
    if type(awaitable) is types.CoroutineType:
        try:
            waiting = awaitable.send(None)
        except BaseException:  # noqa: BLE001 -- sent at once (StopIteration), or the client is gone
            return
        resume = functools.partial(awaitable.send, None)
    else:
        iterator = awaitable.__await__()
        try:
            waiting = next(iterator)
        except BaseException:  # noqa: BLE001
            return
        resume = iterator.__next__
    _wait(resume, waiting)


def _wait(resume: Callable[[], Any], waiting: Any) -> None:
    if waiting is None:
        asyncio.get_running_loop().call_soon(_go, resume)
    else:
        waiting.add_done_callback(lambda _: _go(resume))


def _go(resume: Callable[[], Any]) -> None:
    try:
        waiting = resume()
    except BaseException:  # noqa: BLE001
        return
    _wait(resume, waiting)


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
                fire(send, {"type": "websocket.send", "text": text})
            elif text.startswith('42["broadcast",'):  # -> 42["bcast",data] to everyone
                event = {"type": "websocket.send", "text": '42["bcast",' + text[15:]}
                for target in connections:
                    fire(target, event)
            elif text.startswith("42"):  # 42<id>["ack",data] -> 43<id>[data]
                at = text.index("[", 2)
                fire(send, {"type": "websocket.send", "text": "43" + text[2:at] + "[" + text[at + 7 :]})
            elif text == "40":
                fire(send, CONNECTED)
    finally:
        connections.pop(send, None)
