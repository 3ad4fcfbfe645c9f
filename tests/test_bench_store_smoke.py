"""The store benchmark still runs: `bench/bench_store.py --quick --json` exits 0 and measures every
row it can (PostgreSQL too when the test server is there). No timing is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# The pure pass of `make test` runs it; the compiled pass leaves it out (-m "not bench").
pytestmark = pytest.mark.bench


def test_quick_store_benchmark_runs_every_row() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_store.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [(row["name"], row["workers"]) for row in rows] == [
        ("engine alone", 1),
        ("memory store", 1),
        ("SQLite normal", 1),
        ("SQLite", 1),
        ("SQLite", 4),
        ("PostgreSQL", 1),
        ("PostgreSQL", 4),
    ]
    measured = [row for row in rows if row["skipped"] is None]
    assert all(row["per_second"] > 0 for row in measured)
    if os.environ.get("LOYALTY_TEST_POSTGRES"):
        assert len(measured) == len(rows)
