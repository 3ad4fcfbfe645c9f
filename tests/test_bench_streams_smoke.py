"""The stream benchmark still runs: `bench/bench_streams.py --quick` checks the hand-written coffee-club
processor against the engine event by event, then times both; it exits 0 only when they agree.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import pytest

from tests.benches import run_bench

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


def test_quick_stream_benchmark_agrees_and_reports_the_targets() -> None:
    result = run_bench("bench_streams.py", "--quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DISAGREES" not in result.stdout
    assert "no disagreement" in result.stdout
    for candidate in ("hand-written", "engine, explain off", "engine, explain on", "engine, streaming API"):
        assert candidate in result.stdout
    assert "part 2: >= 50,000 events/s" in result.stdout
    assert "bench/bench_engine.py prints them" in result.stdout  # issue 12's targets: one bench each


def test_the_working_state_costs_are_measured() -> None:
    result = run_bench("bench_streams.py", "--working")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "public(fresh)" in result.stdout and "1,000" in result.stdout
