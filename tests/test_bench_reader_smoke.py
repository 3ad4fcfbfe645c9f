"""The reader benchmark still runs: `bench/bench_reader.py --quick --json` exits 0 (the reader and
the model read every event of its stream alike) and measures every row. No timing is asserted."""

from __future__ import annotations

import json

import pytest

from tests.benches import run_bench

pytestmark = pytest.mark.bench


def test_quick_reader_benchmark_agrees_and_measures_every_row() -> None:
    result = run_bench("bench_reader.py", "--quick", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["disagreements"] == []
    assert [row["name"] for row in document["parse"]] == ["model", "reader"]
    assert [row["name"] for row in document["run"]] == [
        "loyalty run, model",
        "loyalty run, reader",
        "loyalty run, public states",
        "the engine alone",
        "jsonio.loads alone",
        "jsonio.loads + parse_event",
        "parse_event_text",
        "event_digest",
    ]
    assert all(row["us_min"] > 0 for row in document["parse"] + document["run"])
    assert document["target"]["events_per_s"] == 20_000
    assert document["around_engine"] > 0
    assert document["working_ratio"] > 0


def test_the_collectors_share_of_a_run_is_measured() -> None:
    """`--collector`: a run with the collector set as `loyalty run` sets it (or as told), and the
    share of its CPU time that the collector's passes take."""
    result = run_bench("bench_reader.py", "--collector", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "thresholds (10,000, 1,000, 100)" in result.stdout
    assert "160 lines (20 customers, 8 purchases each; 160 applied)" in result.stdout
    assert "of the run" in result.stdout
    told = run_bench("bench_reader.py", "--collector", "20", "--thresholds", "10000,10,100")
    assert told.returncode == 0 and "thresholds (10,000, 10, 100)" in told.stdout
    wrong = run_bench("bench_reader.py", "--collector", "20", "--thresholds", "1,2")
    assert wrong.returncode == 2 and "three numbers" in wrong.stderr
