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


def test_replay_benchmark_shares_the_cpu_of_a_replay_between_its_parts() -> None:
    # A cache of one customer among eight: most events read their customer's state back.
    flags = ["--customers", "8", "--events", "300", "--every", "100", "--batch", "50", "--cache", "1"]
    flags += ["--shares", "--json"]
    result = run_bench("bench_replay.py", *flags, "--pragma", "cache_size=-4096")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert [row["lines"] for row in rows] == [100, 200, 300]
    for row in rows:
        assert row["events"] == 100 and row["cpu_us"] > 0
        parts = row["parts_us"]
        assert set(parts) == {"load", "engine", "flush", "commit", "rest"}
        assert parts["engine"] > 0 and parts["flush"] > 0
        assert sum(parts.values()) == pytest.approx(row["cpu_us"])  # "rest" is the remainder
    # the later intervals read states back (the first events of each customer find none)
    assert rows[-1]["loads"] > 0 and rows[-1]["elements"] > 0 and rows[-1]["parts_us"]["load"] > 0
    assert all(row["parsed"] >= 0 for row in rows)


def test_replay_benchmark_shares_eager_parses_every_element_it_reads() -> None:
    flags = ["--customers", "8", "--events", "200", "--every", "100", "--batch", "50", "--cache", "1"]
    result = run_bench("bench_replay.py", *flags, "--shares", "--json", "--eager")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    assert rows[-1]["elements"] > 0
    assert all(row["parsed"] == pytest.approx(row["elements"]) for row in rows)


def test_replay_benchmark_shares_refuses_a_run_without_a_store() -> None:
    result = run_bench("bench_replay.py", "--customers", "4", "--events", "20", "--shares", "--db", "memory")
    assert result.returncode != 0 and "not --db memory" in result.stderr
