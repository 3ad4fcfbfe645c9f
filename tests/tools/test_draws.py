"""Prize draws: entries collected as rewards, winners reproducible from a public seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.jsonio import dumps
from rules_engine.state.customer import CustomerState
from rules_engine.tools.draws import pick_winners, ticket_digest
from tests.conftest import ROOT

VOLT = ROOT / "programs" / "volt-electronics.yaml"


def review(event_id: str, customer: str, day: str) -> dict[str, Any]:
    return {"id": event_id, "type": "review", "time": f"{day}T12:00:00+05:00", "customer": customer}


def test_winners_are_reproducible_one_per_customer_and_independent_of_input_order() -> None:
    entries = {"anna": 3, "boris": 1, "chen": 5, "dana": 2}
    first = pick_winners("new-year-draw", entries, 3, seed="lotto 2026-12-31: 4 8 15 16 23 42")
    again = pick_winners(
        "new-year-draw", dict(reversed(list(entries.items()))), 3, seed="lotto 2026-12-31: 4 8 15 16 23 42"
    )
    assert first == again
    assert len({t.customer for t in first}) == 3
    assert first[0].digest == ticket_digest(
        "lotto 2026-12-31: 4 8 15 16 23 42", "new-year-draw", first[0].customer, first[0].number
    )
    other = pick_winners("new-year-draw", entries, 3, seed="another seed")
    assert [t.digest for t in other] != [t.digest for t in first]
    assert len(pick_winners("d", {"anna": 2}, 3, seed="s")) == 1


def test_entries_are_collected_in_the_state_until_the_draw_closes() -> None:
    engine = Engine.from_file(VOLT)
    state = engine.process(review("r1", "anna", "2026-12-10")).state
    assert state.entries == {"new-year-draw": 1}  # the reviewer badge gives one entry
    late = engine.process(review("r2", "boris", "2027-01-05")).state
    assert late.entries == {}  # the draw closed on 2026-12-31


def test_loyalty_draw_prints_winners_with_their_ticket_numbers(tmp_path: Path) -> None:
    engine = Engine.from_file(VOLT)
    states: dict[str, CustomerState] = {}
    for n, customer in enumerate(["anna", "boris", "chen", "dana", "emil"]):
        states[customer] = engine.process(review(f"r{n}", customer, "2026-12-10")).state
    path = tmp_path / "states.json"
    path.write_text(dumps({c: s.model_dump(mode="python") for c, s in states.items()}), encoding="utf-8")
    args = ["draw", str(VOLT), str(path), "--draw", "new-year-draw", "--seed", "public seed"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "draw new-year-draw: 5 entries from 5 customers, seed 'public seed'"
    assert len(lines) == 5 and lines[1].startswith("1. ")  # the draw has 3 winners
    assert lines[4] == (
        "from a states file: not recorded (a draw from a store, --db, is recorded by its first run)"
    )
    assert CliRunner().invoke(app, args).stdout == result.stdout
    unknown = CliRunner().invoke(app, [*args[:3], "--draw", "summer", "--seed", "x"])
    assert unknown.exit_code == 1 and "RE434" in unknown.stderr
    assert json.loads(path.read_text())["anna"]["entries"] == {"new-year-draw": 1}


def test_loyalty_draw_reads_the_entries_from_a_store(tmp_path: Path) -> None:
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file(VOLT)
    states: dict[str, CustomerState] = {}
    db = str(tmp_path / "loyalty.db")
    with open_store(db, engine.program.program) as store:
        loyalty = Loyalty(engine, store)
        for n, customer in enumerate(["anna", "boris", "chen", "dana"]):
            states[customer] = loyalty.process(review(f"r{n}", customer, "2026-12-10")).state
    path = tmp_path / "states.json"
    path.write_text(dumps({c: s.model_dump(mode="python") for c, s in states.items()}), encoding="utf-8")
    draw = ["--draw", "new-year-draw", "--seed", "public seed"]
    closed = "2027-01-01T00:00:00+05:00"  # the draw closes on 2026-12-31 in Almaty; no late events
    from_store = CliRunner().invoke(app, ["draw", str(VOLT), "--db", db, *draw, "--now", closed])
    from_file = CliRunner().invoke(app, ["draw", str(VOLT), str(path), *draw])
    assert from_store.exit_code == 0, from_store.output
    assert from_store.stdout.splitlines()[:-1] == from_file.stdout.splitlines()[:-1]  # but what was recorded
    assert from_store.stdout.startswith("draw new-year-draw: 4 entries from 4 customers")
    both = CliRunner().invoke(app, ["draw", str(VOLT), str(path), "--db", db, *draw])
    assert both.exit_code == 2 and "either a states file or --db" in both.stderr


def test_a_draw_from_a_store_waits_until_its_entries_are_final(tmp_path: Path) -> None:
    """The store's entries are final once the closing day is over in the program's time zone
    (and, in a program that takes late events, that window after it): drawn before, a winner
    could lose to an entry still to come, so it is refused (RE451) naming the moment; an event
    after it, or `--now` past it, lets the draw go."""
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file(VOLT)
    db = str(tmp_path / "loyalty.db")
    with open_store(db, engine.program.program) as store:
        loyalty = Loyalty(engine, store, horizon=None)
        for n, customer in enumerate(["anna", "boris", "chen"]):
            loyalty.process(review(f"r{n}", customer, "2026-12-10"))
        loyalty.process(review("r-eve", "dana", "2026-12-31"))  # 12:00 in Almaty: the day still open
    draw = ["draw", str(VOLT), "--db", db, "--draw", "new-year-draw", "--seed", "public seed"]
    early = CliRunner().invoke(app, draw)
    assert early.exit_code == 1 and "RE451" in early.stderr
    assert "2027-01-01T00:00:00+05:00" in early.stderr and "2026-12-31T12:00:00+05:00" in early.stderr
    still = CliRunner().invoke(app, [*draw, "--now", "2026-12-31T23:59:59+05:00"])
    assert still.exit_code == 1 and "RE451" in still.stderr
    told = CliRunner().invoke(app, [*draw, "--now", "2027-01-01T00:00:00+05:00"])
    assert told.exit_code == 0, told.output
    assert told.stdout.startswith("draw new-year-draw: 4 entries from 4 customers")
    with open_store(db, engine.program.program) as store:
        Loyalty(engine, store, horizon=None).process(review("r-next", "emil", "2027-01-02"))
    after = CliRunner().invoke(app, draw)
    assert after.exit_code == 0, after.output
    assert (
        after.stdout.splitlines()[:-1] == told.stdout.splitlines()[:-1]
    )  # emil's review came after the close
    assert after.stdout.splitlines()[-1].startswith("recorded before, at 2027-01-01T00:00:00+05:00")


def test_a_program_taking_late_events_keeps_its_draw_open_for_that_window() -> None:
    from rules_engine.program.validate import load_program_text
    from rules_engine.tools.draws import entries_final

    text = VOLT.read_text(encoding="utf-8") + "\nlate_events: {accept_within: 3d}\n"
    program = Engine(load_program_text(text, "volt-late.yaml")).program
    (draw,) = program.draws
    assert entries_final(program, draw).isoformat() == "2027-01-04T00:00:00+05:00"
