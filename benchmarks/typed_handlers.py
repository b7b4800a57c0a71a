"""Microbenchmark: the cost of dispatching one received event to a handler, typed or not.

Run: ``python benchmarks/typed_handlers.py [--events N]``. Each case feeds the same decoded EVENT
packet to a connected ``Socket`` (its connection a stub that drops what is written) and prints the
best of 7 runs in nanoseconds per event. The untyped cases are the ones whose cost must not move
when typed events exist; compare them between two checkouts with ``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypedDict

import socketeer
from socketeer import Server, Socket
from socketeer._types import Sid
from socketeer.protocol.socketio_packets import SocketPacket, SocketPacketType

PAYLOAD = {"name": "tea", "price": 2.5, "tags": ["hot", "green"]}


class ItemDict(TypedDict):
    name: str
    price: float
    tags: list[str]


@dataclass
class ItemData:
    name: str
    price: float
    tags: list[str]


try:
    import pydantic

    class ItemModel(pydantic.BaseModel):
        name: str
        price: float
        tags: list[str]

except ImportError:  # pydantic is optional
    ItemModel = None  # type: ignore[assignment,misc]


def _cases() -> dict[str, Any]:
    def untyped(socket, data):  # type: ignore[no-untyped-def]
        return None

    def annotated_plain(socket: Socket, data: dict[str, Any]) -> None:
        return None

    def typed_dict(socket: Socket, data: ItemDict) -> None:
        return None

    def typed_dataclass(socket: Socket, data: ItemData) -> None:
        return None

    cases: dict[str, Any] = {
        "untyped": untyped,
        "annotated (dict[str, Any], not a model)": annotated_plain,
        "TypedDict": typed_dict,
        "dataclass": typed_dataclass,
    }
    if ItemModel is not None:

        def typed_pydantic(socket: Socket, data: ItemModel) -> None:  # type: ignore[valid-type]
            return None

        cases["pydantic model"] = typed_pydantic
    return cases


def _socket(io: Server) -> Socket:
    written: list[Any] = []
    conn = SimpleNamespace(
        write=written.append, loop_time=time.monotonic, transport="websocket", closed=False
    )
    client = SimpleNamespace(conn=conn, sockets={}, _connecting=set())
    socket = Socket(io.of("/"), client, Sid("bench"), None)  # type: ignore[arg-type]
    socket.connected = True
    return socket


def measure(handler: Any, events: int) -> float:
    io = Server()
    io.on("item", handler)
    socket = _socket(io)
    packet = SocketPacket(SocketPacketType.EVENT, "/", ["item", PAYLOAD])
    on_packet = socket._on_packet
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(events):
            on_packet(packet)
        best = min(best, time.perf_counter() - start)
    return best / events * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    results = {name: measure(fn, args.events) for name, fn in _cases().items()}
    if args.json:
        print(json.dumps({"socketeer": socketeer.__file__, "ns_per_event": results}))
        return
    for name, ns in results.items():
        print(f"{name:42s} {ns:8.0f} ns/event")


if __name__ == "__main__":
    main()
