"""The adapter interface as a clustered adapter uses it, with two servers in one process.

``LoopbackAdapter`` is a recording double of a clustered adapter: it forwards every cluster-wide
operation to the adapters of the other servers it was linked with, through the same ``LocalDelivery``
calls a Redis adapter makes when a request arrives. What is checked here is the server's side: remote
socket details become ``RemoteSocket`` objects whose operations go through the adapter, per-server
acknowledgement counts, partial answers on timeout, and the ``init``/``close`` lifecycle.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from rawclient import RawClient

import socketeer
from socketeer._types import Room
from socketeer.adapters.base import BroadcastOptions, LocalDelivery, SocketDetails
from socketeer.adapters.memory import InMemoryAdapter
from socketeer.exceptions import AckTimeout
from socketeer.protocol.socketio_packets import SocketPacket


class LoopbackAdapter(InMemoryAdapter):
    def __init__(self, delivery: LocalDelivery, peers: list[LoopbackAdapter], log: list[str]) -> None:
        super().__init__(delivery)
        self.peers = peers
        self.log = log
        peers.append(self)

    def others(self) -> list[LoopbackAdapter]:
        return [p for p in self.peers if p is not self and p.delivery.name == self.delivery.name]

    async def init(self) -> None:
        self.log.append(f"init {self.delivery.name}")

    async def close(self) -> None:
        self.log.append(f"close {self.delivery.name}")

    def broadcast(self, packet: SocketPacket, opts: BroadcastOptions) -> None:
        if not opts.flags.local:
            for peer in self.others():
                InMemoryAdapter.broadcast(peer, packet, opts)
        super().broadcast(packet, opts)

    def broadcast_with_ack(
        self,
        packet: SocketPacket,
        opts: BroadcastOptions,
        on_sent: Callable[[int], None],
        on_ack: Callable[[Any], None],
    ) -> None:
        super().broadcast_with_ack(packet, opts, on_sent, on_ack)
        if not opts.flags.local:
            for peer in self.others():
                InMemoryAdapter.broadcast_with_ack(peer, packet, opts, on_sent, on_ack)

    async def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for adapter in [self, *self.others()]:
            await InMemoryAdapter.add_sockets(adapter, opts, rooms)

    async def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[Room]) -> None:
        rooms = list(rooms)
        for adapter in [self, *self.others()]:
            await InMemoryAdapter.del_sockets(adapter, opts, rooms)

    async def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for adapter in [self, *self.others()]:
            await InMemoryAdapter.disconnect_sockets(adapter, opts, close)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketDetails]:
        out = await super().fetch_sockets(opts)
        for peer in self.others():
            out += await InMemoryAdapter.fetch_sockets(peer, opts)
        return out

    async def server_count(self) -> int:
        return 1 + len(self.others())

    async def all_rooms(self) -> set[Room]:
        rooms = set(self.rooms())
        for peer in self.others():
            rooms |= set(peer.rooms())
        return rooms

    async def server_side_emit(self, packet: list[Any]) -> None:
        for peer in self.others():
            peer.delivery.server_side_received(list(packet), None)

    async def server_side_emit_with_ack(self, packet: list[Any], timeout: float | None = None) -> list[Any]:
        others = self.others()
        responses: list[Any] = []
        done = asyncio.get_running_loop().create_future()

        def answer(value: Any) -> None:
            responses.append(value)
            if len(responses) == len(others) and not done.done():
                done.set_result(None)

        for peer in others:
            peer.delivery.server_side_received(list(packet), answer)
        if not others:
            return []
        try:
            await asyncio.wait_for(done, timeout or 1.0)
        except asyncio.TimeoutError:
            raise AckTimeout("timeout reached", list(responses)) from None
        return responses


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[list[socketeer.Server], list[int], list[str]]]:
    peers: list[LoopbackAdapter] = []
    log: list[str] = []
    servers = [socketeer.Server(adapter=lambda nsp: LoopbackAdapter(nsp, peers, log)) for _ in range(3)]
    ports = [(await io.serve("127.0.0.1", 0)).port for io in servers]
    yield servers, ports, log
    for io in servers:
        await io.close()


async def test_remote_sockets_and_their_operations(cluster: Any) -> None:
    (a, b, _c), (pa, pb, _pc), _ = cluster

    @b.on("connection")
    def on_connection(socket: socketeer.Socket) -> None:
        socket.data["where"] = "b"
        socket.join("room-b")

    local = await RawClient.connect(pa)
    remote = await RawClient.connect(pb)
    found = {s.data.get("where", "a"): s for s in await a.fetch_sockets()}
    assert set(found) == {"a", "b"}
    far = found["b"]
    assert far.rooms == {far.id, "room-b"}
    assert far.handshake.query["EIO"] == "4"
    assert far.handshake.address == "127.0.0.1"
    assert [s.id for s in await a.in_("room-b").fetch_sockets()] == [far.id]

    far.emit("direct", 1)
    assert await remote.recv() == '42["direct",1]'
    asking = asyncio.ensure_future(far.emit_with_ack("ask", timeout=2))
    text = await remote.recv()
    assert text.startswith("42") and text.endswith('["ask"]')
    await remote.send(f"43{text[2 : text.index('[')]}[\"yes\"]")
    assert await asking == "yes"
    await far.join("joined")
    assert [s.id for s in await a.in_("joined").fetch_sockets()] == [far.id]
    await far.leave("joined")
    assert await a.in_("joined").fetch_sockets() == []
    assert await a.all_rooms() >= {"room-b", far.id, found["a"].id}
    assert await a.server_count() == 3

    await a.sockets_join("all")
    a.to("all").except_("room-b").emit("not-b")
    assert await local.recv() == '42["not-b"]'
    a.local.emit("local-only")
    assert await local.recv() == '42["local-only"]'
    await far.disconnect()
    assert await remote.recv() == "41"
    assert [s.id for s in await a.fetch_sockets()] == [found["a"].id]
    await local.close()
    await remote.close()


async def test_broadcast_acks_count_per_server_and_time_out_with_partial_answers(cluster: Any) -> None:
    (a, b, c), (pa, pb, pc), _ = cluster
    clients = [await RawClient.connect(port) for port in (pa, pb, pb, pc)]
    ask = asyncio.ensure_future(a.timeout(2).emit_with_ack("q"))
    for n, client in enumerate(clients):
        text = await client.recv()
        assert text.startswith("42") and text.endswith('["q"]')
        ack_id = text[2 : text.index("[")]
        await client.send(f"43{ack_id}[{n}]")
    assert sorted(await ask) == [0, 1, 2, 3]

    slow = asyncio.ensure_future(a.timeout(0.2).emit_with_ack("q2"))
    for n, client in enumerate(clients[:3]):
        text = await client.recv()
        await client.send(f"43{text[2 : text.index('[')]}[{n}]")
    await clients[3].recv()  # receives it, never answers
    with pytest.raises(AckTimeout) as caught:
        await slow
    assert sorted(caught.value.responses) == [0, 1, 2]
    for client in clients:
        await client.close()


async def test_server_side_emit_and_acknowledgements(cluster: Any) -> None:
    (a, b, c), _, _ = cluster
    seen: list[tuple[str, Any]] = []

    @b.on_server_side_emit("hello")
    def hello_b(value: int) -> None:
        seen.append(("b", value))

    @c.on_server_side_emit("hello")
    async def hello_c(value: int) -> None:
        seen.append(("c", value))

    @b.on_server_side_emit("question")
    def answer_b(n: int) -> int:
        return n + 1

    @c.on_server_side_emit("question")
    async def answer_c(n: int) -> int:
        await asyncio.sleep(0)
        return n + 2

    await a.server_side_emit("hello", 7)
    await asyncio.sleep(0)  # c's handler is a task
    assert sorted(seen) == [("b", 7), ("c", 7)]
    assert sorted(await a.server_side_emit_with_ack("question", 1)) == [2, 3]

    @b.on_server_side_emit("half")
    def answer_half(*, ack: Callable[[Any], None]) -> None:
        ack("from b")

    with pytest.raises(AckTimeout) as caught:
        await a.server_side_emit_with_ack("half", timeout=0.05)
    assert caught.value.responses == ["from b"]
    with pytest.raises(socketeer.exceptions.LocalProtocolError):
        await a.server_side_emit("connect")


async def test_the_server_runs_the_adapter_lifecycle() -> None:
    peers: list[LoopbackAdapter] = []
    log: list[str] = []
    io = socketeer.Server(adapter=lambda nsp: LoopbackAdapter(nsp, peers, log))
    io.of("/early")
    assert log == []
    await io.serve("127.0.0.1", 0)
    assert sorted(log) == ["init /", "init /early"]
    io.of("/late")
    await asyncio.sleep(0)
    assert log[-1] == "init /late"
    await io.close()
    assert sorted(log[-3:]) == ["close /", "close /early", "close /late"]


def test_handshake_json_round_trip() -> None:
    from socketeer.server.socket import Handshake

    hs = Handshake({"host": "x"}, {"EIO": "4"}, {"t": 1}, "1.2.3.4", "now", 5, "/socket.io/?EIO=4", True, False)
    assert Handshake.from_json(hs.to_json()) == hs
    assert Handshake.from_json("junk") == Handshake({}, {}, {}, "", "", 0, "")
    assert Handshake.from_json({"issued": True, "sessionStore": 1}).extra == {"sessionStore": 1}
