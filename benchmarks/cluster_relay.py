"""What relaying a long-polling request to the session's owner costs (the design of ``--workers``).

Two socketeer servers A and B know each other (``SessionRouter.with_peers``). A session is opened on A;
then the same acknowledged event round trip (POST ``42n["ping",n]``, GET the ``43n`` answer) is timed
with the requests sent to A (its owner) and sent to B (which relays them to A). One kept-alive
connection per target, one round trip at a time::

    python benchmarks/cluster_relay.py [--rounds 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, method: str, query: str, body: bytes = b"") -> bytes:
        self.writer.write(
            f"{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
        return await self.reader.readexactly(length)


async def connect(port: int) -> Conn:
    return Conn(*await asyncio.open_connection("127.0.0.1", port))


async def main(rounds: int) -> None:
    port_a, port_b = free_port(), free_port()
    peers = f"aaaaaa=127.0.0.1:{port_a},bbbbbb=127.0.0.1:{port_b}"
    procs = []
    for node, port in (("aaaaaa", port_a), ("bbbbbb", port_b)):
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "socketeer",
                "serve",
                "relay_app:io",
                "--port",
                str(port),
                cwd=HERE / "peers",
                stdout=asyncio.subprocess.PIPE,
                env={**os.environ, "NODE_ID": node, "PEERS": peers},
            )
        )
    for proc in procs:
        assert proc.stdout is not None
        await proc.stdout.readline()
    try:
        a = await connect(port_a)
        sid = json.loads((await a.request("GET", ""))[1:])["sid"]
        await a.request("POST", f"&sid={sid}", b"40")
        await a.request("GET", f"&sid={sid}")
        b = await connect(port_b)
        results = {}
        n = 0
        for label, conn in (("owner", a), ("relayed", b), ("owner", a), ("relayed", b)):
            times = []
            for _ in range(rounds):
                n += 1
                started = time.perf_counter()
                await conn.request("POST", f"&sid={sid}", f'42{n}["ping",{n}]'.encode())
                answer = await conn.request("GET", f"&sid={sid}")
                times.append(time.perf_counter() - started)
                assert answer.startswith(f"43{n}".encode()), (label, n, answer)
            results[label] = times  # the second pass of each, after warming up
        for label, times in results.items():
            times.sort()
            print(
                f"{label:8} median {statistics.median(times) * 1e6:7.0f} us  "
                f"p99 {times[int(len(times) * 0.99)] * 1e6:7.0f} us  "
                f"{len(times) / sum(times):7.0f} round trips/s"
            )
    finally:
        for proc in procs:
            proc.terminate()
            await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    asyncio.run(main(parser.parse_args().rounds))
