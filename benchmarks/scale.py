"""The scale scenario: many idle connections on one server process, socketeer and the official Node server
in the same run (one after the other, each fresh).

    python benchmarks/scale.py [--clients 100000] [--polling] [--peers socketeer,node-socketio]
                               [--ping-interval 5] [--ping-timeout 10] [--hold 20] [--broadcasts 3]

For each peer: ramp to ``--clients`` Socket.IO clients (default namespace connected) with ``--window``
handshakes in flight, let them settle, hold them through several heartbeat intervals (nothing but PINGs
and PONGs), then time ``--broadcasts`` broadcasts to all of them; reports handshakes per second during the
ramp, the server's RSS per connection at rest, its CPU over the hold, the time for one broadcast to reach
every client, and the heartbeats and messages some client missed (must be zero). The load generator
(``scale_loadgen.js``) binds its connections to the source addresses 127.0.0.2, 127.0.0.3, ... so that
their count is not capped by the ephemeral ports of one address. Use ``benchmarks/scale``, which installs
the peers first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import HERE, free_port, peers, pinned, server

SCALE_PEERS = ("socketeer", "node-socketio")


def read_sys(name: str) -> str:
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return "?"


def raise_nofile(needed: int) -> int:
    """Raise this process's descriptor limit (inherited by the servers and the load generator)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(needed, soft)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # as root, the hard limit may go up to fs.nr_open
            nr_open = int(read_sys("fs/nr_open"))
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, nr_open), min(want, nr_open)))
        except (OSError, ValueError):
            pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sources_needed(connections: int, runs: int) -> int:
    """Source addresses so that every run finds free ephemeral ports (the previous runs' closed
    connections hold theirs in TIME_WAIT for a minute)."""
    try:
        low, high = (int(x) for x in read_sys("net/ipv4/ip_local_port_range").split())
        ports = high - low + 1
    except ValueError:
        ports = 28_000
    # Plenty: binding to port 0 on an address whose ports are mostly taken (or in TIME_WAIT) makes
    # the kernel search, and that time is the load generator's (it slowed the second server's ramp)
    return max(16, min(250, math.ceil(connections * runs * 4 / ports) + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--polling", action="store_true", help="HTTP long-polling clients (a held GET each)")
    parser.add_argument("--peers", default=",".join(SCALE_PEERS))
    parser.add_argument("--window", type=int, default=200, help="handshakes in flight during the ramp")
    parser.add_argument("--sources", type=int, default=0, help="source addresses (0: as many as needed)")
    parser.add_argument("--ping-interval", type=float, default=5.0)
    parser.add_argument("--ping-timeout", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between the ramp and the hold")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds at rest (default: 4 intervals)")
    parser.add_argument("--broadcasts", type=int, default=3)
    parser.add_argument("--post-lines", type=int, default=100, help="polling: connections for the POSTs")
    parser.add_argument("--backlog", type=int, default=2048, help="the Node server's listen backlog")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--loadgen-cpu", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the Python peer")
    parser.add_argument("--out", type=Path, default=None, help="raw results (JSON lines)")
    args = parser.parse_args(argv)
    if args.no_pin:
        args.server_cpu = args.loadgen_cpu = None
    hold = args.hold or 4 * args.ping_interval
    known = peers(args.python)
    names = [n for n in args.peers.split(",") if n]
    for name in names:
        if name not in known:
            parser.error(f"unknown peer {name!r}: one of {', '.join(known)}")
    transport = "polling" if args.polling else "websocket"
    # a polling client holds a GET on its connection; the POSTs of all share --post-lines connections
    connections = args.clients + (args.post_lines if args.polling else 0)
    sources = args.sources or sources_needed(connections, len(names))
    nofile = raise_nofile(connections + 10_000)
    somaxconn = read_sys("net/core/somaxconn")
    print(
        f"scale: {args.clients} {transport} clients from {sources} source addresses, descriptors {nofile}, "
        f"somaxconn {somaxconn}, ports {read_sys('net/ipv4/ip_local_port_range')}, "
        f"heartbeat {args.ping_interval:g}/{args.ping_timeout:g} s, hold {hold:g} s",
        flush=True,
    )
    if nofile < connections + 100:
        print(f"scale: {nofile} descriptors are too few for {connections} connections", file=sys.stderr)
        return 2
    os.environ.update(
        PING_INTERVAL=str(args.ping_interval), PING_TIMEOUT=str(args.ping_timeout), BACKLOG=str(args.backlog)
    )
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out: Path = args.out or HERE / "results" / f"scale-{transport}-{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.with_suffix(".log")
    results: list[dict[str, Any]] = []
    for name in names:
        port = free_port()
        with server(known[name], port, args.server_cpu, log) as proc:
            command = [
                "node", str(HERE / "scale_loadgen.js"), "--port", str(port), "--server-pid", str(proc.pid),
                "--clients", str(args.clients), "--transport", transport, "--sources", str(sources),
                "--window", str(args.window), "--ping-interval", str(args.ping_interval),
                "--ping-timeout", str(args.ping_timeout), "--settle", str(args.settle), "--hold", str(hold),
                "--broadcasts", str(args.broadcasts), "--post-lines", str(args.post_lines), "--deadline", "400",
            ]  # fmt: skip
            done = subprocess.run(
                pinned(tuple(command), args.loadgen_cpu),
                capture_output=True,
                text=True,
                timeout=420,
                check=False,
            )
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        row: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": done.stderr[-800:] or "no output"}
        row = {"server": name, **row, "ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        row.update(ping_interval_s=args.ping_interval, ping_timeout_s=args.ping_timeout)
        results.append(row)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    print()
    print(report(results))
    print(f"\nraw results: {out}")
    return (
        1
        if any("error" in r or r.get("missed_heartbeats") or r.get("missed_messages") for r in results)
        else 0
    )


ROWS = (
    ("connected", "clients connected", "{:,}"),
    ("connect_errors", "handshake errors", "{}"),
    ("handshakes_per_s", "handshakes/s during the ramp", "{:,}"),
    ("ramp_server_cpu_us_per_handshake", "server CPU per handshake (µs)", "{:.0f}"),
    ("rss_kb_per_conn", "server RSS per idle connection (KB)", "{:.2f}"),
    ("server_rss_mb", "server RSS, all connected (MB)", "{:.0f}"),
    ("hold_server_cpu_pct", "server CPU at rest, heartbeats only (%)", "{:.1f}"),
    ("heartbeat_cpu_us", "server CPU per heartbeat, PING + PONG (µs)", "{:.1f}"),
    ("broadcast_ms_median", "one broadcast reaching every client (ms, median)", "{:.0f}"),
    ("missed_heartbeats", "clients that missed a heartbeat", "{}"),
    ("missed_messages", "messages missed", "{}"),
)


def report(results: list[dict[str, Any]]) -> str:
    names = [r["server"] for r in results]
    lines = ["| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key, label, fmt in ROWS:
        cells = []
        for row in results:
            value = row.get(key)
            cells.append("—" if value is None else fmt.format(value))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for row in results:
        if "error" in row:
            lines.append(f"\n{row['server']} failed: {str(row['error'])[:300]}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
