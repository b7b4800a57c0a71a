"""Regression guards for the ASGI app's WebSocket hot path. They count work, they never time anything.

The ASGI app is driven in-process by a scripted ASGI server (``receive`` and ``send`` callables: the
ASGI interface itself). An echo or an ack must cost one ``send`` per reply, made by the connection's
own task, and no task; a broadcast must be serialised once, decoded once (the same ``str`` object
handed to every connection), cost one ``send`` per connection and no task, whether a handler makes it
or code outside any handler; a ``send`` that has to wait (as granian's always do) must keep the order
of the messages without a task per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Generator
from typing import Any

import socketeer
from socketeer.integrations.asgi import ASGIApp, Message
from socketeer.protocol.parser import JsonParser
from socketeer.protocol.socketio_packets import SocketPacket
from socketeer.protocol.wire import WireMessage

CLIENTS = 50
TIMEOUT = 5.0

SCOPE: dict[str, Any] = {
    "type": "websocket",
    "path": "/socket.io/",
    "query_string": b"EIO=4&transport=websocket",
    "headers": [(b"host", b"127.0.0.1")],
    "client": ("127.0.0.1", 50000),
    "scheme": "ws",
}


class CountingParser(JsonParser):
    def __init__(self) -> None:
        self.encoded = 0

    def encode(self, packet: SocketPacket, volatile: bool = False) -> WireMessage:
        self.encoded += 1
        return super().encode(packet, volatile)


class Later:
    """An awaitable that completes one event-loop iteration after it is first awaited, the way a
    server whose ``send`` hands the message to another thread (granian) completes it."""

    def __await__(self) -> Generator[Any, None, None]:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.call_soon(done.set_result, None)
        yield from done.__await__()


class Client:
    """One WebSocket connection of the scripted ASGI server: what the app receives is put in ``inbox``,
    what it sends is recorded in ``sent``."""

    def __init__(self, app: ASGIApp, waits: bool = False) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self.sends = 0
        self.senders: list[asyncio.Task[Any] | None] = []  # the task each send was made from
        self.waits = waits  # every send waits one loop iteration before it completes
        self.stuck: asyncio.Future[None] | None = None  # when set, every send waits for it
        self.gone = False  # when set, every send raises at once (as granian's does for a closed peer)
        self._arrived: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        return await self.inbox.get()

    def send(self, message: Message) -> Awaitable[None]:
        if self.gone:
            raise RuntimeError("the connection is closed")
        self.sends += 1
        self.senders.append(asyncio.current_task())
        self.sent.append(message)
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)
        if self.stuck is not None:
            return self.stuck
        return Later() if self.waits else _done()

    async def open(self) -> None:
        self.task = asyncio.ensure_future(self.app(dict(SCOPE), self.receive, self.send))
        self.inbox.put_nowait({"type": "websocket.connect"})
        assert (await self.next())["type"] == "websocket.accept"
        assert (await self.next_text()).startswith("0{")
        self.inbox.put_nowait({"type": "websocket.receive", "text": "40"})
        assert (await self.next_text()).startswith("40{")

    def put(self, text: str) -> None:
        self.inbox.put_nowait({"type": "websocket.receive", "text": text})

    async def next(self) -> Message:
        """The next message sent; waits (bounded) without a task of its own (``wait_for`` would make one)."""
        if not self.sent:
            loop = asyncio.get_running_loop()
            self._arrived = loop.create_future()
            timer = loop.call_later(TIMEOUT, self._arrived.set_exception, TimeoutError("nothing sent"))
            try:
                await self._arrived
            finally:
                timer.cancel()
        return self.sent.pop(0)

    async def next_text(self) -> str:
        message = await self.next()
        assert message["type"] == "websocket.send", message
        text: str = message["text"]
        return text

    async def close(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        if self.task is not None:
            await asyncio.wait_for(self.task, TIMEOUT)


async def _done() -> None:
    return None


@contextlib.contextmanager
def counting_tasks() -> Generator[list[int], None, None]:
    """Counts the tasks created on the running loop meanwhile (``counted[0]``)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    counted = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        counted[0] += 1
        if previous is not None:
            return previous(loop, coro, **kwargs)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    try:
        yield counted
    finally:
        loop.set_task_factory(previous)


def make_server(parser: JsonParser | None = None) -> socketeer.Server:
    io = socketeer.Server(parser=parser) if parser is not None else socketeer.Server()

    @io.on("echo")
    def echo(socket: socketeer.Socket, data: Any) -> None:
        socket.emit("echo", data)

    @io.on("ack")
    def ack(socket: socketeer.Socket, data: Any) -> Any:
        return data

    @io.on("broadcast")
    def broadcast(socket: socketeer.Socket, data: Any) -> None:
        io.emit("bcast", data)

    return io


@contextlib.asynccontextmanager
async def connected(
    io: socketeer.Server, count: int, waits: bool = False
) -> AsyncIterator[tuple[ASGIApp, list[Client]]]:
    app = ASGIApp(io)
    clients = [Client(app, waits) for _ in range(count)]
    try:
        for client in clients:
            await client.open()
        yield app, clients
    finally:
        for client in clients:
            await client.close()
        await io.close()


async def test_an_echo_is_one_send_and_no_task() -> None:
    async with connected(make_server(), 1) as (_, [client]):
        client.sends = 0
        with counting_tasks() as tasks:
            for n in range(100):
                client.put(f'42["echo",{{"n":{n}}}]')
                assert await client.next_text() == f'42["echo",{{"n":{n}}}]'
        assert client.sends == 100, "one ASGI send per reply"
        assert tasks[0] == 0, "no task per message"
        assert set(client.senders[-100:]) == {client.task}, "replies sent by the reader, no other task woken"


async def test_an_ack_is_one_send_and_no_task() -> None:
    async with connected(make_server(), 1) as (_, [client]):
        client.sends = 0
        with counting_tasks() as tasks:
            for n in range(100):
                client.put(f'42{n}["ack",{{"n":{n}}}]')
                assert await client.next_text() == f'43{n}[{{"n":{n}}}]'
        assert client.sends == 100
        assert tasks[0] == 0
        assert set(client.senders[-100:]) == {client.task}


async def test_a_broadcast_from_a_handler_is_serialised_once_and_sent_once_per_connection() -> None:
    parser = CountingParser()
    async with connected(make_server(parser), CLIENTS) as (_, clients):
        for client in clients:
            client.sends = 0
        parser.encoded = 0
        with counting_tasks() as tasks:
            clients[0].put('42["broadcast",{"text":"' + "x" * 100 + '"}]')
            texts = [await client.next_text() for client in clients]
        assert set(texts) == {'42["bcast",{"text":"' + "x" * 100 + '"}]'}
        assert parser.encoded == 1, "a broadcast must be serialised once"
        assert len({id(text) for text in texts}) == 1, "every connection must get the same decoded text"
        assert [client.sends for client in clients] == [1] * CLIENTS, "one send per connection"
        assert tasks[0] == 0, "no task per delivery"
        assert clients[0].senders[-1] is clients[0].task, "the sender's own copy sent by its reader"
        others = {client.senders[-1] for client in clients[1:]}
        assert others == {None}, "the other deliveries sent by one callback, no task woken"


async def test_a_broadcast_from_outside_a_handler_goes_out_in_one_loop_iteration_without_tasks() -> None:
    parser = CountingParser()
    io = make_server(parser)
    async with connected(io, CLIENTS) as (_, clients):
        for client in clients:
            client.sends = 0
        parser.encoded = 0
        with counting_tasks() as tasks:
            for n in range(3):
                io.emit("news", n)
            assert sum(client.sends for client in clients) == 0, "write only queues"
            await asyncio.sleep(0)  # one event-loop iteration
            assert [client.sends for client in clients] == [3] * CLIENTS
        assert parser.encoded == 3
        assert tasks[0] == 0
        assert {task for client in clients for task in client.senders[-3:]} == {None}, "sent by one callback"
        for client in clients:
            assert [await client.next_text() for _ in range(3)] == [f'42["news",{n}]' for n in range(3)]


async def test_sends_that_wait_keep_the_order_without_a_task_per_message() -> None:
    io = make_server()
    async with connected(io, 2, waits=True) as (_, clients):
        first, other = clients
        first.sends = other.sends = 0
        with counting_tasks() as tasks:
            for n in range(20):  # queued while the first sends still wait
                first.put(f'42["echo",{n}]')
                io.emit("news", n)
            received = [await first.next_text() for _ in range(40)]
            news = [await other.next_text() for _ in range(20)]
        assert [t for t in received if t.startswith('42["echo"')] == [f'42["echo",{n}]' for n in range(20)]
        assert [t for t in received if t.startswith('42["news"')] == [f'42["news",{n}]' for n in range(20)]
        assert news == [f'42["news",{n}]' for n in range(20)]
        assert first.sends == 40 and other.sends == 20
        assert tasks[0] == 0


async def test_a_peer_that_does_not_take_its_messages_is_closed_at_the_send_buffer_limit() -> None:
    io = socketeer.Server(limits=socketeer.Limits(max_send_buffer=10_000))
    app = ASGIApp(io)
    stuck = Client(app)
    blocked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        await stuck.open()
        stuck.stuck = blocked  # the peer takes nothing more
        stuck.sent.clear()
        reasons: list[str] = []
        closed = asyncio.Event()
        (socket,) = io.sockets.sockets.values()

        def on_disconnect(reason: str) -> None:
            reasons.append(reason)
            closed.set()

        socket.on("disconnect", on_disconnect)
        payload = "y" * 1000
        for _ in range(30):  # 30 KB for a peer that takes 1 KB and then nothing
            io.emit("news", payload)
            await asyncio.sleep(0)
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        assert reasons == ["transport error"]
        assert len(stuck.sent) == 1, "nothing more is sent while a send waits"
        assert json.loads(stuck.sent[0]["text"][2:]) == ["news", payload]
    finally:
        blocked.cancel()
        await stuck.close()
        await io.close()


async def test_a_send_that_fails_at_once_leaves_the_other_deliveries_alone() -> None:
    io = make_server()
    async with connected(io, 3) as (_, clients):
        clients[1].gone = True
        clients[0].put('42["broadcast",1]')
        assert await clients[0].next_text() == '42["bcast",1]'
        assert await clients[2].next_text() == '42["bcast",1]'
        clients[1].gone = False
        io.emit("news", 2)  # the failed connection takes nothing more; the others still do
        assert await clients[2].next_text() == '42["news",2]'
        assert await clients[0].next_text() == '42["news",2]'
        assert clients[1].sent == []
