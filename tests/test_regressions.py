"""Regressions, one test per reported defect: `test_issue_<n>_<what>`."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from rules_engine.render import customer_lines
from rules_engine.state.customer import CustomerState, LedgerEntry, LedgerLine
from rules_engine.store.base import LedgerRow

ROOT = Path(__file__).resolve().parent.parent


def test_issue_16_one_more_day_is_not_one_more_days() -> None:
    program = """\
        program: t
        version: 1
        timezone: UTC
        currency: EUR
        streaks:
          - id: s
            on: app_open
            milestones: [{length: 2, reward: {points: 1}}, {length: 4, reward: {points: 2}}]
        """
    e = Engine(load_program_text(textwrap.dedent(program), "t.yaml"))
    event: dict[str, Any] = {"id": "a1", "type": "app_open", "time": "2026-12-01T10:00:00Z", "customer": "c"}
    first = e.process(event)
    (entry,) = [t for t in first.trace if t.rule == "streak:s"]
    assert entry.hint == "1 more day to the next milestone"
    third = e.process(
        event | {"id": "a3", "time": "2026-12-03T10:00:00Z"},
        e.process(event | {"id": "a2", "time": "2026-12-02T10:00:00Z"}, first.state).state,
    )
    (entry,) = [t for t in third.trace if t.rule == "streak:s"]
    assert entry.hint == "1 more day to the next milestone"


def _activity(points: str) -> dict[str, Any]:
    return {"event": "p1", "at": "2026-12-05T12:00:00+01:00", "spend": points, "points": points, "visits": 1}


def test_issue_16_a_leaderboard_prints_the_same_numbers_from_a_file_as_from_a_database(
    tmp_path: Path,
) -> None:
    # a states file holds `200`, a database column `200.00`: the board shows 200 for both
    states = {
        "ann": {"customer": "ann", "activity": [_activity("200")]},
        "bob": {"customer": "bob", "activity": [_activity("200.00")]},
    }
    path = tmp_path / "states.json"
    path.write_text(json.dumps(states))
    fashion = str(ROOT / "programs" / "fashion-house.yaml")
    args = [
        "leaderboard",
        fashion,
        str(path),
        "--id",
        "monthly-stylists",
        "--at",
        "2026-12-20T12:00:00+01:00",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1. ann 200\n2. bob 200\n" in result.stdout


def test_issue_16_a_draw_with_more_winners_than_entrants_says_so(tmp_path: Path) -> None:
    path = tmp_path / "states.json"
    path.write_text(json.dumps({"ann": {"customer": "ann", "entries": {"new-year-draw": 2}}}))
    volt = str(ROOT / "programs" / "volt-electronics.yaml")
    result = CliRunner().invoke(app, ["draw", volt, str(path), "--draw", "new-year-draw", "--seed", "42"])
    assert result.exit_code == 0, result.output
    assert "1. ann" in result.stdout
    assert "1 of 3 winners: only 1 customer entered, and each wins at most once" in result.stdout
    helped = CliRunner().invoke(app, ["draw", "--help"])
    assert "every ticket's number shown" not in helped.stdout


def test_issue_16_a_returns_ledger_entry_names_the_purchase_whose_lines_it_takes_back() -> None:
    at = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    entry = LedgerEntry(
        event="r1",
        rule="return:p1",
        kind="reverse",
        points=Decimal(-3),
        lot="p1/base",
        at=at,
        lines=[LedgerLine(line=0, points=Decimal(-3))],
    )
    state = CustomerState(customer="c", last_event_at=at)
    (line,) = customer_lines(state, [LedgerRow(1, "c", entry)], "points", dt.UTC)[-1:]
    assert line.endswith("return:p1 (r1, purchase lot p1/base line 0)")
