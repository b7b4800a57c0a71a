"""The proxy's faults are real: each one does to a plain TCP echo peer what it says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from fault_proxy import Direction, Fault, FaultProxy, Scope, Stage


@pytest.fixture
async def echo_proxy() -> AsyncIterator[FaultProxy]:
    """A proxy in front of a loopback echo server."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = await FaultProxy(server.sockets[0].getsockname()[1]).start()
    yield proxy
    await proxy.close()
    server.close()
    await server.wait_closed()


async def connect(proxy: FaultProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(5), 2) == b"hello"
    return reader, writer


async def test_cut_is_a_fin_and_reset_is_an_rst(echo_proxy: FaultProxy) -> None:
    reader, writer = await connect(echo_proxy)
    echo_proxy.cut()
    assert await asyncio.wait_for(reader.read(), 2) == b""  # an orderly end of stream
    writer.close()
    reader, writer = await connect(echo_proxy)
    echo_proxy.reset()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 2)
    writer.close()


async def test_stall_then_resume(echo_proxy: FaultProxy) -> None:
    reader, writer = await connect(echo_proxy)
    echo_proxy.stall(Direction.DOWN)
    writer.write(b"held")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.1)
    echo_proxy.resume()
    assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
    writer.close()


async def test_slow_and_delay(echo_proxy: FaultProxy) -> None:
    reader, writer = await connect(echo_proxy)
    loop = asyncio.get_running_loop()
    echo_proxy.slow(20_000, Direction.DOWN)
    started = loop.time()
    writer.write(b"x" * 4000)
    await asyncio.wait_for(reader.readexactly(4000), 2)
    assert loop.time() - started >= 0.15  # 4 kB at 20 kB/s: about 0.2 s
    echo_proxy.resume()
    echo_proxy.delay(0.1, Direction.UP)
    started = loop.time()
    writer.write(b"late")
    await asyncio.wait_for(reader.readexactly(4), 2)
    assert loop.time() - started >= 0.1
    writer.close()


async def test_rules_at_stages_and_on_bytes(echo_proxy: FaultProxy) -> None:
    # a POST going up is cut before it is forwarded: the echo never sees it
    rule = echo_proxy.on(Stage.POST, Fault.CUT, scope=Scope.CONNECTION, before=True)
    reader, writer = await connect(echo_proxy)
    writer.write(b"POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert rule.applied == 1 and echo_proxy.seen[-1][1] is Stage.POST
    writer.close()
    # a chunk going down that carries b"marker" is cut in half
    echo_proxy.on(b"marker", Fault.TRUNCATE, keep=-1, scope=Scope.CONNECTION)
    reader, writer = await connect(echo_proxy)
    writer.write(b"0123456789marker")
    assert await asyncio.wait_for(reader.read(), 2) == b"01234567"
    writer.close()
