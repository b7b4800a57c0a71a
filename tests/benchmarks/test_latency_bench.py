"""benchmarks/latency_bench.py: a tiny, bounded run end to end against the socketeer peer (saturation,
open-loop echo at two rates, under both storms), and the report's medians, ratios and 5× mark."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def latency() -> ModuleType:
    sys.path.insert(0, str(HERE))  # latency_bench imports bench from its directory
    spec = importlib.util.spec_from_file_location("socketeer_latency_bench", HERE / "latency_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_tiny_run_measures_saturation_rates_and_storms(
    latency: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "raw.jsonl"
    code = latency.main(
        [
            "--reps", "1", "--peers", "socketeer", "--warmup", "0.2", "--duration", "0.5",
            "--scale", "0.02", "--no-pin", "--out", str(out),
        ]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["load"] for r in rows] == ["saturation", "quiet", "quiet", "storm", "big-storm"]
    saturation = rows[0]["msgs_per_s"]
    assert saturation > 0
    for row, fraction in zip(rows[1:], (0.5, 0.9, 0.5, 0.5), strict=True):
        assert row["fraction"] == fraction and row["target_rate"] == round(saturation * fraction), row
        assert row["errors"] == 0 and row["samples"] > 0, row
        assert row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"] <= row["max_ms"], row
    for row, clients in zip(rows[3:], (20, 2), strict=True):
        storm = row["storm"]
        assert storm["clients"] == clients and storm["errors"] == 0 and storm["deliveries"] > 0, storm
        assert row["storm_ratio"] == round(row["p99_ms"] / rows[1]["p99_ms"], 2)
    assert "| socketeer |" in printed


def test_report_marks_a_storm_over_five_times_the_quiet_p99(latency: ModuleType) -> None:
    def row(load: str, fraction: float, p99: float, **extra: object) -> dict[str, object]:
        return {"server": "node-socketio", "load": load, "fraction": fraction, "msgs_per_s": 1000,
                "p50_ms": p99 / 4, "p99_ms": p99, "p999_ms": p99 * 2, "server_cpu_pct": 50,
                "loadgen_cpu_pct": 40, "lag_p99_ms": 1.0, **extra}  # fmt: skip

    rows = [
        {"server": "node-socketio", "load": "saturation", "msgs_per_s": 40_000},
        row("quiet", 0.5, 2.0),
        row("quiet", 0.9, 4.0),
        row(
            "storm",
            0.5,
            6.0,
            storm_ratio=3.0,
            storm={"deliveries_per_s": 5000, "mb_per_s": 1, "loadgen_cpu_pct": 9},
        ),
        row(
            "big-storm",
            0.5,
            12.0,
            storm_ratio=6.0,
            storm={"deliveries_per_s": 50, "mb_per_s": 3, "loadgen_cpu_pct": 5},
        ),
        {"server": "node-socketio", "load": "storm", "error": "the storm did not start"},
    ]
    table = latency.report(rows, ["node-socketio"], [0.5, 0.9])
    assert (
        "| node-socketio | 40.0k | 0.50 / 2.00 / 4.00 | 1.00 / 4.00 / 8.00 | 6.00 (3.0×) | 12.00 (6.0×) **over 5×** |"
        in table
    )
    assert "1 run(s) failed: node-socketio storm: the storm did not start" in table
