"""A database of schema 15 (before recorded draws), SQLite and PostgreSQL alike: `loyalty db upgrade`
adds the `draws` table (migration 16), and the draw its entries were waiting for is then drawn
once and recorded (fixtures/stores/README.md says how the files were made)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rules_engine.store.migrations import LATEST
from tests.store.test_upgrade_fixtures import FIXTURES, cli, restore

VOLT = Path(__file__).parents[2] / "programs" / "volt-electronics.yaml"


@pytest.fixture(params=["sqlite", "postgresql"])
def schema_15(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A copy of the schema-15 database (`loyalty db upgrade` not run yet)."""
    if request.param == "sqlite":
        path = tmp_path / "old.db"
        shutil.copy(FIXTURES / "volt-electronics-schema-15.db", path)
        return str(path)
    url: str = request.getfixturevalue("postgres_database")
    restore(url, FIXTURES / "volt-electronics-schema-15.postgres.sql")
    return url


def test_db_upgrade_adds_recorded_draws_and_the_draw_is_recorded_once(schema_15: str) -> None:
    code, out, _ = cli("db", "status", schema_15)
    assert code == 0 and f"schema: version 15 of {LATEST}\n" in out

    code, out, err = cli("db", "upgrade", schema_15)

    assert code == 0, err
    assert LATEST == 16 and f"schema: version {LATEST} of {LATEST}, up to date" in out
    draw = ["draw", str(VOLT), "--db", schema_15, "--draw", "new-year-draw", "--seed", "lotto"]
    code, first, err = cli(*draw)
    assert code == 0, err
    assert first.startswith("draw new-year-draw: 5 entries from 5 customers, seed 'lotto'\n1. ")
    assert first.splitlines()[-1].startswith("recorded in ")
    code, again, err = cli(*draw)
    assert code == 0, err
    assert again.splitlines()[:-1] == first.splitlines()[:-1]
    assert again.splitlines()[-1].startswith("recorded before, at 2027-01-02T12:00:00+05:00")


def test_a_newer_schema_than_the_code_knows_is_still_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "volt-electronics-schema-15.db", path)
    assert cli("db", "upgrade", str(path))[0] == 0
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (?, 'from the future')", (LATEST + 1,))

    code, _, err = cli("draw", str(VOLT), "--db", str(path), "--draw", "new-year-draw", "--seed", "lotto")

    assert code == 1 and "RE603" in err
