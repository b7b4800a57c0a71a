"""The benchmark runner: every peer server started fresh for every measurement, pinned to one core, the
load generator (loadgen.js) pinned to the other; results appended as JSON lines; medians and ratios
printed at the end.

    python benchmarks/bench.py [--reps 3] [--scenarios echo,ack,...] [--peers socketeer,node-socketio]
                               [--duration 5] [--warmup 2] [--scale 1.0] [--out FILE]
    python benchmarks/bench.py --peers asgi --scenarios echo,ack,fanout   # the ASGI path against its floors
    python benchmarks/bench.py --from FILE [--from FILE ...]              # the tables of earlier raw results

Use ``benchmarks/run``, which installs the peers first.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PEERS_DIR = HERE / "peers"
NODE_MODULES = HERE / "node" / "node_modules"

SCENARIOS = ("echo", "ack", "fanout", "rooms", "connect", "polling-echo")
#: what one "message" is in each scenario, for the table
UNITS = {
    "echo": "msgs/s",
    "ack": "acks/s",
    "fanout": "deliveries/s",
    "rooms": "deliveries/s",
    "connect": "handshakes/s",
    "polling-echo": "msgs/s",
}
#: client counts scaled by --scale (the in-flight windows are not)
CLIENTS = {"echo": 100, "ack": 100, "fanout": 1000, "rooms": 1000, "connect": 5000, "polling-echo": 50}


@dataclass(frozen=True)
class Peer:
    name: str
    command: tuple[str, ...]
    scenarios: tuple[str, ...] = SCENARIOS


#: the scenarios of the floors (bare apps that answer echo, ack and broadcast only)
FLOOR_SCENARIOS = ("echo", "ack", "fanout")
#: socketeer peer -> the floor of the same server (what socketeer adds = the peer minus its floor)
FLOORS = {
    "socketeer": "floor-standalone",
    "socketeer-asgi": "floor-uvicorn",
    "socketeer-hypercorn": "floor-hypercorn",
    "socketeer-granian": "floor-granian",
}
#: named peer sets for --peers; ``asgi`` is the comparison of the ASGI path with the standalone one
PEER_SETS = {
    "asgi": ",".join(name for pair in FLOORS.items() for name in pair[::-1]),
}


def peers(python: str) -> dict[str, Peer]:
    asgi_run = str(PEERS_DIR / "asgi_run.py")
    known = {
        "node-socketio": Peer("node-socketio", ("node", str(PEERS_DIR / "node_socketio.js"))),
        "python-socketio": Peer("python-socketio", (python, str(PEERS_DIR / "pysio_uvicorn.py"))),
        "socketeer": Peer("socketeer", (python, str(PEERS_DIR / "socketeer_peer.py"))),
        # the ASGI app under uvicorn (httptools, websockets), hypercorn and granian
        "socketeer-asgi": Peer(
            "socketeer-asgi",
            (python, asgi_run, "uvicorn", "socketeer_peer:asgi_app"),
            ("echo", "ack", "fanout", "rooms"),
        ),
        "socketeer-hypercorn": Peer(
            "socketeer-hypercorn",
            (python, asgi_run, "hypercorn", "socketeer_peer:asgi_app"),
            ("echo", "ack", "fanout", "rooms"),
        ),
        "socketeer-granian": Peer(
            "socketeer-granian",
            (python, asgi_run, "granian", "socketeer_peer:asgi_app"),
            ("echo", "ack", "fanout", "rooms"),
        ),
        # the floors: each server with nothing on top (peers/standalone_floor.py, peers/asgi_floor.py)
        "floor-standalone": Peer(
            "floor-standalone", (python, str(PEERS_DIR / "standalone_floor.py")), FLOOR_SCENARIOS
        ),
        # a FastAPI application on the same port: Socket.IO on the standalone server's path (io.run(app=...)),
        # and ASGIApp(io, fastapi_app) under uvicorn (benchmarks/fastpath_bench.py compares them)
        "socketeer-fastpath": Peer(
            "socketeer-fastpath",
            (python, str(PEERS_DIR / "socketeer_peer.py"), "--fastpath"),
            ("echo", "fanout", "polling-echo"),
        ),
        "socketeer-fastapi-asgi": Peer(
            "socketeer-fastapi-asgi",
            (python, str(PEERS_DIR / "socketeer_peer.py"), "--fastapi-asgi"),
            ("echo", "fanout"),
        ),
        # with Prometheus metrics on (socketeer.metrics): what counting costs
        "socketeer-metrics": Peer(
            "socketeer-metrics",
            (python, str(PEERS_DIR / "socketeer_peer.py"), "--metrics"),
            ("echo", "fanout"),
        ),
    }
    before = os.environ.get("SOCKETEER_BEFORE_SRC")
    if before:  # socketeer from another source tree (an older commit's src/), in the same run: `--before-src`
        known["socketeer-before"] = Peer(
            "socketeer-before", ("env", f"PYTHONPATH={before}", python, str(PEERS_DIR / "socketeer_peer.py"))
        )
    for server in ("uvicorn", "hypercorn", "granian"):
        name = f"floor-{server}"
        known[name] = Peer(name, (python, asgi_run, server, "asgi_floor:app"), FLOOR_SCENARIOS)
    return known


def pinned(command: tuple[str, ...], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return list(command)
    return ["taskset", "-c", str(cpu), *command]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(port: int) -> bool:
    """The server answers an Engine.IO polling handshake."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(
                b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
            return b'0{"sid"' in answer
    except OSError:
        return False


@contextlib.contextmanager
def server(peer: Peer, port: int, cpu: int | None, log: Path) -> Any:
    with process(peer.name, peer.command, port, cpu, log) as proc:
        yield proc


@contextlib.contextmanager
def process(
    name: str,
    command: tuple[str, ...],
    port: int,
    cpu: int | None,
    log: Path,
    is_ready: Callable[[int], bool] = ready,
) -> Any:
    """Run ``command`` (PORT set, pinned to ``cpu``) until ``is_ready(port)``; stop its process group after."""
    env = dict(os.environ, PORT=str(port), NODE_PATH=str(NODE_MODULES))
    with log.open("ab") as out:
        proc = subprocess.Popen(
            pinned(command, cpu), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not is_ready(port):  # another process: no event to wait for, so ask (bounded)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start (see {log})")
            time.sleep(0.1)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def measure(peer: Peer, scenario: str, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    port = free_port()
    clients = max(10, round(CLIENTS[scenario] * args.scale))
    with server(peer, port, args.server_cpu, log) as proc:
        command = [
            "node", str(HERE / "loadgen.js"), "--scenario", scenario, "--port", str(port),
            "--server-pid", str(proc.pid), "--clients", str(clients),
            "--warmup", str(args.warmup), "--duration", str(args.duration),
        ]  # fmt: skip
        if scenario == "rooms":  # 10 clients per room, at any scale
            command += ["--rooms", str(max(1, clients // 10))]
        timeout = args.warmup + args.duration + 90
        done = subprocess.run(
            pinned(tuple(command), args.loadgen_cpu),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": done.stderr[-500:] or "no output"}
    return {"server": peer.name, **result}


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.1f}k" if value >= 10_000 else f"{value:.0f}"


def fmt_cost(row: dict[str, float | None], scenario: str) -> str:
    if scenario == "connect" and row.get("rss_kb_per_conn") is not None:
        return f"{row['rss_kb_per_conn']:.1f} KB"
    cpu = row.get("server_cpu_us_per_msg")
    return "—" if cpu is None else f"{cpu:.1f} µs"


def report(results: list[dict[str, Any]], names: list[str]) -> str:
    """A markdown table: per scenario and peer, median throughput · server CPU per message (KB per
    connection for connect), then socketeer's ratios to the other peers."""
    table: dict[tuple[str, str], dict[str, float | None]] = {}
    for row in results:
        if "error" in row:
            continue
        key = (row["scenario"], row["server"])
        table.setdefault(key, {})
    for scenario, name in table:
        rows = [
            r
            for r in results
            if r.get("scenario") == scenario and r.get("server") == name and "error" not in r
        ]
        table[(scenario, name)] = {
            k: median(rows, k)
            for k in (
                "msgs_per_s",
                "server_cpu_us_per_msg",
                "rss_kb_per_conn",
                "server_cpu_pct",
                "loadgen_cpu_pct",
            )
        }
    others = [n for n in names if not n.startswith(("socketeer", "floor-"))]
    header = ["scenario", *names, *(f"socketeer vs {n}" for n in others)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario in SCENARIOS:
        if not any(s == scenario for s, _ in table):
            continue
        cost = "server memory per connection" if scenario == "connect" else "server CPU per message"
        cells = [f"{scenario} ({UNITS[scenario]} · {cost})"]
        for name in names:
            row = table.get((scenario, name))
            if row is None:
                cells.append("—")
                continue
            # the load generator near its core's limit: throughput is a lower bound for that server
            bound = " (loadgen-bound)" if (row["loadgen_cpu_pct"] or 0) >= 90 else ""
            cells.append(f"{fmt_rate(row['msgs_per_s'])} · {fmt_cost(row, scenario)}{bound}")
        ours = table.get((scenario, "socketeer"))
        for name in others:
            theirs = table.get((scenario, name))
            if ours is None or theirs is None or not theirs["msgs_per_s"] or not ours["msgs_per_s"]:
                cells.append("—")
                continue
            ratio = f"{ours['msgs_per_s'] / theirs['msgs_per_s']:.2f}× throughput"
            if ours["server_cpu_us_per_msg"] and theirs["server_cpu_us_per_msg"]:
                ratio += f", {ours['server_cpu_us_per_msg'] / theirs['server_cpu_us_per_msg']:.2f}× CPU"
            cells.append(ratio)
        lines.append("| " + " | ".join(cells) + " |")
    errors = [r for r in results if "error" in r]
    if errors:
        lines.append(
            f"\n{len(errors)} run(s) failed: "
            + "; ".join(f"{r['server']}: {r['error'][:120]}" for r in errors)
        )
    return "\n".join(lines)


def added_report(results: list[dict[str, Any]]) -> str:
    """What socketeer adds to each server's floor, per scenario (medians of server CPU µs per message),
    and that against what it adds on the standalone path."""

    def cost(scenario: str, name: str) -> float | None:
        rows = [
            r
            for r in results
            if r.get("scenario") == scenario and r.get("server") == name and "error" not in r
        ]
        return median(rows, "server_cpu_us_per_msg")

    lines = [
        "| server | scenario | floor µs/msg | socketeer µs/msg | added µs | added vs standalone added |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in FLOOR_SCENARIOS:
        base_floor, base = cost(scenario, "floor-standalone"), cost(scenario, "socketeer")
        standalone_added = None if base_floor is None or base is None else base - base_floor
        for ours, floor in FLOORS.items():
            f, o = cost(scenario, floor), cost(scenario, ours)
            if f is None or o is None:
                continue
            added = o - f
            server = "standalone" if ours == "socketeer" else floor.removeprefix("floor-")
            versus = (
                f"{added / standalone_added:.2f}×"
                if standalone_added is not None and standalone_added > 0 and ours != "socketeer"
                else "—"
            )
            lines.append(f"| {server} | {scenario} | {f:.2f} | {o:.2f} | {added:.2f} | {versus} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--peers", default="node-socketio,python-socketio,socketeer")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the client counts (0.1 for a quick run)"
    )
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the Python peers")
    parser.add_argument("--out", type=Path, default=None, help="raw results (JSON lines)")
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        action="append",
        default=[],
        help="measure nothing: print the tables of these raw results (repeatable)",
    )
    parser.add_argument(
        "--before-src",
        type=Path,
        default=None,
        help="an older checkout's src/ directory: adds the peer socketeer-before, socketeer from that tree",
    )
    args = parser.parse_args(argv)
    if args.before_src is not None:
        os.environ["SOCKETEER_BEFORE_SRC"] = str(args.before_src.resolve())
    args.peers = ",".join(PEER_SETS.get(name, name) for name in args.peers.split(","))
    if args.sources:
        rows = [
            json.loads(line) for source in args.sources for line in source.read_text().splitlines() if line
        ]
        seen = list(dict.fromkeys(r["server"] for r in rows))
        print(report(rows, [n for n in args.peers.split(",") if n in seen] or seen))
        added = added_report(rows)
        if added:
            print("\n" + added)
        return 0
    if args.no_pin:
        args.server_cpu = args.loadgen_cpu = None
    known = peers(args.python)
    names = [n for n in args.peers.split(",") if n]
    scenarios = [s for s in args.scenarios.split(",") if s]
    for name in names:
        if name not in known:
            parser.error(f"unknown peer {name!r}: one of {', '.join(known)}")
    for scenario in scenarios:
        if scenario not in SCENARIOS:
            parser.error(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or HERE / "results" / f"run-{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    results: list[dict[str, Any]] = []
    for rep in range(1, args.reps + 1):
        for scenario in scenarios:
            order = names[rep - 1 :] + names[: rep - 1]  # rotate, so drifts hit every peer alike
            for name in order:
                peer = known[name]
                if scenario not in peer.scenarios:
                    continue
                row = measure(peer, scenario, args, log)
                row.update(rep=rep, ts=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
                results.append(row)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                shown = (
                    row.get("error")
                    or f"{row['msgs_per_s']} {UNITS[scenario]}, {row['server_cpu_us_per_msg']} µs/msg"
                )
                print(f"rep {rep} {scenario:13} {name:16} {shown}", flush=True)
    print()
    print(report(results, names))
    added = added_report(results)
    if added:
        print("\n" + added)
    print(f"\nraw results: {out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
