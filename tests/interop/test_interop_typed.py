"""Typed events end to end: the official JS client and socketeer's client against typed handlers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, TypedDict

import pydantic
import pytest

from socketeer import Server, Socket
from socketeer.testing.plugin import ClientFactory


@dataclass
class Item:
    name: str
    price: float


class Order(pydantic.BaseModel):
    items: list[Item]
    coupon: str | None = None


class Receipt(pydantic.BaseModel):
    total: float
    count: int


class Move(TypedDict):
    piece: str
    to: tuple[int, int]


def typed_server() -> tuple[Server, list[Any]]:
    io = Server()
    seen: list[Any] = []

    @io.on("buy")
    def buy(socket: Socket, order: Order) -> Receipt:
        seen.append(order)
        return Receipt(total=sum(i.price for i in order.items), count=len(order.items))

    @io.on("price")
    async def price(socket: Socket, item: Item, factor: float = 1.0) -> Item:
        seen.append(item)
        return Item(item.name, item.price * factor)

    @io.on("move")
    def move(socket: Socket, move: Move, *, ack: Any) -> None:
        seen.append(move)
        socket.emit("moved", move)
        ack("ok")

    @io.on("ping_typed")
    def ping_typed(socket: Socket, move: Move) -> None:
        seen.append(move)
        socket.emit("moved", move)

    return io, seen


async def test_official_client_gets_models_and_errors(
    serve_socketeer: Any, start_node: Any, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    io, seen = typed_server()
    url = await serve_socketeer(io)
    node = await start_node(url)
    connected = await node.connect("a", mode)

    order = {"items": [{"name": "tea", "price": 2.5}, {"name": "cake", "price": 4}]}
    assert await node.emit_with_ack("a", "buy", order) == [{"total": 6.5, "count": 2}]
    assert seen[-1] == Order(items=[Item("tea", 2.5), Item("cake", 4.0)])
    assert await node.emit_with_ack("a", "price", {"name": "tea", "price": 2}, 3) == [
        {"name": "tea", "price": 6.0}
    ]
    assert seen[-1] == Item("tea", 2.0)

    [error] = await node.emit_with_ack("a", "buy", {"items": [{"name": "tea", "price": "free"}]})
    assert error["message"].startswith("invalid payload for 'buy': order.items.0.price")
    assert error["data"]["event"] == "buy"
    assert error["data"]["errors"][0]["loc"] == ["order", "items", 0, "price"]
    [error] = await node.emit_with_ack("a", "move", {"piece": "K"}, style="callback")
    assert error["message"] == "invalid payload for 'move': move.to: field required"

    count = len(seen)
    with caplog.at_level(logging.WARNING, logger="socketeer"):
        await node.emit("a", "ping_typed", {"piece": "Q", "to": "e4"})
        # handled in order: once this acknowledgement is back, the invalid event above was refused
        assert await node.emit_with_ack("a", "move", {"piece": "Q", "to": [4, 4]}) == ["ok"]
    assert len(seen) == count + 1 and seen[-1] == {"piece": "Q", "to": (4, 4)}
    [record] = [r for r in caplog.records if "invalid payload" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "'ping_typed'" in record.getMessage() and connected["id"] in record.getMessage()
    assert "move.to: expected array, got string" in record.getMessage()
    assert (await node.event("a", "moved"))["args"] == [{"piece": "Q", "to": [4, 4]}]
    assert (await node.state("a"))["connected"] is True


@dataclass
class Notice:
    level: int
    text: str


async def test_socketeer_client_both_directions(
    socketeer_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    io, seen = typed_server()
    sockets: list[Socket] = []
    io.on("connection", sockets.append)
    client = await socketeer_client(io, transports=("websocket",))
    received: list[Notice] = []

    @client.on("notice")
    def on_notice(notice: Notice) -> Notice:
        received.append(notice)
        return Notice(notice.level + 1, notice.text.upper())

    assert await client.emit_with_ack("buy", Order(items=[Item("a", 1.0)])) == {"total": 1.0, "count": 1}
    error = await client.emit_with_ack("buy", {"items": "none"}, timeout=5)
    assert error["data"]["errors"][0]["loc"] == ["order", "items"]
    assert await client.emit_with_ack("price", Item("b", 2), 2, timeout=5) == {"name": "b", "price": 4.0}

    [socket] = sockets
    answer = await socket.emit_with_ack("notice", {"level": 1, "text": "hi"}, timeout=5)
    assert answer == {"level": 2, "text": "HI"} and received == [Notice(1, "hi")]
    error = await socket.emit_with_ack("notice", {"level": "high", "text": "hi"}, timeout=5)
    assert error["message"] == "invalid payload for 'notice': notice.level: expected integer, got string"
    with caplog.at_level(logging.WARNING, logger="socketeer"):
        socket.emit("notice", {"text": "no level"})
        assert await socket.emit_with_ack("notice", {"level": 5, "text": "x"}, timeout=5) == {
            "level": 6,
            "text": "X",
        }
    assert [r.getMessage() for r in caplog.records if "invalid payload" in r.getMessage()] == [
        f"invalid payload for event 'notice' on socket {client.id}: notice.level: field required"
    ]
    assert received == [Notice(1, "hi"), Notice(5, "x")] and client.connected
