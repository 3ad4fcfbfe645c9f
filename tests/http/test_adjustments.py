"""Manual adjustments (support desk), over HTTP and at the command line: booked as ledger kind
`adjust` naming the operator, once by id, debits refused beyond the spendable points, and the
books still reconcile (the journal shows them as `adjusted`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.http import Settings
from rules_engine.store import open_store
from tests.conftest import ROOT
from tests.http.conftest import Server, exact, post, purchase, serving

P = "/v1/programs/coffee-club"


@pytest.fixture
def server(program_dir: Path, tmp_path: Path) -> Iterator[Server]:
    with serving(Settings(programs=program_dir, db=str(tmp_path / "adjust.db"))) as running:
        running.keys["admin"] = running.add_key(["admin"])
        yield running


def test_a_credit_and_a_debit_are_ledger_entries_of_the_operator_once_and_the_books_reconcile(
    server: Server,
) -> None:
    with server.client(server.keys["admin"]) as admin:
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=60)
        assert post(admin, f"{P}/events", purchase(1, "desk", at=long_ago)).status_code == 200
        path = f"{P}/customers/desk/adjustments"
        before = exact(admin.get(f"{P}/customers/desk"))["balance"]["total"]

        credit = post(admin, path, {"id": "adj-1", "points": 100, "reason": "lost order"})
        assert credit.status_code == 200, credit.text
        body = exact(credit)
        key_id = body["adjustment"]["operator"]
        assert server.keys["admin"].startswith(f"lk_{key_id}_")
        assert body["balance"]["total"] == before + 100 and body["duplicate"] is False
        assert exact(post(admin, path, {"id": "adj-1", "points": 100, "reason": "lost order"}))["duplicate"]
        reused = post(admin, path, {"id": "adj-1", "points": 5, "reason": "another"})
        assert (reused.status_code, reused.json()["code"]) == (409, "RE443")

        debit = exact(post(admin, path, {"id": "adj-2", "points": -30, "reason": "double credit"}))
        assert debit["balance"]["total"] == before + 70
        too_much = post(admin, path, {"id": "adj-3", "points": -100000, "reason": "no"})
        assert (too_much.status_code, too_much.json()["code"]) == (422, "RE432")
        assert post(admin, path, {"id": "adj-4", "points": 0, "reason": "zero"}).json()["code"] == "RE410"
        assert (
            post(
                admin, f"{P}/customers/nobody/adjustments", {"id": "a", "points": 1, "reason": "x"}
            ).status_code
            == 404
        )

        ledger = exact(admin.get(f"{P}/customers/desk/ledger"))["entries"]
        adjusted = [(e["event"], e["kind"], e["rule"], e["points"]) for e in ledger if e["kind"] == "adjust"]
        assert adjusted[0] == ("adj-1", "adjust", f"adjust:{key_id}", 100)
        assert sum(points for *_, points in adjusted) == 70
        books = exact(admin.get(f"{P}/ledger/export"))
        assert books["summary"]["reconciles"] is True
        assert any(line["kind"] == "adjusted" for line in books["journal"])

        limited = server.add_key(["customers:read", "events:write", "redemptions:write", "programs:write"])
    with server.client(limited) as desk:
        assert post(desk, path, {"id": "adj-9", "points": 1, "reason": "x"}).status_code == 403


def test_the_command_line_adjusts_once(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty

    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    with open_store(db, "coffee-club") as store:
        Loyalty(engine, store, horizon=None).process(purchase(1, "kira"))
    program = str(ROOT / "programs" / "coffee-club.yaml")
    command = ["adjust", program, "kira", "--db", db, "--points", "25", "--reason", "goodwill", "--id", "a1"]
    first = CliRunner().invoke(app, [*command, "--operator", "olga"])
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("a1: +25 for kira by olga (goodwill): applied; balance")
    again = CliRunner().invoke(app, [*command, "--operator", "olga"])
    assert "applied before, nothing changed" in again.stdout
    bad: Any = CliRunner().invoke(app, [*command[:5], "--points", "lots", *command[7:]])
    assert bad.exit_code == 2 and "error[RE709]" in bad.stderr
    debit = CliRunner().invoke(app, [*command[:6], "-1000000", *command[7:-1], "a2"])
    assert debit.exit_code == 1 and "error[RE432]" in debit.stderr
    with open_store(db, "coffee-club") as store:
        kinds = [row.entry.kind for row in store.ledger(customer="kira")]
    assert kinds.count("adjust") == 1


HOSTILE_FRACTION = "1" * 5000 + ".5"
HOSTILE_WHOLE = "1" * 5000


@pytest.mark.parametrize(
    "points",
    [f'"{HOSTILE_FRACTION}"', f'"{HOSTILE_WHOLE}"', f'"-{HOSTILE_WHOLE}"', "1E+20", "1" * 16, "-" + "9" * 30],
)
def test_an_adjustment_of_more_digits_than_points_have_is_refused_over_http(
    server: Server, points: str
) -> None:
    """A 5,000-digit fraction (in text: JSON numbers stop at 40 digits) crashed the RE448 hint
    (Python's 4,300-digit limit on int text: HTTP 500) and a 5,000-digit whole credit was booked;
    both are refused (422, RE449) like an event's amount past its digits, the customer unchanged."""
    with server.client(server.keys["admin"]) as admin:
        assert post(admin, f"{P}/events", purchase(1, "huge")).status_code == 200
        before = exact(admin.get(f"{P}/customers/huge"))["balance"]
        body = f'{{"id": "adj-h", "points": {points}, "reason": "typo"}}'
        answer = admin.post(
            f"{P}/customers/huge/adjustments", content=body, headers={"Content-Type": "application/json"}
        )
        refusal = exact(answer)
        assert (answer.status_code, refusal["code"]) == (422, "RE449"), answer.text[:300]
        assert refusal["errors"][0]["hint"] and len(answer.text) < 2000
        assert exact(admin.get(f"{P}/customers/huge"))["balance"] == before


@pytest.mark.parametrize("points", [HOSTILE_FRACTION, HOSTILE_WHOLE])
def test_the_command_line_refuses_an_adjustment_of_more_digits_than_points_have(
    tmp_path: Path, points: str
) -> None:
    db = str(tmp_path / "cli.db")
    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty

    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    with open_store(db, "coffee-club") as store:
        Loyalty(engine, store, horizon=None).process(purchase(1, "kira"))
    program = str(ROOT / "programs" / "coffee-club.yaml")
    command = ["adjust", program, "kira", "--db", db, "--points", points, "--reason", "typo", "--id", "a1"]
    refused: Any = CliRunner().invoke(app, command)
    assert refused.exit_code == 1 and "error[RE449]" in refused.stderr, refused.output[-500:]
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    with open_store(db, "coffee-club") as store:
        assert [row.entry.kind for row in store.ledger(customer="kira")].count("adjust") == 0
