"""Migration 12 (leaner tables): a database written by the code before it, at schema 11, upgrades
with every row as it was, reads back the same through the CLI, and goes on exactly once.

The database is one the code of 2026-12-05 wrote at schema 11 (commit d3ee2bd, the last before
migration 12), kept as an SQLite file and a PostgreSQL dump (fixtures/stores/README.md says how
they were made): events written through the store's own code path — a transaction per event and
a replay's groups, budgets, referral codes, refused redemptions, an erasure, bulk coupon codes, a
second program with catalog stock. Kept, not written here by today's code, whose rows have the
columns of today (a referral code's time, `known_at`, migration 15) and would test today's writer
rather than the migration. `test_upgrade.py` upgrades a database the code of 2026-12-02 wrote
(schema 9) through 12 as well.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.service import Loyalty
from rules_engine.store import migrations, open_store
from rules_engine.store.migrations import LATEST, MIGRATIONS
from rules_engine.store.sql import SqlStore
from tests.store import test_stock
from tests.store.streams import PROGRAM, engine, stream
from tests.store.test_upgrade_fixtures import FIXTURES, restore
from tests.store.test_workers import consistent

SECRET = "store tests"
_ORDER = {  # every column, so that a table's rows compare as a list
    "customers": "program, customer",
    "customer_lists": "program, customer, part, pos",
    "events": "program, customer, event",
    "ledger": "seq",
    "budgets": "program, rule, period",
    "referral_codes": "program, code",
    "coupon_codes": "program, code",
    "catalog_stock": "program, item",
    "program_versions": "program, version",
    "api_keys": "id",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of the database written at schema 11 (module docstring), not upgraded yet."""
    if request.param == "sqlite":
        path = tmp_path / "loyalty.db"
        shutil.copy(FIXTURES / "store-test-schema-11.db", path)
        return str(path)
    found: str = request.getfixturevalue("postgres_database")  # skipped without a server
    restore(found, FIXTURES / "store-test-schema-11.postgres.sql")
    return found


@contextmanager
def schema_11() -> Iterator[None]:
    """The migrations as the code before migration 12 had them, while the block runs: today's
    code reads the database without upgrading it."""
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", MIGRATIONS[:11])
        patched.setattr(migrations, "LATEST", 11)
        yield


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "LOYALTY_SECRET": SECRET})
    return result.exit_code, result.stdout


def rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the store, in key order, as the driver returns them."""
    store = open_store(url, "store-test")
    assert isinstance(store, SqlStore)
    try:
        return {
            table: [tuple(row) for row in store._execute(f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in _ORDER.items()
        }
    finally:
        store.close()


def dated(before: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows after migration 15: each referral code known from its customer's earliest event
    time kept (`events.at`, the sixth column at schema 11: program, customer, event, outcome,
    digest, at, packed)."""
    earliest: dict[tuple[str, str], Any] = {}
    for program, customer, *_, at, _packed in before["events"]:
        if at is not None and ((program, customer) not in earliest or at < earliest[program, customer]):
            earliest[program, customer] = at
    codes = [(*row, earliest.get((row[0], row[2]))) for row in before["referral_codes"]]
    assert any(code[-1] is not None for code in codes)
    return {**before, "referral_codes": codes}


def version(url: str) -> int:
    store = open_store(url, "store-test")
    assert isinstance(store, SqlStore)
    try:
        return int(store._execute("SELECT max(version) FROM schema_migrations")[0][0])
    finally:
        store.close()


def history(url: str, tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events the database at schema 11 was written with (fixtures/stores/README.md): (those
    it applied, by their ids kept, the shop's)."""
    store = open_store(url, "store-test")
    assert isinstance(store, SqlStore)
    try:
        kept = {event for (event,) in store._execute("SELECT event FROM events")}
    finally:
        store.close()
    applied = [event for event in stream(seed=12, customers=6, events=160) if event["id"] in kept]
    taken = [test_stock.purchase(name) for name in ("ann", "bob")] + [
        test_stock.redeem("ann"),
        test_stock.redeem("bob", "latte", 2),
    ]
    (tmp_path / "store-test.yaml").write_text(PROGRAM)
    return applied, taken


def views(url: str, tmp_path: Path, customers: list[str]) -> dict[str, Any]:
    """What people read: the ledger export (journal and reconciliation) and each customer's view."""
    program = str(tmp_path / "store-test.yaml")
    code, export = cli("ledger", "export", program, "--db", url, "--format", "json")
    assert code == 0, export  # it reconciles
    seen = {}
    for customer in customers:
        code, out = cli("customer", program, customer, "--db", url, "--json")
        assert code == 0, out
        seen[customer] = json.loads(out)
    return {"export": json.loads(export), "customers": seen}


def test_a_database_at_schema_11_upgrades_with_every_row_and_reads_the_same(url: str, tmp_path: Path) -> None:
    with schema_11():
        events, _ = history(url, tmp_path)
        assert version(url) == 11
        customers = sorted({event["customer"] for event in events} - {"c5"})
        before, seen = rows(url), views(url, tmp_path, customers)
    assert all(before[table] for table in ("ledger", "budgets", "referral_codes", "coupon_codes"))
    assert before["catalog_stock"] and before["customer_lists"]

    code, out = cli("db", "upgrade", url)

    assert code == 0, out
    assert f"schema: version {LATEST} of {LATEST}, up to date" in out
    assert version(url) == LATEST >= 12  # 12, then what came after it (13: the outcomes' dictionary)
    assert rows(url) == dated(before)  # every row, the ledger's seq included
    assert views(url, tmp_path, customers) == seen
    with open_store(url, "store-test") as store:
        consistent(store)  # each balance is the sum of its ledger rows


def test_after_the_upgrade_an_old_event_again_changes_nothing_and_a_new_one_follows(
    url: str, tmp_path: Path
) -> None:
    with schema_11():
        events, taken = history(url, tmp_path)
        before = rows(url)
    assert version(url) == LATEST  # opening it for writing upgrades it, as `db upgrade` does
    with open_store(url, "store-test") as store:
        loyalty = Loyalty(engine(), store, horizon=None)
        for event in events:  # every event applied before the upgrade, delivered again
            if event["customer"] != "c5":  # erased: their ids went with them (a pseudonym's now)
                assert loyalty.handle(event).duplicate, event["id"]
        assert rows(url) == dated(before)

        last = dt.datetime.fromisoformat(events[-1]["time"])
        later = {
            "id": "after-12",
            "type": "purchase",
            "customer": "c0",
            "time": (last + dt.timedelta(hours=1)).isoformat(),
            "items": [{"sku": "beans", "price": Decimal("30.00"), "qty": 1}],
        }
        booked = loyalty.process(later).new_ledger_entries
        ledger = list(store.ledger())
        consistent(store)
    assert booked
    old = [row[0] for row in before["ledger"] if row[1] == "store-test"]  # not the shop's
    assert [row.seq for row in ledger[: len(old)]] == old  # the old rows first, their seq kept
    assert [row.entry for row in ledger[len(old) :]] == list(booked)
    assert all(row.seq > old[-1] for row in ledger[len(old) :])
    with open_store(url, "shop") as shop:
        assert shop.redeemed() == {"latte": 1, "mug": 1} and len(taken) == 4


def test_the_schema_12_of_sqlite_has_no_counter_row_and_no_ledger_index_by_time(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with open_store(str(path), "store-test") as store:
        Loyalty(engine(), store, horizon=None).process(stream(seed=3, customers=1, events=1)[0])
        assert isinstance(store, SqlStore)
        tables = dict(store._execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        indexes = {name for (name,) in store._execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        counters = store._execute("SELECT name FROM sqlite_sequence")
    assert "AUTOINCREMENT" not in tables["ledger"] and counters == []
    assert "ledger_by_time" not in indexes and "ledger_by_customer" in indexes
    for table in ("budgets", "referral_codes", "catalog_stock", "coupon_codes", "customer_lists"):
        assert tables[table].endswith("WITHOUT ROWID"), table
    for table in ("customers", "events"):  # rows too big for it (migrations.py)
        assert "WITHOUT ROWID" not in tables[table], table
