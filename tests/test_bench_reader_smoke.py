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
