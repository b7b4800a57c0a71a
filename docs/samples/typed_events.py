from dataclasses import dataclass

from pydantic import BaseModel, Field

from socketeer import Server, Socket


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Receipt(BaseModel):
    total: float


@dataclass
class Cursor:
    x: float
    y: float


io = Server()


@io.on("order")
def order(socket: Socket, line: Line) -> Receipt:
    return Receipt(total=2.5 * line.quantity)  # sent back as {"total": ...}


@io.on("cursor")
def cursor(socket: Socket, position: Cursor) -> None:
    socket.broadcast.volatile.emit("cursor", socket.id, position)  # models can be emitted too
