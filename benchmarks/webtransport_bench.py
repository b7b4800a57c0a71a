"""Echo and fan-out over WebTransport (HTTP/3) and, for comparison, over WebSocket on TLS, against
socketeer's benchmark peer; the load generator is Python (aioquic for WebTransport, websockets for
WebSocket), in its own process, bounded in clients and time.

    python benchmarks/webtransport_bench.py                 # both transports, both scenarios
    python benchmarks/webtransport_bench.py --duration 2 --clients 20 --fanout-clients 100

Prints one JSON line per measurement: throughput and the server's CPU time per message (read from
/proc), which is the figure to compare: a Python client saturates before the server does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection
from aioquic.h3.events import HeadersReceived, WebTransportStreamDataReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent

from socketeer.integrations.devcert import development_certificate
from socketeer.protocol.engineio_stream import StreamDecoder, encode_stream_frame

HERE = Path(__file__).resolve().parent
PAYLOAD = json.dumps({"text": "x" * 60, "n": 12345, "flag": True})
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class WtConn(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.stream = -1
        self.decoder = StreamDecoder(1 << 24)
        self.on_text: Callable[[str], None] = lambda text: None
        self.dirty = False

    async def open(self) -> None:
        session = self._quic.get_next_available_stream_id()
        self.http.send_headers(
            session,
            [(b":method", b"CONNECT"), (b":scheme", b"https"), (b":authority", b"127.0.0.1"),
             (b":path", b"/socket.io/"), (b":protocol", b"webtransport")],
        )  # fmt: skip
        self.transmit()
        await asyncio.wait_for(self.ready, 10)
        self.stream = self.http.create_webtransport_stream(session)
        with self.http._get_or_create_stream(self.stream) as stream:  # read the server's writes as WT data
            stream.frame_type = FrameType.WEBTRANSPORT_STREAM
            stream.session_id = session

    def send(self, text: str) -> None:
        self._quic.send_stream_data(self.stream, encode_stream_frame(text.encode()))
        if not self.dirty:
            self.dirty = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self.dirty = False
        self.transmit()

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3 in self.http.handle_event(event):
            if isinstance(h3, HeadersReceived) and not self.ready.done():
                self.ready.set_result(None)
            elif isinstance(h3, WebTransportStreamDataReceived) and h3.data:
                for frame in self.decoder.feed(h3.data):
                    self.on_text(frame.data.decode())


async def open_wt(port: int, stack: list[Any]) -> Any:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, max_datagram_frame_size=65536)
    configuration.verify_mode = ssl.CERT_NONE
    manager = connect("127.0.0.1", port, configuration=configuration, create_protocol=WtConn)
    conn = await manager.__aenter__()
    stack.append(manager)
    await conn.open()
    return conn


class WsConn:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.early: list[str] = []  # the open packet, which the server sends before we listen
        self.on_text: Callable[[str], None] = self.early.append
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                self.on_text(message)
        except Exception:
            pass

    def send(self, text: str) -> None:
        asyncio.get_running_loop().create_task(self._send(text))

    async def _send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except Exception:  # closed at the end of the run
            pass


async def open_ws(port: int, stack: list[Any]) -> Any:
    import websockets

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    ws = await websockets.connect(
        f"wss://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
        ssl=context, compression=None, ping_interval=None, max_size=None,
    )  # fmt: skip
    conn = WsConn(ws)
    stack.append(ws)
    return conn


async def handshake(conn: Any, webtransport: bool) -> None:
    """Engine.IO open (the client speaks first on WebTransport), then the Socket.IO CONNECT."""
    got: asyncio.Queue[str] = asyncio.Queue()
    for text in getattr(conn, "early", []):
        got.put_nowait(text)
    conn.on_text = got.put_nowait
    if webtransport:
        conn.send("0")
    assert (await asyncio.wait_for(got.get(), 10)).startswith("0{")
    conn.send("40")
    assert (await asyncio.wait_for(got.get(), 10)).startswith("40")


def answer_pings(conn: Any, count: Callable[[str], None]) -> Callable[[str], None]:
    def on_text(text: str) -> None:
        if text == "2":
            conn.send("3")
        else:
            count(text)

    return on_text


async def measure(
    server_pid: int, warmup: float, duration: float, counter: Callable[[], int]
) -> tuple[float, float]:
    await asyncio.sleep(warmup)
    start_count, start_cpu, start = counter(), cpu_seconds(server_pid), time.perf_counter()
    await asyncio.sleep(duration)
    count, cpu, elapsed = (
        counter() - start_count,
        cpu_seconds(server_pid) - start_cpu,
        time.perf_counter() - start,
    )
    return count / elapsed, cpu / max(count, 1) * 1e6


async def echo(
    opener: Any, port: int, webtransport: bool, clients: int, pid: int, args: Any
) -> dict[str, Any]:
    stack: list[Any] = []
    conns = [await opener(port, stack) for _ in range(clients)]
    for conn in conns:
        await handshake(conn, webtransport)
    done = 0
    message = f'42["echo",{PAYLOAD}]'

    def make(conn: Any) -> Callable[[str], None]:
        def count(text: str) -> None:
            nonlocal done
            done += 1
            conn.send(message)

        return answer_pings(conn, count)

    for conn in conns:
        conn.on_text = make(conn)
        for _ in range(args.in_flight):
            conn.send(message)
    rate, cpu = await measure(pid, args.warmup, args.duration, lambda: done)
    await close_all(stack)
    return {"clients": clients, "msgs_per_s": round(rate), "server_cpu_us_per_msg": round(cpu, 2)}


async def fanout(
    opener: Any, port: int, webtransport: bool, clients: int, pid: int, args: Any
) -> dict[str, Any]:
    stack: list[Any] = []
    conns = [await opener(port, stack) for _ in range(clients)]
    for conn in conns:
        await handshake(conn, webtransport)
    sender = conns[0]
    delivered = 0
    received_by_sender = 0
    message = f'42["broadcast",{PAYLOAD}]'

    def count(text: str) -> None:
        nonlocal delivered
        delivered += 1

    def sender_count(text: str) -> None:
        nonlocal delivered, received_by_sender
        delivered += 1
        received_by_sender += 1
        sender.send(message)  # one broadcast more each time one comes back: a fixed number in flight

    for conn in conns[1:]:
        conn.on_text = answer_pings(conn, count)
    sender.on_text = answer_pings(sender, sender_count)
    for _ in range(args.in_flight):
        sender.send(message)
    rate, cpu = await measure(pid, args.warmup, args.duration, lambda: delivered)
    await close_all(stack)
    return {"clients": clients, "deliveries_per_s": round(rate), "server_cpu_us_per_delivery": round(cpu, 2)}


async def close_all(stack: list[Any]) -> None:
    for item in reversed(stack):
        try:
            if hasattr(item, "__aexit__"):
                await asyncio.wait_for(item.__aexit__(None, None, None), 2)
            else:
                await asyncio.wait_for(item.close(), 2)
        except Exception:
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode})")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start")


SCENARIOS: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {"echo": echo, "fanout": fanout}


async def run(args: Any) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cert = development_certificate(folder)
        for scenario in args.scenarios.split(","):
            for transport in args.transports.split(","):
                port = free_port()
                env = dict(os.environ, PORT=str(port), CERTFILE=cert.certfile, KEYFILE=cert.keyfile)
                command = [sys.executable, str(HERE / "peers" / "socketeer_peer.py")]
                if not args.no_pin and shutil.which("taskset"):
                    command = ["taskset", "-c", "0", *command]
                proc = subprocess.Popen(command, env=env)
                try:
                    await wait_listening(port, proc)
                    await asyncio.sleep(0.3)  # the UDP listener starts just after the TCP one
                    webtransport = transport == "webtransport"
                    opener = open_wt if webtransport else open_ws
                    clients = args.clients if scenario == "echo" else args.fanout_clients
                    result = await SCENARIOS[scenario](opener, port, webtransport, clients, proc.pid, args)
                finally:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                row = {"scenario": scenario, "transport": transport, **result}
                print(json.dumps(row), flush=True)
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenarios", default="echo,fanout")
    parser.add_argument("--transports", default="webtransport,websocket")
    parser.add_argument("--clients", type=int, default=50, help="echo clients (default 50)")
    parser.add_argument("--fanout-clients", type=int, default=200, help="fan-out receivers (default 200)")
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to CPU 0")
    args = parser.parse_args(argv)
    if not args.no_pin and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the load generator on the other core
    rows = asyncio.run(run(args))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
