"""What a broadcast costs Redis and the nodes of a cluster, by adapter and number of nodes.

A real ``redis-server`` on a free loopback port and N socketeer nodes (``peers/redis_cost_peer.py``) on
the classic (``redis``), sharded (``sharded``, dynamic subscriptions) or streams (``streams``) adapter.
Node 0 publishes broadcasts at fixed rates (``--rates`` per second, spread over 1 ms ticks); nodes 1..N-1
each hold ``--sinks`` WebSocket clients (those of node 1 in room ``r1``) that only read. Two scenarios:

- ``all``: ``io.emit`` to everyone;
- ``room``: ``io.to("r1").emit``: a room with members on node 1 only; the other nodes have none.

Reported per broadcast: Redis commands and their count, bytes into and out of Redis, the pub/sub
messages Redis delivered (out bytes divided by the size of one delivered message, captured by a probe
subscriber), Redis CPU (``INFO cpu``, getrusage: µs-precise), and the nodes' CPU (``/proc/<pid>/stat``):
the publisher, a node with members, a node without. An idle second before each window gives the
baseline that is subtracted. ``heartbeat``: one node without Redis, ``--clients`` connections answering
pings every second: server CPU per ping/pong. ``--channels K``: Redis memory per shard channel that
two subscribers hold (what the sharded adapter's dynamic mode costs per room). ``--client-cost``: the
Redis client library's own CPU per message (``get_message``, pipelined ``PUBLISH``), in this process. ::

    python benchmarks/redis_cost.py [--adapters redis,sharded,streams] [--nodes 2,4,8] [--rates 1000,5000]
        [--window 5] [--sinks 1] [--out results.jsonl]
    python benchmarks/redis_cost.py --heartbeat [--clients 2000]
    python benchmarks/redis_cost.py --channels 100000
    python benchmarks/redis_cost.py --client-cost --messages 50000

Needs redis-server and redis-cli on PATH, and socketeer with its ``redis`` extra importable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import free_port, ready
from cluster_bench import redis

HERE = Path(__file__).resolve().parent
PEERS = {
    "socketeer": [sys.executable, str(HERE / "peers" / "redis_cost_peer.py")],
    "node": ["node", str(HERE / "peers" / "node_redis_cost.js")],  # the official server and adapters
}
NODE_MODULES = HERE.parent / "tests" / "node" / "node_modules"
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
MARK = b'["bcast"'


def proc_cpu_us(pid: int) -> float:
    """user + system CPU of a process (clock ticks: 10 ms)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_US


# -- a WebSocket client at the frame level (enough for these servers) ----------------------------------


def frame(text: str) -> bytes:
    body = text.encode()
    n = len(body)
    head = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126, n >> 8, n & 255])
    return head + b"\0\0\0\0" + body


class Client:
    """Engine.IO/Socket.IO over WebSocket; after ``start``, counts broadcasts (or parses, answering pings)."""

    def __init__(self) -> None:
        self.received = 0
        self.pings = 0
        self.buffer = b""
        self.events: list[str] = []
        self.got_event = asyncio.Event()

    async def connect(self, port: int) -> Client:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"no upgrade: {head[:60]!r}")
        assert (await self.read_text()).startswith("0{")
        self.writer.write(frame("40"))
        while not (await self.read_text()).startswith("40"):
            pass
        return self

    async def read_text(self) -> str:
        while True:
            parsed = self.parse_one()
            if parsed is not None:
                return parsed
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk

    def parse_one(self) -> str | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        n, offset = buf[1] & 127, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, offset = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, offset = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < offset + n:
            return None
        self.buffer = buf[offset + n :]
        return buf[offset : offset + n].decode()

    async def join(self, room: str) -> None:
        self.writer.write(frame(f'421["join","{room}"]'))
        while not (await self.read_text()).startswith("431"):
            pass

    def send(self, text: str) -> None:
        self.writer.write(frame(text))

    async def count(self) -> None:
        """Read and count broadcasts only (cheap: no frame parsing)."""
        tail = b""
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            self.received += self.buffer.count(MARK)
            tail = self.buffer[-8:]
            while chunk := await self.reader.read(262144):
                both = tail + chunk
                self.received += both.count(MARK) - tail.count(MARK)
                tail = both[-8:]

    async def parse(self) -> None:
        """Read every frame: answer pings, count broadcasts, keep other events."""
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while True:
                text = await self.read_text()
                if text == "2":
                    self.pings += 1
                    self.writer.write(frame("3"))
                elif text.startswith('42["bcast"'):
                    self.received += 1
                elif text.startswith("42"):
                    self.events.append(text)
                    self.got_event.set()

    def close(self) -> None:
        self.writer.close()


# -- processes -----------------------------------------------------------------------------------


@contextlib.contextmanager
def nodes(count: int, env: dict[str, str], peer: str = "socketeer") -> Any:
    procs, ports = [], []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    PEERS[peer],
                    env={**os.environ, **env, "PORT": str(port), "NODE_PATH": str(NODE_MODULES)},
                    start_new_session=True,
                )
            )
            ports.append(port)
        deadline = time.monotonic() + 30
        for port in ports:
            while not ready(port):  # bounded: the server is another process
                if time.monotonic() > deadline:
                    raise RuntimeError("a node did not start")
                time.sleep(0.1)
        yield ports, [p.pid for p in procs]
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def redis_info(port: int) -> dict[str, str]:
    text = subprocess.run(
        ["redis-cli", "-p", str(port), "info", "everything"], capture_output=True, text=True, check=True
    ).stdout
    info = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key] = value.strip()
    return info


def redis_cpu_us(info: dict[str, str]) -> float:
    return (float(info["used_cpu_user"]) + float(info["used_cpu_sys"])) * 1e6


def commandstats(info: dict[str, str]) -> dict[str, tuple[int, int]]:
    out = {}
    for key, value in info.items():
        if key.startswith("cmdstat_"):
            fields = dict(item.split("=") for item in value.split(","))
            out[key[8:]] = (int(fields["calls"]), int(fields["usec"]))
    return out


class Snapshot:
    def __init__(self, redis_port: int, redis_pid: int, pids: list[int]) -> None:
        self.info = redis_info(redis_port)
        self.time = time.monotonic()
        self.redis_cpu = redis_cpu_us(self.info)
        self.redis_proc_cpu = proc_cpu_us(redis_pid)
        self.nodes = [proc_cpu_us(pid) for pid in pids]


async def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # polling other processes' progress: no event to await (bounded)
    return True


def resp_bulk(data: bytes) -> int:
    return len(f"${len(data)}\r\n") + len(data) + 2


async def probe(adapter: str, redis_port: int, control: Client, room: str | None) -> dict[str, Any]:
    """One broadcast seen by an extra subscriber: the channel and the size of one delivered message."""
    from redis.asyncio import Redis

    client = Redis(port=redis_port)
    try:
        if adapter == "streams":
            before = await client.xlen("socket.io")
            await go(control, 1, 1000, room)
            for _ in range(100):
                if await client.xlen("socket.io") > before:
                    break
                await asyncio.sleep(0.02)
            entries: Any = await client.xrevrange("socket.io", count=1)
            fields: dict[bytes, bytes] = entries[0][1]
            size = sum(len(k) + len(v) for k, v in fields.items())
            return {"channel": "stream socket.io", "payload_bytes": size, "entry_fields": len(fields)}
        pubsub = client.pubsub()
        if adapter == "redis":
            await pubsub.psubscribe("socket.io#/#*")
        else:
            await pubsub.ssubscribe("socket.io#/#", "socket.io#/#r1#")
        for _ in range(1 if adapter == "redis" else 2):  # the subscribe confirmations
            await pubsub.get_message(timeout=1.0)
        await go(control, 1, 1000, room)
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None:
                break
        if message is None:
            raise RuntimeError("the probe saw no broadcast")
        channel, data = message["channel"], message["data"]
        if message["type"] == "pmessage":
            size = len(b"*4\r\n$8\r\npmessage\r\n") + resp_bulk(message["pattern"]) + resp_bulk(channel)
        else:
            size = len(b"*3\r\n$8\r\nsmessage\r\n") + resp_bulk(channel)
        size += resp_bulk(data)
        await pubsub.aclose()
        return {"channel": channel.decode(), "payload_bytes": len(data), "delivered_message_bytes": size}
    finally:
        await client.aclose()


def delivered(receivers: list[Client], counts: list[int], count: int) -> Any:
    return lambda: all(s.received - c >= count for s, c in zip(receivers, counts, strict=True))


async def go(control: Client, count: int, rate: float, room: str | None) -> float:
    control.got_event.clear()
    control.events.clear()
    started = time.monotonic()
    control.send("42" + json.dumps(["go", {"count": count, "rate": rate, "room": room}]))
    await asyncio.wait_for(control.got_event.wait(), count / rate + 30)
    return time.monotonic() - started


async def cluster_run(adapter: str, n: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with redis() as (redis_port, redis_pid):
        env = {"REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "CLUSTER_ADAPTER": adapter}
        if adapter == "memory":  # the baseline: the same nodes without a cluster adapter
            env["REDIS_URL"] = ""
        with nodes(n, env, args.peer) as (ports, pids):
            control = await Client().connect(ports[0])
            control_task = asyncio.ensure_future(control.parse())
            sinks: list[list[Client]] = [[] for _ in range(n)]
            for i in range(1, n):
                for _ in range(args.sinks):
                    sink = await Client().connect(ports[i])
                    if i == 1:
                        await sink.join("r1")
                    sinks[i].append(sink)
            tasks = [asyncio.ensure_future(s.count()) for group in sinks for s in group]
            await asyncio.sleep(0.5)  # the dynamic room subscriptions, the stream readers
            try:
                for scenario in args.scenarios:
                    room = "r1" if scenario == "room" else None
                    receivers = [s for i, group in enumerate(sinks) for s in group if room is None or i == 1]
                    if adapter == "memory":  # no cluster: only the publisher's own clients receive
                        receivers = []
                    seen = await probe(adapter, redis_port, control, room) if adapter != "memory" else {}
                    for rate in args.rates:
                        count = int(rate * args.window)
                        await go(control, int(rate / 2), rate, room)  # warm-up
                        await asyncio.sleep(0.3)
                        idle0 = Snapshot(redis_port, redis_pid, pids)
                        await asyncio.sleep(args.idle)
                        before = Snapshot(redis_port, redis_pid, pids)
                        counts = [s.received for s in receivers]
                        await go(control, count, rate, room)
                        complete = await wait_for(delivered(receivers, counts, count), 30)
                        after = Snapshot(redis_port, redis_pid, pids)
                        row = summarise(
                            adapter, n, scenario, count, rate, args, seen, idle0, before, after, complete
                        )
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                for task in [*tasks, control_task]:
                    task.cancel()
                for group in sinks:
                    for sink in group:
                        sink.close()
                control.close()
    return rows


def summarise(
    adapter: str,
    n: int,
    scenario: str,
    count: int,
    rate: float,
    args: argparse.Namespace,
    seen: dict[str, Any],
    idle0: Snapshot,
    before: Snapshot,
    after: Snapshot,
    complete: bool,
) -> dict[str, Any]:
    b = count
    window = after.time - before.time
    idle_s = before.time - idle0.time
    redis_idle = (before.redis_cpu - idle0.redis_cpu) / idle_s
    redis_cpu = after.redis_cpu - before.redis_cpu - redis_idle * window
    node_cpu = []
    for k in range(n):
        idle = (before.nodes[k] - idle0.nodes[k]) / idle_s
        node_cpu.append((after.nodes[k] - before.nodes[k] - idle * window) / b)
    cmds0, cmds1 = commandstats(before.info), commandstats(after.info)
    commands = {
        name: {
            "calls_per_bcast": round((calls - cmds0.get(name, (0, 0))[0]) / b, 3),
            "usec_per_call": round(
                (usec - cmds0.get(name, (0, 0))[1]) / max(1, calls - cmds0.get(name, (0, 0))[0]), 2
            ),
        }
        for name, (calls, usec) in cmds1.items()
        if calls - cmds0.get(name, (0, 0))[0] >= b / 100 and name not in ("info",)
    }
    out_bytes = (int(after.info["total_net_output_bytes"]) - int(before.info["total_net_output_bytes"])) / b
    in_bytes = (int(after.info["total_net_input_bytes"]) - int(before.info["total_net_input_bytes"])) / b
    row: dict[str, Any] = {
        "peer": args.peer,
        "adapter": adapter,
        "nodes": n,
        "scenario": scenario,
        "broadcasts": b,
        "rate": rate,
        "sinks_per_node": args.sinks,
        "window_s": round(window, 2),
        "complete": complete,
        "channel": seen.get("channel"),
        "payload_bytes": seen.get("payload_bytes"),
        "redis_in_bytes_per_bcast": round(in_bytes, 1),
        "redis_out_bytes_per_bcast": round(out_bytes, 1),
        "redis_commands": commands,
        "redis_cpu_us_per_bcast": round(redis_cpu / b, 2),
        "redis_cpu_pct": round(100 * (after.redis_cpu - before.redis_cpu) / (window * 1e6), 1),
        "redis_idle_cpu_pct": round(100 * redis_idle / 1e6, 2),
        "redis_proc_cpu_us_per_bcast": round((after.redis_proc_cpu - before.redis_proc_cpu) / b, 2),
        "publisher_cpu_us_per_bcast": round(node_cpu[0], 2),
        "member_node_cpu_us_per_bcast": round(node_cpu[1], 2),
        "other_nodes_cpu_us_per_bcast": round(sum(node_cpu[2:]) / (n - 2), 2) if n > 2 else None,
        "node_cpu_us_per_bcast": [round(x, 2) for x in node_cpu],
    }
    if "delivered_message_bytes" in seen:
        publish_replies = 4  # ":N\r\n" for each PUBLISH/SPUBLISH
        row["delivered_message_bytes"] = seen["delivered_message_bytes"]
        row["pubsub_deliveries_per_bcast"] = round(
            (out_bytes - publish_replies) / seen["delivered_message_bytes"], 2
        )
        deliveries = row["pubsub_deliveries_per_bcast"]
        row["redis_cpu_us_per_delivery"] = round(redis_cpu / b / deliveries, 2) if deliveries else None
    return row


async def heartbeat(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Server CPU per ping/pong: the same connections with a 1 s heartbeat and with none in the window."""
    rows = []
    for interval in ("1", "600"):
        with nodes(1, {"PING_INTERVAL": interval, "REDIS_URL": ""}) as (ports, pids):
            clients = []
            for _ in range(args.clients):
                clients.append(await Client().connect(ports[0]))
            tasks = [asyncio.ensure_future(c.parse()) for c in clients]
            await asyncio.sleep(2)
            pings0, cpu0, t0 = sum(c.pings for c in clients), proc_cpu_us(pids[0]), time.monotonic()
            await asyncio.sleep(args.duration)
            pings, cpu, seconds = (
                sum(c.pings for c in clients) - pings0,
                proc_cpu_us(pids[0]) - cpu0,
                time.monotonic() - t0,
            )
            rss_kb = int(Path(f"/proc/{pids[0]}/status").read_text().split("VmRSS:")[1].split()[0])
            for task in tasks:
                task.cancel()
            for c in clients:
                c.close()
        rows.append(
            {
                "scenario": "heartbeat",
                "ping_interval_s": float(interval),
                "clients": args.clients,
                "window_s": round(seconds, 2),
                "pings": pings,
                "server_cpu_us": round(cpu),
                "server_cpu_pct": round(100 * cpu / (seconds * 1e6), 1),
                "server_rss_kb": rss_kb,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    active, idle = rows
    extra = active["server_cpu_us"] / active["window_s"] - idle["server_cpu_us"] / idle["window_s"]
    per_ping = extra / (active["pings"] / active["window_s"]) if active["pings"] else None
    rows.append({"scenario": "heartbeat-summary", "server_cpu_us_per_ping": per_ping and round(per_ping, 2)})
    print(json.dumps(rows[-1]), flush=True)
    return rows


async def channel_memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Redis memory per shard channel: two subscribers (two nodes) SSUBSCRIBE to the same room channels."""
    from redis.asyncio import Redis

    rows = []
    with redis() as (redis_port, _):
        subscribers = [Redis(port=redis_port).pubsub() for _ in range(2)]
        used0 = int(redis_info(redis_port)["used_memory"])
        names = [f"socket.io#/#room-{i:07d}#" for i in range(args.channels)]
        for k, pubsub in enumerate(subscribers, 1):
            for at in range(0, len(names), 1000):
                await pubsub.ssubscribe(*names[at : at + 1000])
            await asyncio.sleep(0.5)
            info = redis_info(redis_port)
            rows.append(
                {
                    "scenario": "shard-channels",
                    "channels": args.channels,
                    "subscribers": k,
                    "used_memory_bytes_per_channel": round(
                        (int(info["used_memory"]) - used0) / args.channels, 1
                    ),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        for pubsub in subscribers:
            await pubsub.aclose()
    return rows


def resp(*parts: bytes) -> bytes:
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


async def drain(reader: asyncio.StreamReader) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while await reader.read(1 << 20):
            pass


async def publish_pipelined(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, batch: bytes, reply_bytes: int, rounds: int
) -> None:
    for _ in range(rounds):
        writer.write(batch)
        await reader.readexactly(reply_bytes)


async def redis_saturation(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Redis alone at its limit: one publisher pipelining, N subscribers that only read.

    ``pattern``: the classic adapter's subscriptions (each subscriber ``PSUBSCRIBE socket.io#/#*``;
    ``PUBLISH socket.io#/#``, or ``socket.io#/#r1#`` for a room: every subscriber gets it);
    ``shard``: the sharded adapter's (``SSUBSCRIBE socket.io#/#``; ``SPUBLISH`` to everyone, or to a room
    channel that one subscriber holds while the others hold other rooms)."""
    rows = []
    payload = b"x" * args.payload
    for n in args.subscribers:
        for kind, scenario in (("pattern", "all"), ("pattern", "room"), ("shard", "all"), ("shard", "room")):
            with redis() as (redis_port, _):
                subscribers = []
                for i in range(n):
                    reader, writer = await asyncio.open_connection("127.0.0.1", redis_port)
                    if kind == "pattern":
                        writer.write(resp(b"PSUBSCRIBE", b"socket.io#/#*"))
                    elif scenario == "all":
                        writer.write(resp(b"SSUBSCRIBE", b"socket.io#/#"))
                    else:
                        writer.write(resp(b"SSUBSCRIBE", b"socket.io#/#r%d#" % i))
                    await reader.readuntil(b":1\r\n")
                    subscribers.append((reader, writer, asyncio.ensure_future(drain(reader))))
                reader, writer = await asyncio.open_connection("127.0.0.1", redis_port)
                channel = b"socket.io#/#" if scenario == "all" else b"socket.io#/#r0#"
                command = resp(b"PUBLISH" if kind == "pattern" else b"SPUBLISH", channel, payload)
                batch = command * args.pipeline

                expected_reply = b":%d\r\n" % (n if scenario == "all" or kind == "pattern" else 1)
                reply_len = len(expected_reply)

                await publish_pipelined(reader, writer, batch, reply_len * args.pipeline, 10)
                info0 = redis_info(redis_port)
                started = time.monotonic()
                await publish_pipelined(
                    reader, writer, batch, reply_len * args.pipeline, args.messages // args.pipeline
                )
                seconds = time.monotonic() - started
                info1 = redis_info(redis_port)
                for _, w, task in subscribers:
                    task.cancel()
                    w.close()
                writer.close()
            cpu = redis_cpu_us(info1) - redis_cpu_us(info0)
            deliveries = n if scenario == "all" or kind == "pattern" else 1
            rows.append(
                {
                    "scenario": "redis-saturation",
                    "subscription": kind,
                    "target": scenario,
                    "subscribers": n,
                    "messages": args.messages,
                    "payload_bytes": args.payload,
                    "pipeline": args.pipeline,
                    "deliveries_per_message": deliveries,
                    "messages_per_s": round(args.messages / seconds),
                    "redis_cpu_pct": round(100 * cpu / (seconds * 1e6), 1),
                    "redis_cpu_us_per_message": round(cpu / args.messages, 3),
                    "redis_cpu_us_per_delivery": round(cpu / args.messages / deliveries, 3),
                    "redis_out_bytes_per_message": round(
                        (int(info1["total_net_output_bytes"]) - int(info0["total_net_output_bytes"]))
                        / args.messages,
                        1,
                    ),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def own_cpu_us() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1e6


async def client_cost(args: argparse.Namespace) -> list[dict[str, Any]]:
    """What the Redis client library (redis-py, as the adapters use it) costs per message, in this process:
    ``PubSub.get_message`` on messages already waiting, and pipelined ``PUBLISH`` by batches."""
    from redis import utils
    from redis.asyncio import Redis

    rows = []
    payload = b"x" * 144
    n = args.messages
    with redis() as (redis_port, _):
        subscriber, publisher = Redis(port=redis_port), Redis(port=redis_port)
        pubsub = subscriber.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(b"socket.io#/#*")
        await pubsub.get_message(timeout=1.0)
        for batch in (1, 5, 50):
            started = own_cpu_us()
            for _ in range(n // batch):
                pipe = publisher.pipeline(transaction=False)
                for _ in range(batch):
                    pipe.execute_command("PUBLISH", b"socket.io#/#", payload)
                await pipe.execute()
            publish_us = (own_cpu_us() - started) / n
            started = own_cpu_us()
            received = 0
            while received < n:
                if await pubsub.get_message(ignore_subscribe_messages=True, timeout=None) is not None:
                    received += 1
            receive_us = (own_cpu_us() - started) / n
            rows.append(
                {
                    "scenario": "client-cost",
                    "hiredis": bool(utils.HIREDIS_AVAILABLE),
                    "messages": n,
                    "publish_batch": batch,
                    "publish_cpu_us_per_message": round(publish_us, 1),
                    "get_message_cpu_us_per_message": round(receive_us, 1),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        await pubsub.aclose()
        await subscriber.aclose()
        await publisher.aclose()
    return rows


async def main(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    if args.heartbeat:
        rows += await heartbeat(args)
    elif args.channels:
        rows += await channel_memory(args)
    elif args.saturation:
        rows += await redis_saturation(args)
    elif args.client_cost:
        rows += await client_cost(args)
    else:
        for adapter in args.adapters:
            for n in args.nodes:
                rows += await cluster_run(adapter, n, args)
        print()
        print(
            "| adapter | nodes | scenario | rate | pub/sub msgs per bcast | Redis µs/bcast | Redis µs/delivery "
            "| publisher µs | member node µs | other node µs |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['adapter']} | {r['nodes']} | {r['scenario']} | {r['rate']:.0f} | {r.get('pubsub_deliveries_per_bcast', '-')} "
                f"| {r['redis_cpu_us_per_bcast']} | {r.get('redis_cpu_us_per_delivery', '-')} "
                f"| {r['publisher_cpu_us_per_bcast']} | {r['member_node_cpu_us_per_bcast']} "
                f"| {r['other_nodes_cpu_us_per_bcast']} |"
            )
    if args.out:
        meta = {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "args": {k: v for k, v in vars(args).items() if k != "out"},
        }
        with open(args.out, "a") as f:
            for row in rows:
                f.write(json.dumps({**row, "meta": meta}) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapters", default="redis,sharded,streams", type=lambda s: s.split(","))
    parser.add_argument("--nodes", default="2,4,8", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--peer", choices=sorted(PEERS), default="socketeer", help="the nodes' server")
    parser.add_argument("--scenarios", default="all,room", type=lambda s: s.split(","))
    parser.add_argument(
        "--rates",
        default="1000,5000",
        type=lambda s: [float(x) for x in s.split(",")],
        help="broadcasts per second",
    )
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured at each rate")
    parser.add_argument("--sinks", type=int, default=1, help="clients on each node but the publisher")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds of idle baseline before each window")
    parser.add_argument(
        "--heartbeat", action="store_true", help="measure heartbeats instead (one node, no Redis)"
    )
    parser.add_argument(
        "--channels", type=int, default=0, help="measure Redis memory per shard channel instead"
    )
    parser.add_argument("--client-cost", action="store_true", help="redis-py's own CPU per message")
    parser.add_argument("--saturation", action="store_true", help="Redis alone at its limit (raw clients)")
    parser.add_argument("--subscribers", default="2,8,32,128", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--messages", type=int, default=100_000, help="saturation: messages published")
    parser.add_argument("--payload", type=int, default=180, help="saturation: bytes per message")
    parser.add_argument("--pipeline", type=int, default=100, help="saturation: publishes per round trip")
    parser.add_argument("--clients", type=int, default=2000, help="heartbeat: connections")
    parser.add_argument("--duration", type=float, default=5.0, help="heartbeat: seconds measured")
    parser.add_argument("--out", help="append the raw rows (JSON lines) to this file")
    asyncio.run(main(parser.parse_args()))
