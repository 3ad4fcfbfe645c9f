"""Leaderboards: customers ranked by a metric over a period, from the activity in their states."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.jsonio import dumps
from rules_engine.state.customer import CustomerState
from tests.conftest import ROOT

FASHION = ROOT / "programs" / "fashion-house.yaml"  # monthly-stylists: points, calendar_month, top 20


def purchase(event_id: str, customer: str, time: str, price: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": time,
        "customer": customer,
        "items": [{"sku": "DRESS", "category": "dress", "price": Decimal(price), "qty": 1}],
    }


def test_ranked_by_points_in_the_calendar_month_ties_by_id(tmp_path: Path) -> None:
    engine = Engine.from_file(FASHION)
    states: dict[str, CustomerState] = {}
    for n, (customer, time, price) in enumerate(
        [
            ("anna", "2026-11-30T23:30:00+01:00", "500.00"),  # November in Paris: not in December's board
            ("boris", "2026-12-03T10:00:00+01:00", "20.00"),
            ("chen", "2026-12-04T10:00:00+01:00", "30.00"),
            ("anna", "2026-12-05T10:00:00+01:00", "20.00"),
        ]
    ):
        states[customer] = engine.process(
            purchase(f"p{n}", customer, time, price), states.get(customer)
        ).state
    path = tmp_path / "states.json"
    path.write_text(dumps({c: s.model_dump(mode="python") for c, s in states.items()}), encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "leaderboard",
            str(FASHION),
            str(path),
            "--id",
            "monthly-stylists",
            "--at",
            "2026-12-31T12:00:00+01:00",
        ],
    )
    assert result.exit_code == 0, result.output
    # 10 points per euro: chen 300; anna 200 + 50 as silver (reached in November, whose 5000 do not
    # count in December); boris 200
    assert result.stdout.splitlines()[1:] == ["1. chen 300", "2. anna 250", "3. boris 200"]
    unknown = CliRunner().invoke(
        app, ["leaderboard", str(FASHION), str(path), "--id", "x", "--at", "2026-12-31T12:00:00+01:00"]
    )
    assert unknown.exit_code == 1 and "RE435" in unknown.stderr


def test_loyalty_leaderboard_reads_the_states_from_a_store(tmp_path: Path) -> None:
    """`--db`: the customers' activity as the store's tables hold it ranks as the states file does."""
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file(FASHION)
    states: dict[str, CustomerState] = {}
    db = str(tmp_path / "loyalty.db")
    with open_store(db, engine.program.program) as store:
        loyalty = Loyalty(engine, store, horizon=None)
        for n, (customer, time, price) in enumerate(
            [
                ("anna", "2026-11-30T23:30:00+01:00", "500.00"),
                ("boris", "2026-12-03T10:00:00+01:00", "20.00"),
                ("chen", "2026-12-04T10:00:00+01:00", "30.00"),
                ("anna", "2026-12-05T10:00:00+01:00", "20.00"),
            ]
        ):
            states[customer] = loyalty.process(purchase(f"p{n}", customer, time, price)).state
    path = tmp_path / "states.json"
    path.write_text(dumps({c: s.model_dump(mode="python") for c, s in states.items()}), encoding="utf-8")
    board = ["--id", "monthly-stylists", "--at", "2026-12-31T12:00:00+01:00"]
    from_store = CliRunner().invoke(app, ["leaderboard", str(FASHION), "--db", db, *board])
    from_file = CliRunner().invoke(app, ["leaderboard", str(FASHION), str(path), *board])
    assert from_store.exit_code == 0, from_store.output
    assert from_store.stdout == from_file.stdout
    assert from_store.stdout.splitlines()[1:] == ["1. chen 300", "2. anna 250", "3. boris 200"]


MONTHLY = """program: monthly
version: 1
timezone: Europe/Paris
currency: EUR
earn: [{id: base, rate: 1 per 1}]
leaderboards:
  - {id: spenders, metric: spend, window: calendar_month, size: 5}
"""


def test_a_past_month_whose_activity_a_later_event_left_out_is_refused_not_ranked_short(
    tmp_path: Path,
) -> None:
    """November's board asked in January: anna came back in January, and her state no longer keeps
    her November (a calendar month keeps the month before its own). She was left off the board
    she led and boris ranked first; now RE717 names her. January's board ranks as before."""
    program = tmp_path / "monthly.yaml"
    program.write_text(MONTHLY, encoding="utf-8")
    engine = Engine.from_file(program)
    states: dict[str, CustomerState] = {}
    for n, (customer, time, price) in enumerate(
        [
            ("anna", "2026-11-10T10:00:00+01:00", "500.00"),
            ("boris", "2026-11-11T10:00:00+01:00", "20.00"),
            ("anna", "2027-01-05T10:00:00+01:00", "20.00"),
        ]
    ):
        states[customer] = engine.process(
            purchase(f"p{n}", customer, time, price), states.get(customer)
        ).state
    path = tmp_path / "states.json"
    path.write_text(dumps({c: s.model_dump(mode="python") for c, s in states.items()}), encoding="utf-8")
    board = ["leaderboard", str(program), str(path), "--id", "spenders", "--at"]
    november = CliRunner().invoke(app, [*board, "2026-11-30T12:00:00+01:00"])
    assert november.exit_code == 2 and "RE717" in november.stderr and "anna" in november.stderr
    assert november.stdout == ""
    december = CliRunner().invoke(app, [*board, "2026-12-31T12:00:00+01:00"])  # kept: the month before
    assert december.exit_code == 0 and december.stdout.splitlines()[1:] == ["nobody yet"]
    january = CliRunner().invoke(app, [*board, "2027-01-31T12:00:00+01:00"])
    assert january.exit_code == 0, january.output
    assert january.stdout.splitlines()[1:] == ["1. anna 20.00"]
