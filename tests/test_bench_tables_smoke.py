"""The tables benchmark still runs: `bench/bench_tables.py --quick` makes two small tables, turns
each into events with the bounded reader and the whole-table one, each in a process of its own,
and prints their peak memory and the target.

No memory figure is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_quick_tables_benchmark_reports_the_target() -> None:
    result = run_bench("bench_tables.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    for reader in ("bounded", "whole"):
        assert result.stdout.count(f"\n{reader} ") == 2, result.stdout
    assert result.stdout.count("[met]") + result.stdout.count("[MISSED]") == 1
