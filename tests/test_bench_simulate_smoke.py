"""The simulate benchmark still runs: `bench/bench_simulate.py --quick` generates a small history,
checks that the plain loop and `simulate` (1 and 2 processes) agree, times them and prints the
targets; it exits 0 only when they agree.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_quick_simulate_benchmark_agrees_and_reports_the_targets() -> None:
    result = run_bench("bench_simulate.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DISAGREES" not in result.stdout
    assert "no disagreement" in result.stdout
    for row in ("plain loop (engine alone)", "simulate, 1 process", "simulate, 2 processes", "--compare"):
        assert row in result.stdout
    assert result.stdout.count("[met]") + result.stdout.count("[MISSED]") == 3
