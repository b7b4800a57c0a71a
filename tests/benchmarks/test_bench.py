"""benchmarks/: the runner and the load generator work end to end (a tiny, bounded run against the
socketeer peer), and the report computes the medians and ratios it prints."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("socketeer_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_a_tiny_run_measures_every_websocket_and_polling_scenario(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "raw.jsonl"
    code = bench.main(
        [
            "--reps", "1", "--peers", "socketeer", "--scenarios", "echo,ack,fanout,rooms,connect,polling-echo",
            "--warmup", "0.2", "--duration", "0.4", "--scale", "0.02", "--no-pin", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["scenario"] for r in rows] == ["echo", "ack", "fanout", "rooms", "connect", "polling-echo"]
    for row in rows:
        assert row["server"] == "socketeer" and row["errors"] == 0, row
        assert row["messages"] > 0 and row["server_cpu_pct"] >= 0, row
    assert rows[4]["rss_kb_per_conn"] is not None
    assert "| echo (msgs/s · server CPU per message) |" in printed


def test_report_medians_and_ratios(bench: ModuleType) -> None:
    rows = [
        {"server": "socketeer", "scenario": "echo", "msgs_per_s": v, "server_cpu_us_per_msg": c, "loadgen_cpu_pct": 50}
        for v, c in ((100_000, 5.0), (120_000, 4.0), (200_000, 3.0))
    ] + [
        {"server": "node-socketio", "scenario": "echo", "msgs_per_s": 60_000, "server_cpu_us_per_msg": 16.0,
         "loadgen_cpu_pct": 95},
        {"server": "node-socketio", "scenario": "ack", "error": "did not start"},
    ]  # fmt: skip
    table = bench.report(rows, ["node-socketio", "socketeer"])
    assert (
        "| echo (msgs/s · server CPU per message) | 60.0k · 16.0 µs (loadgen-bound) | 120.0k · 4.0 µs |"
        in table
    )
    assert "2.00× throughput, 0.25× CPU" in table
    assert "1 run(s) failed: node-socketio: did not start" in table
