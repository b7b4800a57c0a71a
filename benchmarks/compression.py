"""What compression costs per message: the codecs alone, and a broadcast through the standalone server.

    python benchmarks/compression.py                  # both parts, a few seconds
    python benchmarks/compression.py --only fanout    # the broadcast part only (also runs on socketeer
                                                      # versions without compression: mode "off" only)

Part 1 (``codec``) times each codec on realistic Socket.IO payloads (an event carrying a list of
records, as JSON) of 256 B to 16 KiB: building an uncompressed frame, permessage-deflate with and
without context takeover (compress and inflate), and gzip for a long-polling response.

Part 2 (``fanout``) drives the real send path of the standalone server: ``io.emit`` to N connected
WebSocket sockets (engine sessions, Socket.IO sockets, the adapter, ``HttpProtocol.write`` and the
flush), whose transports only count the bytes they are given, so that no system call or peer is
timed. Modes: ``off`` (no extension: the frame is built once for all), ``deflate`` (context takeover:
one compression per connection), ``deflate-shared`` (server_no_context_takeover: one compression for
all), ``deflate-small`` (negotiated, message under the threshold), ``deflate-compress-false``.
The figures are CPU microseconds per delivery (process time over the broadcasts, divided by
broadcasts x connections), the median of ``--reps`` runs, and the bytes per delivery on the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import time
import zlib
from collections.abc import Callable
from typing import Any

import socketeer
from socketeer.integrations.standalone import HttpProtocol, StandaloneServer
from socketeer.protocol.websocket_frames import FrameReader, build_text_frame
from socketeer.transports.ports import HttpRequest


def payload(size: int, variant: int = 0) -> bytes:
    """A Socket.IO EVENT packet of about ``size`` bytes: a list of records, as real apps send;
    ``variant`` changes the numbers (a stream of updates is alike, never identical)."""
    records: list[dict[str, Any]] = []
    text = b""
    i = 0
    while len(text) < size:
        price = round(100 + ((i * 7919 + variant * 104729) % 10007) * 0.01, 2)
        records.append({"id": 1000 + i, "symbol": f"S{i % 37:02d}", "price": price, "qty": (i + variant) % 9})
        text = b"42" + json.dumps(["update", records], separators=(",", ":")).encode()
        i += 1
    return text


VARIANTS = 64


def per_call(fn: Callable[[], Any], calls: int = 600, runs: int = 3) -> float:
    """CPU microseconds per call of ``fn``: the median of ``runs`` runs of ``calls`` calls."""
    results = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(calls):
            fn()
        results.append((time.process_time() - start) / calls * 1e6)
    return statistics.median(results)


def codec_row(size: int) -> str:
    from socketeer.protocol.http_compression import encode_body
    from socketeer.protocol.permessage_deflate import DeflateCodec, DeflateParams

    stream = [payload(size, v) for v in range(VARIANTS)]  # a stream of alike messages, cycled
    data = stream[0]
    takeover = DeflateCodec(DeflateParams(), server_side=True, threshold=0)
    fresh = DeflateCodec(DeflateParams(server_no_context_takeover=True), server_side=True, threshold=0)
    sender = DeflateCodec(DeflateParams(), server_side=False, threshold=0)
    receiver = DeflateCodec(DeflateParams(), server_side=True, max_message_size=1 << 24)
    # the steady state: each message compressed after the ones before it
    steady = statistics.mean(len(takeover.compress(m)) for m in stream * 2)
    alone = statistics.mean(len(fresh.compress(m)) for m in stream)
    compressed = [sender.compress(m) for m in stream * 30]  # inflated in order, by one receiver
    cells = [
        f"{per_call(lambda: build_text_frame(data)):.2f}",
        f"{per_call(cycling(takeover.compress, stream)):.1f} ({steady:.0f})",
        f"{per_call(cycling(fresh.compress, stream)):.1f} ({alone:.0f})",
        f"{per_call(cycling(receiver.decompress, compressed), runs=1):.1f}",
        f"{per_call(lambda: encode_body(data, 'gzip')):.1f} ({len(encode_body(data, 'gzip'))})",
    ]
    return f"| {len(data)} B | " + " | ".join(cells) + " |"


def cycling(fn: Callable[[bytes], Any], items: list[bytes]) -> Callable[[], Any]:
    """A call of ``fn`` on the next of ``items`` (in order, round and round)."""
    position = [0]

    def call() -> Any:
        item = items[position[0] % len(items)]
        position[0] += 1
        return fn(item)

    return call


def codec_part() -> None:

    print("## codecs, per message (µs; compressed size in bytes)\n")
    print(
        "| message | frame, uncompressed | deflate (takeover) | deflate (no takeover) | inflate | gzip (polling) |"
    )
    print("|---|---|---|---|---|---|")
    for size in (256, 1024, 4096, 16384):
        print(codec_row(size))
    print()


class CountingTransport:
    """An asyncio transport that takes every write at once and counts the bytes."""

    def __init__(self) -> None:
        self.bytes = 0
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def close(self) -> None:
        pass


async def fanout_once(mode: str, clients: int, broadcasts: int, size: int) -> tuple[float, float]:
    """(CPU µs per delivery, bytes per delivery) for one run of ``mode``."""
    options: dict[str, Any] = {}
    params = None
    if mode != "off":
        from socketeer.protocol.permessage_deflate import DeflateCodec, DeflateParams

        options["per_message_deflate"] = {"server_no_context_takeover": mode == "deflate-shared"}
        params = DeflateParams(server_no_context_takeover=mode == "deflate-shared")
    io = socketeer.Server(**options)
    server = StandaloneServer(io)
    server._loop = asyncio.get_running_loop()
    transports: list[CountingTransport] = []
    for _ in range(clients):
        proto = HttpProtocol(server)
        transport = CountingTransport()
        proto.transport = transport  # type: ignore[assignment]
        proto._reader = FrameReader()
        if params is not None:
            config = io.engine_config.per_message_deflate
            assert config is not None
            proto.use_deflate(DeflateCodec(params, server_side=True, threshold=config.threshold))
        request = HttpRequest("GET", "/socket.io/", {"EIO": "4", "transport": "websocket"}, {})
        io.engine.accept_websocket(request, proto)
        proto.receiver.on_ws_text("40")
        transports.append(transport)
    await asyncio.sleep(0.01)  # the CONNECT replies go out
    for transport in transports:
        transport.bytes = 0
    messages = [json.loads(payload(200 if mode == "deflate-small" else size, v)[2:]) for v in range(VARIANTS)]
    emitter = io.compress(False) if mode == "deflate-compress-false" else io
    start = time.process_time()
    for index in range(broadcasts):
        event, args = messages[index % VARIANTS]
        emitter.emit(event, args)
        await asyncio.sleep(0)  # the flush of this iteration: one write per connection
    await asyncio.sleep(0)
    elapsed = time.process_time() - start
    deliveries = clients * broadcasts
    sent = sum(t.bytes for t in transports)
    await io.close()
    return elapsed / deliveries * 1e6, sent / deliveries


def fanout_part(clients: int, broadcasts: int, size: int, reps: int, modes: list[str]) -> None:
    print(
        f"## broadcast through the standalone server: {clients} clients, {broadcasts} broadcasts of ~{size} B\n"
    )
    print("| mode | CPU µs per delivery (median) | runs | bytes per delivery |")
    print("|---|---|---|---|")
    for mode in modes:
        runs = [asyncio.run(fanout_once(mode, clients, broadcasts, size)) for _ in range(reps)]
        costs = [cost for cost, _ in runs]
        print(
            f"| {mode} | {statistics.median(costs):.2f} | {', '.join(f'{c:.2f}' for c in costs)} "
            f"| {runs[0][1]:.0f} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["codec", "fanout"])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--broadcasts", type=int, default=200)
    parser.add_argument("--size", type=int, default=2048, help="bytes per broadcast message")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", default="", help="comma-separated; default: all this version has")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if not modes:
        if importlib.util.find_spec("socketeer.protocol.permessage_deflate") is None:
            modes = ["off"]  # a version without compression
        else:
            modes = ["off", "deflate", "deflate-shared", "deflate-small", "deflate-compress-false"]
    print(f"zlib {zlib.ZLIB_RUNTIME_VERSION}, socketeer {socketeer.__version__} from {socketeer.__file__}\n")
    if args.only in (None, "codec"):
        codec_part()
    if args.only in (None, "fanout"):
        fanout_part(args.clients, args.broadcasts, args.size, args.reps, modes)


if __name__ == "__main__":
    main()
