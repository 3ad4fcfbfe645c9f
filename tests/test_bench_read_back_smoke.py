"""The read-back benchmark still runs: `bench/bench_read_back.py` at a short history, one round,
eager and lazy into copies of one database (which it checks hold the same rows). No number is
asserted but that they were measured."""

from __future__ import annotations

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_read_back_benchmark_measures_eager_and_lazy_reads() -> None:
    flags = ["--histories", "5", "--customers", "2", "--each", "2", "--rounds", "1"]
    result = run_bench("bench_read_back.py", *flags)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if not line.startswith(("#", " history"))]
    assert len(rows) == 1 and rows[0][0] == "5"
    assert float(rows[0][1]) > 0 and float(rows[0][2]) > 0
