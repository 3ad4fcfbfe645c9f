"""The service benchmark's per-worker report: `bench/bench_service.py --workers 2` prints, for
each run, the client connections each worker held and its requests' p50 / p99 (from the answers'
request ids) — the split a two-worker p99 depends on (the workers share one listening socket, and
the one that was on a core when the clients connected keeps more of them: bench/README.md, "The
20:45 merge measured quietly").

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from tests.benches import run_bench
from tests.conftest import ROOT


def test_shares_split_a_run_by_the_worker_that_answered() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_service
    finally:
        sys.path.remove(str(ROOT / "bench"))
    latencies = [0.010, 0.020, 0.030, 0.040, 0.100, 0.001]
    load = bench_service.Load(
        seconds=1.0,
        latencies=latencies,
        workers=["a", "b", "a", "a", "b", "a"],
        connections=["a", "a", "b"],
    )
    shares = bench_service.shares(load)
    assert [(s.connections, s.requests) for s in shares] == [(2, 4), (1, 2)]  # most connections first
    held_by_a = [0.010, 0.030, 0.040, 0.001]
    assert shares[0].p50_ms == bench_service.percentile(held_by_a, 0.50) * 1000
    assert shares[0].p99_ms == bench_service.percentile(held_by_a, 0.99) * 1000
    assert shares[1].p99_ms == bench_service.percentile([0.020, 0.100], 0.99) * 1000


@pytest.mark.bench
def test_two_workers_report_each_workers_connections_and_latencies() -> None:
    result = run_bench(
        "bench_service.py",
        *("--workers", "2", "--concurrency", "16", "--requests", "160", "--repeat", "1"),
        *("--stores", "sqlite"),
        env={name: value for name, value in os.environ.items() if name != "LOYALTY_TEST_POSTGRES"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "SQLite, 2 workers, concurrency 16:" in line)
    split = re.search(r": ([\d/]+) conn\., ((?:[\d.]+ / [\d.]+(?:, )?)+)$", line)
    assert split is not None, line
    held = [int(part) for part in split[1].split("/")]
    assert sum(held) == 16, line  # every client connection was answered by one of the workers
    assert len(split[2].split(", ")) == len(held) <= 2, line  # a p50 / p99 for each worker that answered


def test_a_failed_answer_is_counted_by_its_status_and_error_code() -> None:
    """The report names what failed (bench/README.md: failed requests seen under load, statuses
    not known until then): the problem's code beside the status, the status alone otherwise."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_service
    finally:
        sys.path.remove(str(ROOT / "bench"))
    problem = b'{"type": "about:blank", "status": 503, "code": "RE810", "title": "busy"}'
    assert bench_service.failure(503, problem) == "503 RE810"
    assert bench_service.failure(500, b"Internal Server Error") == "500"
    assert bench_service.failure(502, b"[1, 2]") == "502"
    assert bench_service.failure(422, b'{"code": 7}') == "422"
