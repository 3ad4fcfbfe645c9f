"""The checkpoint benchmark still runs: `bench/bench_checkpoint.py` at 12 groups (past the
first background checkpoint, due after 8 commits), one round, both stores. No number is asserted
but that each store was measured, the background one with a checkpoint run."""

from __future__ import annotations

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_checkpoint_benchmark_measures_both_stores() -> None:
    result = run_bench("bench_checkpoint.py", "--groups", "12", "--rounds", "1")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("     1")]
    assert sorted(row[1] for row in rows) == ["background", "commit"]
    for row in rows:
        assert float(row[2]) > 0  # the commit's median, ms
    background = next(row for row in rows if row[1] == "background")
    assert background[10] == "+" and int(background[9]) >= 1  # a checkpoint ran in the background
