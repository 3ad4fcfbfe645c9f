"""`rules_engine.replay`: running totals, problems as they come, a stop between events, and a
store failure that names the line and the event (issue 11)."""

from __future__ import annotations

import sqlite3
from dataclasses import fields
from decimal import Decimal
from pathlib import Path

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import Diagnostic
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from rules_engine.store.sqlite import SqliteStore
from tests.conftest import ROOT

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
