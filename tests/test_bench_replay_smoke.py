"""The replay benchmark still runs: `bench/bench_replay.py` on a tiny generated stream, into SQLite and
in memory, samples the run's RSS and CPU time and gives its verdicts; with `--workers 1 2`, a row per
worker count. No number is asserted but that they were measured."""

from __future__ import annotations

import json

import pytest

from tests.benches import run_bench

# A few seconds: marker `bench` (`pytest -m "not bench"` leaves it out of a quick run by hand).
pytestmark = pytest.mark.bench


@pytest.mark.parametrize("db", [None, "memory"])
def test_replay_benchmark_samples_a_tiny_stream(db: str | None) -> None:
    flags = ["--customers", "8", "--events", "400", "--every", "100", "--cache", "4", "--json"]
    result = run_bench("bench_replay.py", *flags, *([] if db is None else ["--db", db]))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["lines"] == 400 and report["returncode"] in (0, 1)
    assert ("--db" in report["command"]) == (db is None)
    assert db is not None or any(part.endswith("&cache=4") for part in report["command"])
    assert report["cpu_s"] > 0 and report["peak_mb"] > 0 and report["under_target"] is True
    samples = report["samples"]
    assert [sample["lines"] for sample in samples] == [100, 200, 300, 400][: len(samples)]
    assert all(sample["rss_mb"] > 0 for sample in samples)


def test_replay_benchmark_compares_worker_counts_on_one_stream() -> None:
    flags = ["--customers", "8", "--events", "200", "--workers", "1", "2", "--repeat", "1", "--json"]
    result = run_bench("bench_replay.py", *flags)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [row["workers"] for row in rows] == [1, 2]
    for row in rows:
        assert row["lines"] == 200 and row["returncodes"][0] in (0, 1)
        assert row["wall_s"][0] > 0 and row["cpu_s"][0] > 0 and row["events_per_s"] > 0
    assert rows[0]["speedup"] == 1.0 and rows[1]["speedup"] > 0
