"""`loyalty db status` and `loyalty db upgrade`: where a database stands, upgraded on purpose.

`fixtures/stores/coffee-club-schema-9.db` was written by the code of 2026-12-02 (schema version 9):
`loyalty generate programs/coffee-club.yaml --customers 12 --days 40 --seed 5` (the `.jsonl` beside
it), then `loyalty run programs/coffee-club.yaml … --db … --horizon none`, vacuumed. Its `.expected.json`
holds what it held then, per customer. Never regenerate it: it stands for the databases users have, which
every later schema must still open, upgrade and read the same. One change was made to it, the same day:
its `program_versions` record was rewritten to the content hash the version guard has used since
(store/versions.py: the fields the author wrote), as the guard itself rewrites older records.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.service import Loyalty
from rules_engine.store import open_store
from rules_engine.store.migrations import LATEST, MIGRATIONS
from rules_engine.store.upgrade import status, upgrade
from tests.store.test_migrations import dump, versions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "stores"
PROGRAM = Path(__file__).parents[2] / "programs" / "coffee-club.yaml"
WIDE = {"COLUMNS": "200"}


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=WIDE)
    return result.exit_code, result.stdout, result.stderr


def schema_at(path: Path, version: int) -> Path:
    """A database as the engine left it at schema `version`: its migrations and no later one."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)")
        for migration in MIGRATIONS[:version]:
            for statement in migration.sqlite:
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)", (migration.version, migration.description)
            )
    return path


def test_the_database_of_2026_12_02_upgrades_and_reads_as_it_did(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "coffee-club-schema-9.db", path)
    expected = json.loads((FIXTURES / "coffee-club-schema-9.expected.json").read_text())

    code, out, _ = cli("db", "upgrade", str(path))

    assert code == 0
    assert f"schema: version {LATEST} of {LATEST}, up to date" in out
    with open_store(str(path), "coffee-club") as store:
        assert store.processed() == expected["processed"]
        held = {}
        for customer, state in store.states():
            rows = list(store.ledger(customer=customer))
            held[customer] = {
                "tier": state.tier,
                "points": str(sum((lot.points for lot in state.lots), Decimal(0))),
                "ledger_points": str(sum((row.entry.points for row in rows), Decimal(0))),
                "ledger_rows": len(rows),
                "visits": state.visits,
            }
        assert held == expected["customers"]
    with sqlite3.connect(path) as db:  # its states carried their ledger: the `ledger` table has it all
        summaries = [json.loads(text) for (text,) in db.execute("SELECT state FROM customers")]
        parts = {part for (part,) in db.execute("SELECT DISTINCT part FROM customer_lists")}
    assert summaries and not any("ledger" in summary for summary in summaries)
    assert "ledger" not in parts and "lots" in parts


def test_the_upgraded_database_goes_on_exactly_once(tmp_path: Path) -> None:
    """Every event of its history is still known (a redelivery changes nothing); a new one applies."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "coffee-club-schema-9.db", path)
    upgrade(str(path))
    events = [json.loads(line) for line in (FIXTURES / "coffee-club-schema-9.jsonl").read_text().splitlines()]
    last_purchase = next(e for e in reversed(events) if e["type"] == "purchase")
    with open_store(str(path), "coffee-club") as store:
        service = Loyalty(Engine.from_file(PROGRAM), store, horizon=None)
        before = store.state(last_purchase["customer"])
        again = service.process(last_purchase)
        assert again.state == before
        later = {**last_purchase, "id": "after-upgrade", "time": "2026-02-20T09:30:00+03:00"}
        visits = service.process(later).state.visits
    assert before is not None and visits == before.visits + 1


def test_status_lists_what_an_upgrade_would_apply_and_writes_nothing(tmp_path: Path) -> None:
    path = schema_at(tmp_path / "v5.db", 5)
    before = dump(path)

    code, out, _ = cli("db", "status", str(path))

    assert code == 0
    assert f"schema: version 5 of {LATEST}\n" in out
    for migration in MIGRATIONS[5:]:
        assert f"to apply: {migration.version}  {migration.description}" in out
    assert "programs: none yet" in out
    assert dump(path) == before
    assert cli("db", "status", str(path), "--check")[0] == 1


def test_upgrade_applies_every_missing_migration_then_status_is_up_to_date(tmp_path: Path) -> None:
    path = schema_at(tmp_path / "v5.db", 5)

    code, _, err = cli("db", "upgrade", str(path))

    assert code == 0
    assert [f"applied {m.version}" in err for m in MIGRATIONS[5:]] == [True] * (LATEST - 5)
    assert versions(path) == [m.version for m in MIGRATIONS]
    assert cli("db", "status", str(path), "--check")[0] == 0
    again = cli("db", "upgrade", str(path))
    assert again[0] == 0 and f"already up to date: schema version {LATEST}" in again[2]


def test_a_read_only_command_on_an_old_database_points_to_db_upgrade(tmp_path: Path) -> None:
    path = schema_at(tmp_path / "v5.db", 5)
    code, _, err = cli("customer", str(PROGRAM), "ann", "--db", str(path))
    assert code == 1 and "RE609" in err and "loyalty db upgrade" in err
    assert cli("db", "upgrade", str(path))[0] == 0
    code, _, err = cli("customer", str(PROGRAM), "ann", "--db", str(path))
    assert "RE609" not in err  # it reads now (and finds no such customer)


def test_a_newer_database_is_refused_by_both_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(str(path), "coffee-club").close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future')", (LATEST + 1,))
    before = dump(path)
    for command in ("status", "upgrade"):
        code, _, err = cli("db", command, str(path))
        assert code == 1 and "RE603" in err and f"schema version {LATEST + 1}" in err
    assert dump(path) == before


@pytest.mark.parametrize("url", ["nowhere/loyalty.db", "memory:"])
def test_no_database_to_look_at_is_a_clear_error_and_creates_nothing(tmp_path: Path, url: str) -> None:
    for command in ("status", "upgrade"):
        code, _, err = cli("db", command, url)
        assert code == 1 and "RE601" in err
    assert not Path("nowhere").exists()


def test_a_file_that_is_no_database_is_a_clear_error_and_left_alone(tmp_path: Path) -> None:
    """As every other command says of it (RE601, the damaged database's advice), not a traceback."""
    path = tmp_path / "notes.db"
    path.write_text("not a database\n", encoding="utf-8")
    for command in ("status", "upgrade"):
        code, out, err = cli("db", command, str(path))
        assert (code, out) == (1, "")
        assert "error[RE601]: sqlite:///" in err and "file is not a database" in err
        assert "the database file is damaged" in err
    assert path.read_text(encoding="utf-8") == "not a database\n"


def test_postgresql_status_and_upgrade(postgres_database: str) -> None:
    fresh = status(postgres_database)
    assert (fresh.applied, len(fresh.pending), fresh.programs) == (0, LATEST, {})
    before, after = upgrade(postgres_database)
    assert before.applied == 0 and after.up_to_date and after.applied == LATEST
    code, out, _ = cli("db", "status", postgres_database, "--check")
    assert code == 0 and "up to date" in out and "password" not in out


def test_outcomes_are_kept_compressed_and_those_kept_before_read_as_they_were(tmp_path: Path) -> None:
    """Migration 10 (store/outcomes.py): a new event's outcome is stored compressed (zstd now); an event
    stored as text before it answers a redelivery with that text, unchanged."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "coffee-club-schema-9.db", path)
    with sqlite3.connect(path) as db:
        customer, event, text = db.execute("SELECT customer, event, outcome FROM events LIMIT 1").fetchone()
    upgrade(str(path))
    engine = Engine.from_file(PROGRAM)
    with open_store(str(path), "coffee-club") as store:
        with store.transaction(customer) as transaction:
            kept = transaction.event(event)
        assert kept is not None and kept.outcome == text
        service = Loyalty(engine, store, horizon=None)
        new = {
            "id": "after-upgrade",
            "type": "purchase",
            "time": "2026-02-20T09:30:00+03:00",
            "customer": customer,
            "items": [{"sku": "LATTE", "category": "coffee", "price": 250, "qty": 2}],
        }
        first = service.handle(new)
        again = service.handle(new)
    assert again.duplicate and again.outcome.model_dump_json() == first.outcome.model_dump_json()
    with sqlite3.connect(path) as db:
        stored, packed = db.execute(
            "SELECT outcome, packed FROM events WHERE event = 'after-upgrade'"
        ).fetchone()
    assert stored == "" and 0 < len(packed) < len(first.outcome.model_dump_json()) / 2


def test_a_later_engine_runs_the_unchanged_program_on_the_old_database(tmp_path: Path) -> None:
    """The version guard must not refuse the program the database was filled with because the engine
    gained options since (RE611 "other content" would stop every store at an engine upgrade)."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "coffee-club-schema-9.db", path)
    more = tmp_path / "more.jsonl"
    more.write_text(
        json.dumps(
            {
                "id": "after-upgrade",
                "type": "app_open",
                "time": "2026-02-20T09:30:00+03:00",
                "customer": "c000001",
            }
        )
        + "\n"
    )
    code, out, err = cli("run", str(PROGRAM), str(more), "--db", str(path), "--horizon", "none")
    assert (code, "RE611" in err, "RE612" in err) == (0, False, False), err
    assert "1 events processed" in out + err
