"""The service benchmark's per-worker report still runs: `bench/bench_service.py --workers 2`
prints, for each run, the client connections each worker held and its requests' p50 / p99 (from
the answers' request ids), the split the two-worker p99 depends on.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_two_workers_report_each_workers_connections_and_latencies() -> None:
    result = run_bench(
        "bench_service.py",
        *("--workers", "2", "--concurrency", "16", "--requests", "160", "--repeat", "1"),
        *("--stores", "sqlite"),
        env={name: value for name, value in os.environ.items() if name != "LOYALTY_TEST_POSTGRES"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "SQLite, 2 workers, concurrency 16:" in line)
    split = re.search(r": (\d+)/(\d+) conn\., ([\d.]+) / ([\d.]+), ([\d.]+) / ([\d.]+)$", line)
    assert split is not None, line
    held = sorted(int(split[n]) for n in (1, 2))
    assert sum(held) == 16 and held[0] >= 16 // 3, line  # both workers served, shared evenly
