"""The store benchmark still runs: `bench/bench_store.py --quick --json` exits 0 and measures every
row it can (PostgreSQL too when the test server is there). No timing is asserted."""

from __future__ import annotations

import json
import os

import pytest

from tests.benches import run_bench

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


def test_quick_store_benchmark_runs_every_row() -> None:
    result = run_bench("bench_store.py", "--quick", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    names = [
        "memory",
        "SQLite per event",
        "SQLite batched",
        "SQLite per event, working",
        "SQLite batched, working",
        "PostgreSQL per event",
    ]
    assert [(row["name"], row["history"]) for row in rows] == [
        (name, history) for history in (15, 100, 1000) for name in names
    ]
    measured = [row for row in rows if row["skipped"] is None]
    assert all(row["us_per_event"] > 0 for row in measured)
    assert all(row["bytes_per_event"] > 0 for row in measured if row["name"].startswith("SQLite"))
    if os.environ.get("LOYALTY_TEST_POSTGRES"):
        assert len(measured) == len(rows)


def test_the_pages_count_names_the_table_of_every_page_an_event_wrote() -> None:
    result = run_bench("bench_store.py", "--pages", "--quick")
    assert result.returncode == 0, result.stderr
    rows = [
        (line[:17].strip(), line[17:].split())
        for line in result.stdout.splitlines()
        if line.startswith("SQLite")
    ]
    assert [(name, row[0]) for name, row in rows] == [("SQLite per event", "15"), ("SQLite batched", "15")]
    for _, row in rows:
        per_commit, per_event = float(row[1]), float(row[2])
        assert per_commit + 0.05 >= per_event > 0  # pages a commit printed to 0.1, an event to 0.01
        assert "customer_lists" in row and "(free)" not in row  # every page is some table's
