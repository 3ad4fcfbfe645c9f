"""The engine benchmark still runs: `bench/bench_engine.py --quick` exits 0, reports its programs and
judges issue 12's targets on streams checked against the hand-written processor.

No timing is asserted here; a benchmark's numbers belong in bench/README.md, not in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.benches import run_bench
from tests.conftest import ROOT

# Benchmark smoke runs take seconds each (marker `bench`: `pytest -m "not bench"` leaves them out).
bench = pytest.mark.bench


def _run(*flags: str) -> subprocess.CompletedProcess[str]:
    return run_bench("bench_engine.py", "--quick", *flags)


@bench
def test_quick_benchmark_runs_and_names_both_programs() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    for program in ("coffee-club", "corner-hardware", "fashion-house"):
        assert program in result.stdout
    assert "FAILED" not in result.stdout
    assert "DISAGREES" not in result.stdout
    assert "events/s" in result.stdout
    assert "the engine and the hand-written processor agree on all" in result.stdout
    judged = result.stdout.split("targets (issue 12, part 1")[1]
    for target in (">= 25,000 events/s per core", "explain on <= 3x", "1,000 earlier purchases within 1.3x"):
        line = next(line for line in judged.splitlines() if target in line)
        assert line.lstrip().startswith(("[met]", "[MISSED]", "[n/a]")), line


@bench
def test_quick_benchmark_json_is_one_document() -> None:
    result = _run("--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {case["program"] for case in document["cases"]} == {
        "coffee-club",
        "corner-hardware",
        "fashion-house",
    }
    assert document["errors"] == []
    assert document["hardware_disagreements"] == []
    streams = document["streams"]
    assert streams["disagreements"] == [] and streams["compared"] > 0
    assert [row["history"] for row in streams["rows"]] == [15]  # --quick: no row of 1,000
    assert set(streams["rows"][0]["median_us"]) == {
        "hand-written",
        "engine, explain off",
        "engine, explain on",
    }
    met = [target["met"] for target in document["targets"]]
    assert len(met) == 3 and all(isinstance(m, bool) for m in met[:2]) and met[2] is None


@bench
def test_the_outcome_models_counted_are_those_the_event_made() -> None:
    """The floor the benchmark prints counts what one event makes, not what its state brought."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_engine
    finally:
        sys.path.remove(str(ROOT / "bench"))
    from rules_engine.engine.evaluator import Engine
    from rules_engine.engine.reader import parse_event
    from rules_engine.state.customer import LedgerEntry, Lot, parse_state

    engine = Engine.from_file(bench_engine.COFFEE)
    state = parse_state(bench_engine.COFFEE_STATE)
    outcome = engine.process(parse_event(bench_engine.COFFEE_EVENT), state)
    made = bench_engine.outcome_models(outcome, state)
    assert sum(isinstance(m, LedgerEntry) for m in made) == len(outcome.new_ledger_entries) > 0
    assert sum(isinstance(m, Lot) for m in made) == len(outcome.effects.points)
    assert not any(m is lot for m in made for lot in state.lots)
    assert bench_engine.making_ns(made, bench_engine.QUICK) > 0
