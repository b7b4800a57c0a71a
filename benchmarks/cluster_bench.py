"""Cross-node fan-out: 2 servers on one Redis, 500 clients on each, one sender.

socketeer nodes (Redis Streams adapter) against Node ``socket.io`` nodes with the official
``@socket.io/redis-streams-adapter``, in one run, peers alternating each repetition. One client of the
first server emits ``broadcast`` (16 in flight); a delivery is one client receiving it; an emit is done
when all 1000 clients have it. Reported: deliveries per second and the two servers' CPU per delivery
(user + system, from ``/proc``; Redis's own CPU apart)::

    python benchmarks/cluster_bench.py [--reps 3] [--clients 1000] [--duration 5] [--adapter streams]

``--adapter``: ``streams`` (the Redis Streams adapters), ``redis`` (the classic pub/sub adapters:
socketeer's ``RedisAdapter`` against ``createAdapter`` of ``@socket.io/redis-adapter``) or ``sharded``
(``createShardedAdapter``); the peers read it from ``CLUSTER_ADAPTER``.

Needs redis-server on PATH and the npm packages of ``tests/node`` (``npm ci --prefix tests/node``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import free_port, ready

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parent / "tests" / "node" / "node_modules"
PEERS = {
    "socketeer": (sys.executable, str(HERE / "peers" / "socketeer_peer.py")),
    "node-socketio": ("node", str(HERE / "peers" / "node_cluster.js")),
}


@contextlib.contextmanager
def redis() -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="socketeer-bench-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
            ).stdout.strip()
            != "PONG"
        ):  # another process: no event to wait for (bounded)
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def nodes(name: str, redis_port: int, count: int = 2) -> Any:
    procs, ports = [], []
    try:
        for _ in range(count):
            port = free_port()
            env = dict(
                os.environ,
                PORT=str(port),
                REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
                NODE_PATH=str(NODE_MODULES),
            )
            procs.append(subprocess.Popen(PEERS[name], env=env, start_new_session=True))
            ports.append(port)
        deadline = time.monotonic() + 30
        for port in ports:
            while not ready(port):  # bounded: the server is another process
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start")
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


def measure(name: str, args: argparse.Namespace, redis_port: int, redis_pid: int) -> dict[str, Any]:
    subprocess.run(["redis-cli", "-p", str(redis_port), "flushall"], capture_output=True, check=True)
    with nodes(name, redis_port) as (ports, pids):
        time.sleep(0.5)  # let both adapters subscribe and read the stream
        command = [
            "node",
            str(HERE / "loadgen.js"),
            "--scenario",
            "fanout",
            "--clients",
            str(args.clients),
            "--ports",
            ",".join(map(str, ports)),
            "--server-pids",
            ",".join(map(str, pids)),
            "--warmup",
            str(args.warmup),
            "--duration",
            str(args.duration),
        ]
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=args.duration + args.warmup + 90
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["server"] = name
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--adapter", choices=("streams", "redis", "sharded"), default="streams")
    args = parser.parse_args()
    os.environ["CLUSTER_ADAPTER"] = args.adapter
    rows: list[dict[str, Any]] = []
    with redis() as (redis_port, redis_pid):
        for rep in range(args.reps):
            order = list(PEERS) if rep % 2 == 0 else list(reversed(PEERS))
            for name in order:
                row = measure(name, args, redis_port, redis_pid)
                rows.append(row)
                shown = row.get("error") or (
                    f"{row['msgs_per_s']} deliveries/s, {row['server_cpu_us_per_msg']} µs CPU/delivery, "
                    f"servers {row['server_cpu_pct']} % CPU, loadgen {row['loadgen_cpu_pct']} %"
                )
                print(f"rep {rep} {name:14} {shown}", flush=True)
    print(f"\n| 2 nodes x {args.clients // 2} clients, {args.adapter} | deliveries/s | server CPU per delivery |")
    print("|---|---|---|")
    for name in PEERS:
        good = [r for r in rows if r["server"] == name and "error" not in r]
        if good:
            rate = statistics.median(r["msgs_per_s"] for r in good)
            cpu = statistics.median(r["server_cpu_us_per_msg"] for r in good)
            print(f"| {name} | {rate:,.0f} | {cpu:.2f} µs |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
