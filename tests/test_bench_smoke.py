"""The benchmark still runs: `bench/bench_dsl.py --quick` exits 0 and reports every condition.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import pytest

from tests.benches import run_bench

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


def test_quick_benchmark_runs_and_names_every_condition() -> None:
    result = run_bench("bench_dsl.py", "--quick")
    assert result.returncode == 0, result.stderr
    for condition in ("C1", "C2", "C3"):
        assert condition in result.stdout
