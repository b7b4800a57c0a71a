"""Tail latency under load: echo latency (p50, p99, p99.9) at fixed fractions of each server's own
saturation throughput, quiet and under a fan-out storm on other connections.

    benchmarks/latency [--reps 3] [--peers socketeer,node-socketio] [--duration 5] [--warmup 2]

Per repetition and server (a fresh server for every measurement, peers rotated):

1. saturation: the closed-loop ``echo`` scenario of ``bench.py`` (100 clients, 4 in flight);
2. ``echo-rate`` (open loop) at 50 % and 90 % of that rate: 100 clients, the messages due every
   millisecond sent whether or not replies came back, every reply's latency kept (send to receipt on
   the load generator's clock);
3. the 50 % echo again while a storm runs on 1000 other connections (room ``storm``, ~100-byte
   messages, 16 emits in flight, each next one as soon as every receiver has one), and while a big
   storm runs (100 connections, 64 KB messages, 2 in flight).

Cores: the server on CPU 0; the echo load generator on CPU 1; the storm's load generator, a second
process, also on CPU 1 but under ``SCHED_IDLE`` (``chrt --idle``), so that it only takes the time the
echo load generator leaves and never delays its sends or receipts. The storm therefore goes as fast as
the server and that spare time allow; its rate and CPU use are reported with the result.

Use ``benchmarks/latency``, which installs the peers first.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (the runner next to this file: peers, servers, pinning)

#: the storm variants: receivers, payload bytes, emits in flight
STORMS = {"storm": (1000, 80, 16), "big-storm": (100, 65536, 2)}
#: a storm must not push the echo p99 beyond this many times its quiet value
LIMIT = 5.0


def idle_pinned(command: list[str], cpu: int | None) -> list[str]:
    """``command`` on ``cpu`` under SCHED_IDLE: it runs only when nothing else wants that core."""
    pinned = bench.pinned(tuple(command), cpu)
    if shutil.which("chrt") is None:
        return pinned
    return ["chrt", "--idle", "0", *pinned]


def echo_rate(
    peer: bench.Peer, rate: int, args: argparse.Namespace, log: Path, storm: str | None = None
) -> dict[str, Any]:
    port = bench.free_port()
    with bench.server(peer, port, args.server_cpu, log) as proc:
        storm_proc = None
        storm_result: dict[str, Any] = {}
        try:
            if storm is not None:
                clients, payload, window = STORMS[storm]
                clients = max(2, round(clients * args.scale))
                command = [
                    "node", str(HERE / "loadgen.js"), "--scenario", "storm", "--port", str(port),
                    "--server-pid", str(proc.pid), "--clients", str(clients), "--payload", str(payload),
                    "--window", str(window), "--duration", str(args.warmup + args.duration + 30),
                ]  # fmt: skip
                storm_proc = subprocess.Popen(
                    idle_pinned(command, args.loadgen_cpu), stdout=subprocess.PIPE, text=True
                )
                if not _ready(storm_proc, timeout=30):
                    raise RuntimeError("the storm did not start")
            command = [
                "node", str(HERE / "loadgen.js"), "--scenario", "echo-rate", "--port", str(port),
                "--server-pid", str(proc.pid), "--clients", str(max(2, round(args.clients * args.scale))), "--rate", str(rate),
                "--warmup", str(args.warmup), "--duration", str(args.duration),
            ]  # fmt: skip
            done = subprocess.run(
                bench.pinned(tuple(command), args.loadgen_cpu),
                capture_output=True,
                text=True,
                timeout=args.warmup + args.duration + 60,
                check=False,
            )
        finally:
            if storm_proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    storm_proc.send_signal(signal.SIGTERM)
                try:
                    out, _ = storm_proc.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    storm_proc.kill()
                    out, _ = storm_proc.communicate(timeout=5)
                lines = [line for line in out.splitlines() if line.startswith('{"scenario"')]
                storm_result = json.loads(lines[-1]) if lines else {"error": "storm: no result"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": done.stderr[-500:] or "no output"}
    row = {"server": peer.name, "load": storm or "quiet", "target_rate": rate, **result}
    if storm is not None:
        row["storm"] = storm_result
    return row


def _ready(proc: subprocess.Popen[str], timeout: float) -> bool:
    """Wait (bounded) for the storm's {"ready": true} line."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            break
        line = proc.stdout.readline()
        if not line:
            return False
        if '"ready"' in line:
            return True
    return False


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def report(results: list[dict[str, Any]], names: list[str], fractions: list[float]) -> str:
    """A markdown table of medians per server: saturation, p50/p99 at each fraction, p99 under the
    storms and the ratio to the quiet p99 at the same rate."""

    def rows(name: str, load: str, fraction: float | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in results
            if r.get("server") == name
            and r.get("load") == load
            and "error" not in r
            and (fraction is None or r.get("fraction") == fraction)
        ]

    header = ["server", "saturation (msgs/s)"]
    for f in fractions:
        header.append(f"{f:.0%}: p50 / p99 / p99.9 ms")
    for storm in STORMS:
        header.append(f"50% + {storm}: p99 ms (× quiet)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        sat = _median(rows(name, "saturation"), "msgs_per_s")
        cells = [name, "—" if sat is None else f"{sat / 1000:.1f}k"]
        for f in fractions:
            r = rows(name, "quiet", f)
            p50, p99, p999 = (_median(r, k) for k in ("p50_ms", "p99_ms", "p999_ms"))
            cells.append("—" if p99 is None else f"{p50:.2f} / {p99:.2f} / {p999:.2f}")
        for storm in STORMS:
            r = rows(name, storm)
            p99 = _median(r, "p99_ms")
            ratios = [x["storm_ratio"] for x in r if x.get("storm_ratio") is not None]
            ratio = statistics.median(ratios) if ratios else None
            if p99 is None:
                cells.append("—")
                continue
            cell = f"{p99:.2f}" + ("" if ratio is None else f" ({ratio:.1f}×)")
            if ratio is not None and ratio > LIMIT:
                cell += " **over 5×**"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "| server | load | echo msgs/s | server CPU % | echo loadgen CPU % | lag p99 ms | storm deliveries/s | storm MB/s | storm loadgen CPU % |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for load, fraction in [("quiet", f) for f in fractions] + [(s, 0.5) for s in STORMS]:
            r = rows(name, load, fraction)
            if not r:
                continue
            label = f"{fraction:.0%}" + ("" if load == "quiet" else f" + {load}")
            storm_rows = [x["storm"] for x in r if isinstance(x.get("storm"), dict)]
            cells = [
                name,
                label,
                f"{_median(r, 'msgs_per_s') or 0:.0f}",
                f"{_median(r, 'server_cpu_pct') or 0:.0f}",
                f"{_median(r, 'loadgen_cpu_pct') or 0:.0f}",
                f"{_median(r, 'lag_p99_ms') or 0:.2f}",
            ]
            if storm_rows:
                cells += [
                    f"{_median(storm_rows, 'deliveries_per_s') or 0:.0f}",
                    f"{_median(storm_rows, 'mb_per_s') or 0:.0f}",
                    f"{_median(storm_rows, 'loadgen_cpu_pct') or 0:.0f}",
                ]
            else:
                cells += ["—", "—", "—"]
            lines.append("| " + " | ".join(cells) + " |")
    errors = [r for r in results if "error" in r]
    if errors:
        lines.append(
            f"\n{len(errors)} run(s) failed: "
            + "; ".join(f"{r['server']} {r.get('load')}: {str(r['error'])[:120]}" for r in errors)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--peers", default="socketeer,node-socketio")
    parser.add_argument("--fractions", default="0.5,0.9", help="of each server's own saturation rate")
    parser.add_argument("--storms", default=",".join(STORMS), help="storm variants run at the first fraction")
    parser.add_argument("--clients", type=int, default=100, help="echo clients")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply the client counts (0.1 for a quick run)"
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the Python peers")
    parser.add_argument("--out", type=Path, default=None, help="raw results (JSON lines)")
    parser.add_argument(
        "--before-src",
        type=Path,
        default=None,
        help="also measure peer socketeer-before: socketeer from this source tree (a checkout's src/ "
        "before a change), in the same run",
    )
    args = parser.parse_args(argv)
    if args.no_pin:
        args.server_cpu = args.loadgen_cpu = None
    known = bench.peers(args.python)
    if args.before_src is not None:
        peer = known["socketeer"]
        src = str(args.before_src.resolve())
        known["socketeer-before"] = bench.Peer(
            "socketeer-before", ("env", f"PYTHONPATH={src}", *peer.command)
        )
        if "socketeer-before" not in args.peers.split(","):
            args.peers += ",socketeer-before"
    names = [n for n in args.peers.split(",") if n]
    for name in names:
        if name not in known:
            parser.error(f"unknown peer {name!r}: one of {', '.join(known)}")
    fractions = [float(f) for f in args.fractions.split(",") if f]
    storms = [s for s in args.storms.split(",") if s]
    for storm in storms:
        if storm not in STORMS:
            parser.error(f"unknown storm {storm!r}: one of {', '.join(STORMS)}")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or HERE / "results" / f"latency-{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    results: list[dict[str, Any]] = []

    def keep(row: dict[str, Any], rep: int) -> None:
        row.update(rep=rep, ts=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        results.append(row)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if "error" in row:
            shown = str(row["error"])[:200]
        elif row["load"] == "saturation":
            shown = f"{row['msgs_per_s']} msgs/s (closed loop), loadgen CPU {row['loadgen_cpu_pct']}%"
        else:
            shown = (
                f"{row['msgs_per_s']}/{row['target_rate']} msgs/s, p50 {row['p50_ms']} p99 {row['p99_ms']}"
                f" p99.9 {row['p999_ms']} ms, lag p99 {row['lag_p99_ms']} ms, loadgen CPU {row['loadgen_cpu_pct']}%"
            )
            if "storm" in row:
                s = row["storm"]
                shown += (
                    f"; storm {s.get('deliveries_per_s')} deliveries/s, its CPU {s.get('loadgen_cpu_pct')}%"
                )
                if row.get("storm_ratio") is not None:
                    shown += f", p99 {row['storm_ratio']}× quiet"
        print(f"rep {rep} {row['server']:14} {row['load']:10} {shown}", flush=True)

    for rep in range(1, args.reps + 1):
        order = names[rep - 1 :] + names[: rep - 1]  # rotate, so drifts hit every peer alike
        for name in order:
            peer = known[name]
            sat = bench.measure(peer, "echo", args, log)
            sat["load"] = "saturation"
            keep(sat, rep)
            if "error" in sat or not sat.get("msgs_per_s"):
                continue
            quiet_p99: float | None = None
            for fraction in fractions:
                row = echo_rate(peer, round(sat["msgs_per_s"] * fraction), args, log)
                row["fraction"] = fraction
                keep(row, rep)
                if fraction == fractions[0]:
                    quiet_p99 = row.get("p99_ms")
            for storm in storms:
                row = echo_rate(peer, round(sat["msgs_per_s"] * fractions[0]), args, log, storm)
                row["fraction"] = fractions[0]
                if quiet_p99 and row.get("p99_ms") is not None:
                    row["storm_ratio"] = round(row["p99_ms"] / quiet_p99, 2)
                keep(row, rep)
    print()
    print(report(results, names, fractions))
    print(f"\nraw results: {out}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
