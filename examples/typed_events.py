"""Typed events: handlers whose payload is a pydantic model, a dataclass or a TypedDict.

Run ``python examples/typed_events.py`` (needs ``pip install socketeer[pydantic]``), then from a
browser or Node:

    socket.emitWithAck("order", {items: [{sku: "tea", quantity: 2}]})   // -> {total: 5, lines: 1}
    socket.emitWithAck("order", {items: [{sku: "tea", quantity: 0}]})   // -> {message: "invalid ...", data}

Data that does not fit never reaches the handler: an acknowledgement the client waits for gets the
error, otherwise a warning is logged; the connection stays up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, TypedDict

from pydantic import BaseModel, Field

from socketeer import Server, Socket

PRICES = {"tea": 2.5, "cake": 4.0}


class Line(BaseModel):
    sku: Literal["tea", "cake"]
    quantity: int = Field(gt=0, le=100)


class Order(BaseModel):
    items: list[Line] = Field(min_length=1)
    note: str | None = None


class Receipt(BaseModel):
    total: float
    lines: int


@dataclass
class Cursor:
    x: float
    y: float


class Chat(TypedDict):
    room: str
    text: str


io = Server()


@io.on("order")
def order(socket: Socket, order: Order) -> Receipt:
    """``order`` arrives as an ``Order``; the ``Receipt`` returned is sent back as JSON."""
    total = sum(PRICES[line.sku] * line.quantity for line in order.items)
    return Receipt(total=total, lines=len(order.items))


@io.on("cursor")
def cursor(socket: Socket, position: Cursor) -> None:
    """A dataclass needs no pydantic: ``{"x": 1, "y": 2}`` becomes ``Cursor(1.0, 2.0)``."""
    socket.broadcast.volatile.emit("cursor", socket.id, position)


@io.on("join")
def join(socket: Socket, room: str) -> bool:
    """Parameters annotated with plain types are passed as received, at no cost."""
    socket.join(room)
    return True


@io.on("chat")
def chat(socket: Socket, message: Chat) -> None:
    """A TypedDict stays a ``dict``, with its keys checked."""
    io.to(message["room"]).emit("chat", socket.id, message["text"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    io.run("127.0.0.1", 8000)
