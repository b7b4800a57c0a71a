"""socketeer.testing's helpers without the fixtures: serve(), the event log and next_event()."""

from __future__ import annotations

import asyncio

import pytest

from socketeer import Server, Socket
from socketeer.client import AsyncClient
from socketeer.testing import LiveServer, next_event, record_events, serve


def make_io() -> Server:
    io = Server()

    @io.on("burst")
    def burst(socket: Socket, count: int) -> None:
        for i in range(count):
            socket.emit("tick", i)
        socket.emit("done")

    return io


@pytest.mark.parametrize("kind", ["standalone", "asgi"])
async def test_serve_and_log_events_in_order(kind: str) -> None:
    io = make_io()
    async with serve(io, kind) as live:  # type: ignore[arg-type]
        assert isinstance(live, LiveServer) and live.url == f"http://127.0.0.1:{live.port}"
        async with AsyncClient(live.url, reconnection=False) as client:
            log = record_events(client)
            assert record_events(client) is log
            client.emit("burst", 3)
            waiting = asyncio.ensure_future(next_event(client, "tick"))  # waits before it arrives
            assert await waiting == (0,)
            assert await next_event(client, "done") == ()  # the ticks after 0 were kept meanwhile
            assert log.received("tick") == [(1,), (2,)]
            assert await log.next("tick") == (1,) and await log.next("tick") == (2,)
            with pytest.raises(TimeoutError, match="no 'tick' event within 0.05 s"):
                await log.next("tick", timeout=0.05)


def test_a_closed_server_serves_again_from_another_loop() -> None:
    io = make_io()

    async def once() -> tuple[int, ...]:
        async with serve(io) as live, AsyncClient(live.url, reconnection=False) as client:
            client.emit("burst", 1)
            return await next_event(client, "tick")

    assert asyncio.run(once()) == (0,)
    assert asyncio.run(once()) == (0,)


async def test_serve_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="kind must be"):
        async with serve(Server(), "tornado"):  # type: ignore[arg-type]
            pass
