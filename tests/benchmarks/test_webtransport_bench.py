"""benchmarks/webtransport_bench.py: a tiny, bounded run of both scenarios over both transports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "webtransport_bench.py"


def test_a_tiny_run_measures_echo_and_fanout_on_both_transports(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("socketeer_wt_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    argv = ["--clients", "2", "--fanout-clients", "3", "--warmup", "0.1", "--duration", "0.3", "--no-pin"]
    assert module.main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["scenario"], r["transport"]) for r in rows] == [
        ("echo", "webtransport"), ("echo", "websocket"), ("fanout", "webtransport"), ("fanout", "websocket")
    ]  # fmt: skip
    assert rows[0]["msgs_per_s"] > 0 and rows[2]["deliveries_per_s"] > 0
