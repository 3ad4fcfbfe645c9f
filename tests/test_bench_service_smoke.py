"""The service benchmark still runs: `bench/bench_service.py --quick` starts `loyalty serve` on
loopback, sends a bounded load of purchases at concurrency 1 and 16, runs the same events in
process, and prints the table and the targets; every request must have been answered 200.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


def test_quick_service_benchmark_serves_every_request_and_reports_the_targets() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_service.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        # SQLite only: PostgreSQL rows are the full run's (`make bench-service`)
        env={name: value for name, value in os.environ.items() if name != "LOYALTY_TEST_POSTGRES"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in process (SQLite, Loyalty.handle)" in result.stdout
    assert "HTTP <= 1.5x in-process at concurrency 16" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.startswith("SQLite ")]
    assert len(lines) == 2 and all(line.split()[-1] == "0" for line in lines)  # none failed


def test_postgresql_rows_alone_need_a_database_url() -> None:
    """`--stores postgresql` measures only the PostgreSQL rows: without a URL there is nothing to
    measure, and it says so at once rather than running the SQLite cells instead."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_service.py"), "--quick", "--stores", "postgresql"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name != "LOYALTY_TEST_POSTGRES"},
    )
    assert result.returncode == 2
    assert "--stores postgresql needs --postgres URL" in result.stderr
    assert "measuring" not in result.stderr
