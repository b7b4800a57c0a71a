"""A bounded soak: 10,000 WebSocket connect / join / echo / disconnect cycles, 100 clients at a time.

Memory is measured (RSS from /proc/self/statm, after a 1,000-cycle warm-up) and must not grow by more
than 20 MB; afterwards no session, handler task or asyncio task may be left behind. Marked ``soak``; it
runs with the rest of the suite (under 10 s here) and prints its figures for the record.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys

import pytest
from abuse_clients import RawWebSocket
from abuse_target import StartTarget

MB = 1_000_000
CONCURRENCY = 100
WARM_UP = 1_000
CYCLES = 10_000
MAX_GROWTH = 20 * MB


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _cycle(port: int, n: int) -> None:
    ws = await RawWebSocket.connect(port)
    try:
        await ws.sio_connect()
        ws.send_text(f'42["echo",{n}]')
        assert await ws.recv_engine(5) == f'42["echo",{n}]'
        ws.send_close(1000)
        assert await ws.expect_close(5) == 1000
    finally:
        await ws.aclose()


async def _run(port: int, cycles: int) -> None:
    for start in range(0, cycles, CONCURRENCY):
        await asyncio.gather(*(_cycle(port, n) for n in range(start, min(start + CONCURRENCY, cycles))))


@pytest.mark.soak
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
async def test_10k_connect_disconnect_cycles_do_not_leak(start_target: StartTarget) -> None:
    target = await start_target()
    io = target.io
    loop = asyncio.get_running_loop()
    started = loop.time()

    await _run(target.port, WARM_UP)
    await target.wait_for(lambda: target.connections == 0, 5, "warm-up sessions to end")
    gc.collect()
    tasks_before = len(asyncio.all_tasks())
    rss_before = rss()

    await _run(target.port, CYCLES)
    await target.wait_for(lambda: target.connections == 0, 5, "sessions to end")
    await target.wait_for(lambda: not target.server._connections, 5, "TCP connections to close")
    gc.collect()
    rss_after = rss()
    tasks_after = len(asyncio.all_tasks())
    elapsed = loop.time() - started

    growth = rss_after - rss_before
    print(
        f"\nsoak: {WARM_UP} warm-up + {CYCLES} cycles ({CONCURRENCY} concurrent) in {elapsed:.1f} s; "
        f"RSS {rss_before / MB:.1f} MB -> {rss_after / MB:.1f} MB ({growth / MB:+.2f} MB); "
        f"asyncio tasks {tasks_before} -> {tasks_after}; sessions {target.connections}; "
        f"handler tasks {len(io._tasks)}"
    )
    assert growth < MAX_GROWTH
    assert target.connections == 0
    assert len(io._tasks) == 0
    assert tasks_after == tasks_before
    assert all(len(nsp.sockets) == 0 for nsp in io.namespaces.values())
    await target.check()
