"""``socketeer serve --workers N`` against one process: echo and fan-out throughput, in one run::

    python benchmarks/workers_bench.py [--workers 2] [--reps 3] [--duration 5]

The server is ``benchmarks/peers/socketeer_peer.py``'s ``io`` under ``socketeer serve`` (1 process, then
N workers on one port sharing the in-machine cluster adapter); the load generator is ``loadgen.js``
(echo: 100 clients x 4 in flight; fanout: 1000 clients, one sender). CPU is the server process tree's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import free_port, ready

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def server(workers: int):  # type: ignore[no-untyped-def]
    port = free_port()
    command = [sys.executable, "-m", "socketeer", "serve", "socketeer_peer:io", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    proc = subprocess.Popen(command, cwd=HERE / "peers", stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ready(port):  # another process: no event to wait for (bounded)
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        time.sleep(0.5 if workers > 1 else 0)  # every worker up and in the hub
        yield port, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--scenarios", default="echo,fanout")
    args = parser.parse_args()
    rows = []
    for rep in range(args.reps):
        for scenario in args.scenarios.split(","):
            for workers in (1, args.workers) if rep % 2 == 0 else (args.workers, 1):
                with server(workers) as (port, pid):
                    out = subprocess.run(
                        [
                            "node",
                            str(HERE / "loadgen.js"),
                            "--scenario",
                            scenario,
                            "--port",
                            str(port),
                            "--server-pid",
                            str(pid),
                            "--warmup",
                            "2",
                            "--duration",
                            str(args.duration),
                        ],
                        capture_output=True,
                        text=True,
                        timeout=args.duration + 90,
                    )
                row = json.loads(out.stdout.strip().splitlines()[-1])
                row.update(workers=workers)
                rows.append(row)
                print(
                    f"rep {rep} {scenario:7} workers={workers} {row.get('msgs_per_s')} msg/s, "
                    f"server {row.get('server_cpu_pct')} % CPU, loadgen {row.get('loadgen_cpu_pct')} %",
                    flush=True,
                )
    print(f"\n| scenario | 1 process | {args.workers} workers | ratio |")
    print("|---|---|---|---|")
    for scenario in args.scenarios.split(","):
        one = statistics.median(
            r["msgs_per_s"] for r in rows if r["scenario"] == scenario and r["workers"] == 1
        )
        many = statistics.median(
            r["msgs_per_s"] for r in rows if r["scenario"] == scenario and r["workers"] == args.workers
        )
        print(f"| {scenario} | {one:,.0f} | {many:,.0f} | {many / one:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
