"""Is the one-port fast path worth it? Socket.IO and a FastAPI application on one port, three ways.

    python benchmarks/fastpath_bench.py [--reps 3] [--duration 5] [--warmup 2] [--scale 1.0]

Socket.IO echo and fan-out (benchmarks/loadgen.js), server CPU per message, for
``socketeer-fastapi-asgi`` (``ASGIApp(io, fastapi_app)`` under uvicorn), ``socketeer-fastpath``
(``io.run(app=fastapi_app)``) and plain ``socketeer`` (standalone, no application); then the FastAPI
application's own HTTP (a small JSON endpoint, keep-alive, benchmarks/http_load.js): requests/s and
server CPU per request under plain uvicorn (``--fastapi-only``) and handed over by the fast path.
Each server starts fresh for each measurement, pinned to one core, the load generator to the other.
Needs fastapi and uvicorn in the peers' interpreter (``--python``).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench

HERE = Path(__file__).resolve().parent
SIO_PEERS = ("socketeer-fastapi-asgi", "socketeer-fastpath", "socketeer")
HTTP_PEERS = {"uvicorn (FastAPI alone)": "--fastapi-only", "socketeer fast path": "--fastpath"}


def http_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /api/item HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            return answer.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def http_server(command: list[str], port: int, cpu: int | None, log: Path) -> Any:
    return bench.process(" ".join(command), tuple(command), port, cpu, log, http_ready)


def measure_http(flag: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    port = bench.free_port()
    command = [args.python, str(HERE / "peers" / "socketeer_peer.py"), flag]
    with http_server(command, port, args.server_cpu, log) as proc:
        load = [
            "node", str(HERE / "http_load.js"), "--port", str(port), "--server-pid", str(proc.pid),
            "--connections", str(max(1, round(50 * args.scale))),
            "--warmup", str(args.warmup), "--duration", str(args.duration),
        ]  # fmt: skip
        done = subprocess.run(
            bench.pinned(tuple(load), args.loadgen_cpu),
            capture_output=True,
            text=True,
            timeout=args.warmup + args.duration + 60,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": done.stderr[-500:] or "no output"}


def med(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out: Path = args.out or HERE / "results" / f"fastpath-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    known = bench.peers(args.python)
    sio: list[dict[str, Any]] = []
    http: list[dict[str, Any]] = []
    with out.open("a") as raw:
        for rep in range(args.reps):
            for scenario in ("echo", "fanout"):
                for name in SIO_PEERS[rep % 3 :] + SIO_PEERS[: rep % 3]:  # rotate the order
                    row = {
                        "rep": rep,
                        "scenario": scenario,
                        **bench.measure(known[name], scenario, args, log),
                    }
                    sio.append(row)
                    raw.write(json.dumps(row) + "\n")
                    print(json.dumps(row), file=sys.stderr, flush=True)
            for label, flag in list(HTTP_PEERS.items())[rep % 2 :] + list(HTTP_PEERS.items())[: rep % 2]:
                row = {"rep": rep, "scenario": "http", "server": label, **measure_http(flag, args, log)}
                http.append(row)
                raw.write(json.dumps(row) + "\n")
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"\nmedians of {args.reps} runs; server pinned to one core, load generator to the other\n")
    print("| Socket.IO | " + " | ".join(SIO_PEERS) + " |")
    print("|---|" + "---|" * len(SIO_PEERS))
    for scenario in ("echo", "fanout"):
        cells = []
        for name in SIO_PEERS:
            rows = [
                r for r in sio if r["scenario"] == scenario and r.get("server") == name and "error" not in r
            ]
            rate, cpu = med(rows, "msgs_per_s"), med(rows, "server_cpu_us_per_msg")
            cells.append("—" if rate is None or cpu is None else f"{bench.fmt_rate(rate)}/s · {cpu:.1f} µs")
        print(f"| {scenario} (msgs/s · server CPU per message) | " + " | ".join(cells) + " |")
    print("\n| FastAPI GET /api/item, keep-alive | requests/s | server CPU per request |")
    print("|---|---|---|")
    for label in HTTP_PEERS:
        rows = [r for r in http if r["server"] == label and "error" not in r]
        rate, cpu = med(rows, "requests_per_s"), med(rows, "server_cpu_us_per_req")
        print(
            f"| {label} | {'—' if rate is None else f'{rate:.0f}'} | {'—' if cpu is None else f'{cpu:.1f} µs'} |"
        )
    failed = [r for r in sio + http if "error" in r]
    if failed:
        print(f"\n{len(failed)} run(s) failed: " + "; ".join(str(r["error"])[:120] for r in failed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
