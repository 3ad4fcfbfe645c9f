"""Migration 12 (leaner tables): a database written by the code before it, at schema 11, upgrades
with every row as it was, reads back the same through the CLI, and goes on exactly once.

The database is made here, not kept as a file: the migrations up to 11 only (`migrations.MIGRATIONS`
cut there while it is written, as the code before 12 had them), then events written through the
store's own code path — a transaction per event and a replay's groups, budgets, referral codes,
refused redemptions, an erasure, bulk coupon codes, a second program with catalog stock — which
writes the same columns at 11 and at 12. `test_upgrade.py` upgrades a database the code of
2026-12-02 wrote (schema 9) through 12 as well.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.store import migrations, open_store
from rules_engine.store.migrations import LATEST, MIGRATIONS
from rules_engine.store.sql import SqlStore
from rules_engine.tools import coupon_codes
from tests.store import test_stock
from tests.store.streams import PROGRAM, engine, stream
from tests.store.test_workers import consistent

SECRET = "store tests"
STOCK_PROGRAM = test_stock.PROGRAM.replace("program: store-test", "program: shop")
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
    if request.param == "sqlite":
        return str(tmp_path / "loyalty.db")
    found: str = request.getfixturevalue("postgres_database")  # skipped without a server
    return found


@contextmanager
def schema_11() -> Iterator[None]:
    """The migrations as the code before migration 12 had them, while the block runs; but for the
    column today's code writes a referral code's time in (`known_at`, migration 15) and the table
    an erasure renames a draw's winner in (`draws`, migration 16), which `write_history` drops once
    it is done, as the code before had neither."""
    eleventh, draws = MIGRATIONS[10], MIGRATIONS[15]
    known_at = "ALTER TABLE referral_codes ADD COLUMN known_at"
    writable = replace(
        eleventh,
        sqlite=(*eleventh.sqlite, f"{known_at} TEXT", *draws.sqlite),
        postgresql=(*eleventh.postgresql, f"{known_at} TIMESTAMPTZ", *draws.postgresql),
    )
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(migrations, "MIGRATIONS", (*MIGRATIONS[:10], writable))
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


def write_history(url: str, tmp_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events a store at schema 11 gets (module docstring); (the events it applied, the shop's)."""
    events = stream(seed=12, customers=6, events=160)
    applied = []
    store = open_store(url, "store-test")
    try:
        loyalty = Loyalty(engine(), store, horizon=None)
        for event in events[:60]:  # a transaction per event, as the service
            try:
                loyalty.process(event)
            except EventError:
                continue  # a redemption refused for lack of points: written nowhere
            applied.append(event)
        for start in range(60, len(events), 25):  # a replay's groups
            with store.group():
                for event in events[start : start + 25]:
                    try:
                        loyalty.handle(event)
                    except EventError:
                        continue
                    applied.append(event)
        loyalty.erase("c5", operator="desk", at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC))
        coupon_codes.generate(store, engine().program, "five-off", 7, batch="flyer", at=test_stock.START)
    finally:
        store.close()
    store = open_store(url, "shop")
    shop = Loyalty(
        Engine(load_program_text(STOCK_PROGRAM, "shop.yaml"), secret=b"stock"), store, horizon=None
    )
    taken = [test_stock.purchase(name) for name in ("ann", "bob")] + [
        test_stock.redeem("ann"),
        test_stock.redeem("bob", "latte", 2),
    ]
    try:
        for event in taken:
            shop.process(event)
    finally:
        store.close()
    _drop_known_at(url)
    (tmp_path / "store-test.yaml").write_text(PROGRAM)
    return applied, taken


def _drop_known_at(url: str) -> None:
    """The referral codes as the code before migration 15 wrote them, and no `draws` (`schema_11`)."""
    drops = ("ALTER TABLE referral_codes DROP COLUMN known_at", "DROP TABLE draws")
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as db:
            for drop in drops:
                db.execute(drop)
        return
    with sqlite3.connect(url) as db:
        for drop in drops:
            db.execute(drop)


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
        events, _ = write_history(url, tmp_path)
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
        events, taken = write_history(url, tmp_path)
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
