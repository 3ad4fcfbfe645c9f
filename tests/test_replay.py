"""`rules_engine.replay`: running totals, problems as they come, a stop between events, a store
failure that names the line and the event, and a hostile line that is one bad line, reported at
its place, while the stream goes on (issue 11)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import Diagnostic
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from rules_engine.store.sqlite import SqliteStore
from tests.conftest import COMPILED, ROOT

PROGRAM = ROOT / "programs" / "coffee-club.yaml"
DECEMBER = ROOT / "programs" / "events" / "coffee-club-december.jsonl"
STREAM = ROOT / "programs" / "events" / "coffee-club.jsonl"


def test_the_totals_add_up_to_the_balances_the_store_holds() -> None:
    loyalty = Loyalty.in_memory(Engine.from_file(PROGRAM))
    result = replay(loyalty, DECEMBER)
    assert (result.applied, result.problems, result.customers) == (7, 0, 2)
    balances = sum((lot.points for _, state in loyalty.store.states() for lot in state.lots), Decimal(0))
    assert result.issued - result.redeemed - result.expired - result.reversed == balances == 240
    assert result.points == {"anna": Decimal(90), "boris": Decimal(636)}


def test_problems_are_reported_as_they_are_met_and_a_stop_ends_between_events() -> None:
    seen: list[tuple[str, int | None]] = []
    applied: list[int] = []

    def problem(diagnostic: Diagnostic) -> None:
        seen.append((diagnostic.code, diagnostic.span.line if diagnostic.span else None))

    def stop() -> bool:
        return len(seen) == 2  # after line 6, the second bad one, before line 7

    result = replay(
        Loyalty.in_memory(Engine.from_file(PROGRAM)),
        STREAM,
        lambda number, _, __: applied.append(number),
        on_problem=problem,
        stop=stop,
    )
    assert seen == [("RE414", 5), ("RE410", 6)]
    assert (result.applied, result.problems, result.line, result.stopped) == (4, 2, 6, "interrupted")


def test_a_store_failure_stops_the_replay_at_the_line_and_names_the_event(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SqliteStore(path, "coffee-club", timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)

    def lock_after(number: int) -> None:
        if number == 2:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the lock from now on

    try:
        result = replay(Loyalty(Engine.from_file(PROGRAM), store), DECEMBER, on_line=lock_after)
    finally:
        other.rollback()
        other.close()
    assert (result.applied, result.line, result.stopped) == (2, 3, "failed")
    failure = result.failure
    assert failure is not None and failure.code == "RE605"
    assert failure.span is not None and failure.span.line == 3
    assert "line 3: event 's3' of customer 'anna'" in failure.message and "locked" in failure.message
    assert store.processed() == 2
    store.close()


def test_the_replay_keeps_totals_not_the_customers_states() -> None:
    """A year of history held every customer's state until the end (3.8 GB for 10,000 customers):
    what a replay keeps per customer is one number, whatever the customers' histories."""
    result = replay(Loyalty.in_memory(Engine.from_file(PROGRAM)), DECEMBER)
    kept = [getattr(result, f.name) for f in fields(result)]
    per_customer = [value for value in kept if isinstance(value, dict)]
    assert per_customer == [result.points]
    assert all(isinstance(value, Decimal) for value in result.points.values())


# -- hostile lines -------------------------------------------------------------------------------

ENGINE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
GOOD = {
    "id": "ok",
    "type": "purchase",
    "time": "2026-12-08T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": 300, "qty": 1}],
}


@dataclass
class Run:
    applied: int
    problems: list[Diagnostic]


def run(path: Path) -> Run:
    problems: list[Diagnostic] = []
    result = replay(Loyalty.in_memory(ENGINE), path, on_problem=problems.append)
    assert result.problems == len(problems)
    return Run(result.applied, problems)


def stream(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "bad",
    [
        "[" * 1000 + "]" * 1000,  # RecursionError aborted the run (issue 11)
        '{"id": "x", "id": "y"}',  # a duplicate key
        json.dumps({**GOOD, "id": "s", "customer": "caf\ud800"}),  # a lone surrogate
        json.dumps({**GOOD, "id": "n"}).replace("300", "1" + "0" * 5000),  # int() raised ValueError
    ],
)
def test_a_hostile_line_is_one_bad_line(tmp_path: Path, bad: str) -> None:
    result = run(stream(tmp_path, bad, json.dumps(GOOD)))
    assert [(p.code, p.span.line if p.span else None) for p in result.problems] == [("RE414", 1)]
    assert result.applied == 1  # the line after it


def test_a_line_over_the_limit_is_skipped_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonio, "MAX_TEXT", 1000)
    path = stream(
        tmp_path, json.dumps(GOOD), '{"id": "' + "x" * 5000 + '"}', json.dumps({**GOOD, "id": "ok2"})
    )
    result = run(path)
    assert [p.code for p in result.problems] == ["RE414"]
    assert "line 2 is longer than" in result.problems[0].message
    assert result.applied == 2


def test_the_caret_points_at_the_refused_field_not_the_whole_line(tmp_path: Path) -> None:
    line = json.dumps({**GOOD, "items": [{"sku": "A", "price": -5, "qty": 1}]})
    (problem,) = run(stream(tmp_path, line)).problems
    assert problem.code == "RE410"
    assert problem.span is not None
    assert line[problem.span.start : problem.span.end] == "-5"


@pytest.mark.skipif(COMPILED, reason="a monkeypatch does not reach calls inside compiled modules")
def test_ten_thousand_refused_fields_on_one_line_are_placed_in_one_walk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one walk of the line per diagnostic: 1,000 prices of -1 took 38.5 s, 10,000 about an hour
    walks: list[int] = []
    walk = jsonio._walk

    def counted(text: str) -> Any:
        walks.append(len(text))
        return walk(text)

    monkeypatch.setattr(jsonio, "_walk", counted)
    items = [{"sku": f"S{n}", "category": "coffee", "price": -1, "qty": 1} for n in range(10_000)]
    line = json.dumps({**GOOD, "id": "many", "items": items})
    problems: list[Diagnostic] = []
    result = replay(
        Loyalty.in_memory(ENGINE), stream(tmp_path, line, json.dumps(GOOD)), on_problem=problems.append
    )
    assert len(problems) == 10_000 and {p.code for p in problems} == {"RE410"}
    assert all(
        p.span is not None and p.span.line == 1 and line[p.span.start : p.span.end] == "-1" for p in problems
    )
    assert problems[-1].span is not None and problems[-1].span.start == line.rindex("-1")
    assert len(walks) == 1
    assert (result.problems, result.applied) == (1, 1)  # one bad line, and the line after it ran
