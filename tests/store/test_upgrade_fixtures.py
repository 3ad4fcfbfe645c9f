"""Databases written by older code, SQLite and PostgreSQL alike: `loyalty db upgrade` brings each
to today's schema, and then it reads as it did, its books reconcile, and new events apply exactly
once (issue 14: "tested on a fixture database made with today's code before the change …
PostgreSQL and SQLite alike").

Two points in time, each kept as an SQLite file and a PostgreSQL dump (`pg_dump --inserts`,
restored into a fresh database here), written by one commit from one stream,
`fixtures/stores/coffee-club-schema-9.jsonl`: schema 9, the code of 2026-12-02 before issue 14's
tables (what the issue calls today's main), and schema 2, the oldest a store was released with
(2026-11-24: every later migration runs on it). Each point's `.expected.json` is what its
databases held then, per customer, read by the code that wrote them. How each was made is in
fixtures/stores/README.md. Never regenerate them: they stand for the databases users have.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.store import open_store
from rules_engine.store.migrations import LATEST

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stores"
PROGRAM = Path(__file__).parents[2] / "programs" / "coffee-club.yaml"
STREAM = [json.loads(line) for line in (FIXTURES / "coffee-club-schema-9.jsonl").read_text().splitlines()]


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def restore(url: str, dump: Path) -> None:
    """Load a plain-SQL dump into the (empty) database at `url`, as `psql -f` would. The lines
    starting with a backslash are psql's own commands (`\\restrict`, which recent pg_dump writes
    against a hostile server), not SQL: left out."""
    text = "\n".join(
        line for line in dump.read_text(encoding="utf-8").splitlines() if not line.startswith("\\")
    )
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(text.encode())


@dataclass(frozen=True)
class Old:
    schema: int
    url: str

    @property
    def expected(self) -> dict[str, Any]:
        """What it held when it was written (`.expected.json`)."""
        text = (FIXTURES / f"coffee-club-schema-{self.schema}.expected.json").read_text(encoding="utf-8")
        found: dict[str, Any] = json.loads(text)
        return found


@pytest.fixture(
    params=[(2, "sqlite"), (2, "postgresql"), (9, "sqlite"), (9, "postgresql")],
    ids="schema-{0[0]}-{0[1]}".format,
)
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Old:
    """A copy of a database written by older code (`loyalty db upgrade` not run yet)."""
    schema, kind = request.param
    if kind == "sqlite":
        path = tmp_path / "old.db"
        shutil.copy(FIXTURES / f"coffee-club-schema-{schema}.db", path)
        return Old(schema, str(path))
    url: str = request.getfixturevalue("postgres_database")
    restore(url, FIXTURES / f"coffee-club-schema-{schema}.postgres.sql")
    return Old(schema, url)


def held(url: str) -> dict[str, dict[str, Any]]:
    """What the database holds per customer, in `.expected.json`'s terms."""
    with open_store(url, "coffee-club") as store:
        found = {}
        for customer, state in store.states():
            rows = list(store.ledger(customer=customer))
            found[customer] = {
                "tier": state.tier,
                "points": str(sum((lot.points for lot in state.lots), Decimal(0))),
                "ledger_points": str(sum((row.entry.points for row in rows), Decimal(0))),
                "ledger_rows": len(rows),
                "visits": state.visits,
            }
        return found


def test_db_upgrade_brings_it_to_today_and_it_reads_as_it_did(old: Old) -> None:
    code, out, _ = cli("db", "status", old.url)
    assert code == 0 and f"schema: version {old.schema} of {LATEST}\n" in out

    code, out, err = cli("db", "upgrade", old.url)

    assert code == 0, err
    assert f"schema: version {LATEST} of {LATEST}, up to date" in out
    with open_store(old.url, "coffee-club") as store:
        assert store.processed() == old.expected["processed"]
    assert held(old.url) == old.expected["customers"]


def test_its_books_reconcile_after_the_upgrade(old: Old) -> None:
    assert cli("db", "upgrade", old.url)[0] == 0

    code, out, err = cli("ledger", "export", str(PROGRAM), "--db", old.url, "--format", "json")

    assert code == 0, err  # exit 1 when the ledger does not reconcile with the balances
    summary = jsonio.loads(out)["summary"]
    balances = sum(
        (Decimal(customer["points"]) for customer in old.expected["customers"].values()), Decimal(0)
    )
    assert summary["reconciles"] is True
    assert summary["closing"]["points"] == summary["balances"] == balances  # the liability: every balance
    assert summary["issued"]["points"] - summary["reversed"]["points"] == balances  # nothing spent or expired


def test_new_events_apply_exactly_once_after_the_upgrade(old: Old, tmp_path: Path) -> None:
    """A redelivery of an event of its history changes nothing; a new purchase applies once, sent
    twice; the unchanged program runs on it (the version guard accepts what it ran before)."""
    assert cli("db", "upgrade", old.url)[0] == 0
    last = next(event for event in reversed(STREAM) if event["type"] == "purchase")
    new = {**last, "id": "after-upgrade", "time": "2026-02-20T09:30:00+03:00"}
    more = tmp_path / "more.jsonl"
    more.write_text("".join(json.dumps(event) + "\n" for event in (last, new, new)))
    before = held(old.url)
    with open_store(old.url, "coffee-club") as store:
        state = store.state(last["customer"])
    earned = Engine.from_file(PROGRAM).process(new, state).totals.points  # what the engine alone gives

    code, out, err = cli("run", str(PROGRAM), str(more), "--db", old.url, "--horizon", "none")

    assert code == 0, err
    assert "1 events processed, 2 already processed before, 0 problem(s)" in out
    after = held(old.url)
    customer = last["customer"]
    assert after[customer]["visits"] == before[customer]["visits"] + 1
    assert Decimal(after[customer]["points"]) == Decimal(before[customer]["points"]) + earned > 0
    assert {name: value for name, value in after.items() if name != customer} == {
        name: value for name, value in before.items() if name != customer
    }
    assert after[customer]["points"] == after[customer]["ledger_points"]  # balance == sum(ledger)
    code, out, _ = cli("run", str(PROGRAM), str(more), "--db", old.url, "--horizon", "none")
    assert code == 0 and "0 events processed, 3 already processed before" in out
    assert held(old.url) == after
