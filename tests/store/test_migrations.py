"""Schema versions: an older database is migrated with its data, a newer or foreign one refused untouched."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.errors import EventError, StoreError
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store
from rules_engine.store.migrations import LATEST, MIGRATIONS
from rules_engine.store.outcomes import unpack
from rules_engine.store.sqlite import SqliteStore
from tests.store.streams import engine
from tests.store.test_stores import START, purchase

ENGINE = engine()


def versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]


def dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


def test_a_new_database_gets_every_migration(tmp_path: Path) -> None:
    open_store(str(tmp_path / "new.db"), "store-test").close()
    assert versions(tmp_path / "new.db") == [m.version for m in MIGRATIONS]


def test_a_database_of_the_first_version_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    first = MIGRATIONS[0]
    with sqlite3.connect(path) as db:  # what the first release of the store wrote
        db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)")
        for statement in first.sqlite:
            db.execute(statement)
        db.execute("INSERT INTO schema_migrations VALUES (1, ?)", (first.description,))
        db.execute(
            "INSERT INTO customers VALUES ('store-test', 'ann', ?, 1)",
            (ENGINE.process(purchase(1), None).state.model_dump_json(),),
        )

    with open_store(str(path), "store-test") as store:
        assert versions(path) == [migration.version for migration in MIGRATIONS]
        assert store.customers() == ["ann"]
        outcome = Loyalty(ENGINE, store).process(purchase(2))
    assert outcome.state.visits == 2


def test_events_stored_before_digests_were_kept_count_as_matching(tmp_path: Path) -> None:
    """Schema 4 keeps each event's payload digest and time; rows written before it have neither: a
    redelivery of such an event is a duplicate whatever its payload (there is nothing to compare
    with). Their time is taken from the ledger entries they booked, so the horizon is measured from
    the store's history at once: a typo'd year is refused on the first run after the upgrade."""
    path = tmp_path / "v3.db"
    with open_store(str(path), "store-test") as store:
        Loyalty(ENGINE, store).process(purchase(1))
    with sqlite3.connect(path) as db:  # as version 3 left it
        for rowid, packed in db.execute("SELECT rowid, packed FROM events").fetchall():  # version 10's
            db.execute("UPDATE events SET outcome = ? WHERE rowid = ?", (unpack("", packed), rowid))
        db.execute("ALTER TABLE events DROP COLUMN packed")
        db.execute("DROP INDEX events_by_time")
        db.execute("ALTER TABLE events DROP COLUMN digest")
        db.execute("ALTER TABLE events DROP COLUMN at")
        db.execute("DROP TABLE api_keys")  # version 5's
        db.execute("ALTER TABLE ledger DROP COLUMN lines")  # version 6's
        db.execute("DROP TABLE coupon_codes")  # version 7's
        db.execute("DROP TABLE catalog_stock")  # version 8's
        db.execute("DROP TABLE program_versions")  # version 9's
        db.execute("DROP TABLE draws")  # version 16's
        db.execute("DELETE FROM schema_migrations WHERE version >= 4")
    with open_store(str(path), "store-test") as store:
        assert versions(path) == [migration.version for migration in MIGRATIONS]
        assert store.latest_event_time() == START + dt.timedelta(hours=1)  # purchase 1's, from the ledger
        loyalty = Loyalty(ENGINE, store)
        with pytest.raises(EventError) as typo:
            loyalty.process({**purchase(3), "time": "2031-01-01T10:00:00+01:00"})
        assert typo.value.code == "RE441"
        assert loyalty.handle(purchase(1, price="90000.00")).duplicate
        loyalty.process(purchase(2))
        with pytest.raises(EventError) as refused:
            loyalty.process(purchase(2, price="90000.00"))
        assert refused.value.code == "RE443"


def test_referral_codes_written_before_schema_15_are_known_from_their_first_event_kept(sql_url: str) -> None:
    """Migration 15 dates each code kept before it from its customer's earliest event time kept;
    a customer with none (an imported state) is known since ever, as every code was before."""
    with open_store(sql_url, "store-test") as store:
        loyalty = Loyalty(ENGINE, store)
        loyalty.process(purchase(2, "fay"))
        loyalty.process(purchase(5, "fay"))
        loyalty.put("ivy", CustomerState(customer="ivy"))
    execute = _sqlite if not sql_url.startswith("postgresql") else _postgresql
    execute(
        sql_url,
        [
            "ALTER TABLE referral_codes DROP COLUMN known_at",
            "DROP TABLE draws",  # version 16's
            "DELETE FROM schema_migrations WHERE version >= 15",
        ],
    )

    with open_store(sql_url, "store-test") as store:
        first = START + dt.timedelta(hours=2)  # purchase 2's: fay's first event
        assert store.referrer(CODES["fay"], first + dt.timedelta(microseconds=1)) == "fay"
        assert store.referrer(CODES["fay"], first) is None
        assert store.referrer(CODES["ivy"], START - dt.timedelta(days=999)) == "ivy"


CODES = {name: referral_code("store-test", name, b"store tests") for name in ("fay", "ivy")}


def _sqlite(url: str, statements: list[str]) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///").split("?")[0]) as db:
        for statement in statements:
            db.execute(statement)


def _postgresql(url: str, statements: list[str]) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        for statement in statements:
            db.execute(statement)


def test_a_database_of_a_newer_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    open_store(str(path), "store-test").close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future')", (LATEST + 1,))
    before = dump(path)
    with pytest.raises(StoreError) as refused:
        open_store(str(path), "store-test")
    assert refused.value.code == "RE603"
    assert f"schema version {LATEST + 1}" in str(refused.value)
    assert "upgrade" in (refused.value.diagnostics[0].hint or "")
    assert dump(path) == before


def test_a_database_that_is_not_a_store_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    before = dump(path)
    with pytest.raises(StoreError) as refused:
        open_store(str(path), "store-test")
    assert refused.value.code == "RE602"
    assert dump(path) == before


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("shopping list\n" * 200)
    with pytest.raises(StoreError) as refused:
        open_store(str(path), "store-test")
    assert refused.value.code == "RE601"
    assert path.read_text() == "shopping list\n" * 200


def test_an_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(StoreError) as refused:
        open_store("mysql://somewhere/db", "store-test")
    assert refused.value.code == "RE601"


def test_postgresql_migrates_once_and_refuses_a_newer_schema(postgres_database: str) -> None:
    import psycopg

    open_store(postgres_database, "store-test").close()
    open_store(postgres_database, "store-test").close()  # a second open applies nothing
    with psycopg.connect(postgres_database, autocommit=True) as db:
        rows = db.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert [row[0] for row in rows] == [migration.version for migration in MIGRATIONS]
        db.execute("INSERT INTO schema_migrations VALUES (%s, 'from the future')", (LATEST + 1,))
    with pytest.raises(StoreError) as refused:
        open_store(postgres_database, "store-test")
    assert refused.value.code == "RE603"


def test_an_unreachable_postgresql_server_is_a_clear_error() -> None:
    with pytest.raises(StoreError) as refused:
        open_store("postgresql://nobody:secret@127.0.0.1:1/none?connect_timeout=2", "store-test")
    assert refused.value.code == "RE601"
    assert "secret" not in str(refused.value)


def test_every_store_error_code_is_in_the_table_of_docs_stores() -> None:
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "stores.md").read_text(encoding="utf-8")
    sources = [*(ROOT / "rules_engine" / "store").glob("*.py"), ROOT / "rules_engine" / "service.py"]
    sources += (ROOT / "rules_engine" / "cli").glob("*.py")
    codes = {code for path in sources for code in re.findall(r'"(RE6\d\d|RE70[12356])"', path.read_text())}
    assert {"RE601", "RE602", "RE603", "RE604", "RE701", "RE702", "RE703", "RE706"} <= codes
    assert not [code for code in codes if f"| {code} |" not in text]


def test_a_database_that_stays_locked_fails_the_event_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    store = SqliteStore(path, "store-test", timeout=0.2)
    loyalty = Loyalty(ENGINE, store)
    loyalty.process(purchase(1))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreError) as failed:
        loyalty.process(purchase(2))
    assert failed.value.code == "RE605" and "locked" in str(failed.value)
    other.execute("ROLLBACK")
    assert store.processed() == 1
    assert not loyalty.handle(purchase(2)).duplicate  # the retry applies it, once
    assert loyalty.handle(purchase(2)).duplicate
    store.close()


def test_a_lost_postgresql_connection_fails_the_event_cleanly(postgres_database: str) -> None:
    import psycopg

    store = open_store(postgres_database, "store-test")
    loyalty = Loyalty(ENGINE, store)
    loyalty.process(purchase(1))
    with psycopg.connect(postgres_database, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreError) as failed:
        loyalty.process(purchase(2))
    assert failed.value.code == "RE605"
    with open_store(postgres_database, "store-test") as again:
        assert again.processed() == 1
        assert not Loyalty(ENGINE, again).handle(purchase(2)).duplicate


def test_sqlite_durability_is_full_unless_the_url_asks_for_normal(tmp_path: Path) -> None:
    def synchronous(url: str) -> int:
        store = open_store(url, "store-test")
        assert isinstance(store, SqliteStore)
        level: int = store._db.execute("PRAGMA synchronous").fetchone()[0]
        store.close()
        return level

    assert synchronous(str(tmp_path / "a.db")) == 2  # FULL
    assert synchronous(f"sqlite:///{tmp_path / 'b.db'}") == 2
    assert synchronous(f"sqlite:///{tmp_path / 'c.db'}?synchronous=normal") == 1  # NORMAL
    with pytest.raises(StoreError) as refused:
        open_store(f"sqlite:///{tmp_path / 'd.db'}?synchronous=off", "store-test")
    assert refused.value.code == "RE601" and "synchronous=normal" in (refused.value.diagnostics[0].hint or "")
    assert not (tmp_path / "d.db").exists()
