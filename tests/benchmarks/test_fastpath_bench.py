"""benchmarks/fastpath_bench.py and http_load.js work end to end: a tiny, bounded run of the HTTP load
loop against the fast-path peer and plain uvicorn (every request answered 200, the CPU accounted)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def fastpath_bench() -> ModuleType:
    sys.path.insert(0, str(BENCHMARKS))  # it imports bench.py beside it
    try:
        spec = importlib.util.spec_from_file_location(
            "socketeer_fastpath_bench", BENCHMARKS / "fastpath_bench.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("flag", ["--fastpath", "--fastapi-only"])
def test_a_tiny_http_run(fastpath_bench: ModuleType, flag: str, tmp_path: Path) -> None:
    args = argparse.Namespace(
        python=sys.executable, server_cpu=None, loadgen_cpu=None, scale=0.04, warmup=0.2, duration=0.5
    )
    row = fastpath_bench.measure_http(flag, args, tmp_path / "log")
    assert "error" not in row, row
    assert row["requests"] > 0 and row["errors"] == 0 and row["status_errors"] == 0
    assert row["server_cpu_us_per_req"] is not None
