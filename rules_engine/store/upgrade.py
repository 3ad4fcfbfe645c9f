"""Where a database's schema stands, and bringing it up to date on purpose: `loyalty db status|upgrade`.

Opening a store for writing applies the migrations it lacks (migrations.py), so a single process
never needs this. An operator does: before starting several service workers on a new release,
to upgrade once and see it done rather than have the first worker do it under load; to read a
database on read-only media, which must be up to date (RE609); and to see, before deploying,
whether a release would change a database at all. `status` never writes; `upgrade` applies what
`status` lists, all or none, in one transaction, and refuses a database that is newer than this
engine (RE603) or not a store of it (RE602), changing nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.migrations import LATEST, Migration, pending


@dataclass(frozen=True)
class SchemaStatus:
    """A database's schema version against the newest this engine knows, and what it holds."""

    url: str
    applied: int
    """The version of the latest migration applied; 0 for a database with no store in it yet."""
    latest: int
    """The newest version this engine knows (`migrations.LATEST`)."""
    pending: tuple[Migration, ...]
    """The migrations `upgrade` would apply, in order."""
    programs: dict[str, int]
    """Customers per program, for a database that has a customers table."""

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def status(url: str) -> SchemaStatus:
    """The schema of the database at `url`, read without writing anything (not even a schema).

    Raises:
        StoreError: there is no database there or it cannot be reached (RE601), it is a newer
            store than this engine knows (RE603) or a database of something else (RE602).
    """
    if url.startswith(("postgresql://", "postgres://")):
        return _postgres_status(url)
    return _sqlite_status(url)


def upgrade(url: str) -> tuple[SchemaStatus, SchemaStatus]:
    """Apply the migrations the database lacks; (before, after). An up-to-date one is left alone."""
    from rules_engine.store import open_store

    before = status(url)
    if before.pending:
        open_store(url, "", create=False).close()  # opening for writing migrates (migrations.py)
    return before, status(url)


def _sqlite_status(url: str) -> SchemaStatus:
    import sqlite3

    from rules_engine.store import sqlite_path
    from rules_engine.store.sqlite import _open_readonly, damage_advice

    if url == "memory:":
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    "memory: is a store in the process that opens it, with no schema to upgrade",
                    hint="give an SQLite file or a postgresql:// URL",
                )
            ]
        )
    path = sqlite_path(url)
    if path is None:
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"{url}: not a store URL",
                    hint="an SQLite file, sqlite:///PATH or postgresql://…",
                )
            ]
        )
    shown = f"sqlite:///{path}"
    if not Path(path).is_file():
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"no database at {path}",
                    hint="check the path; `loyalty run PROGRAM EVENTS --db PATH` creates one",
                )
            ]
        )
    db: sqlite3.Connection | None = None
    try:  # a file that is no database (or a damaged one) fails as it is opened
        db = _open_readonly(Path(path), shown, 60.0)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return _read(shown, tables, lambda sql: db.execute(sql).fetchall())
    except sqlite3.DatabaseError as problem:
        hint = damage_advice(problem) or "check that it is an SQLite file of this engine"
        raise StoreError(
            [Diagnostic("RE601", f"{shown}: cannot read the database: {problem}", hint=hint)]
        ) from None
    finally:
        if db is not None:
            db.close()


def _postgres_status(url: str) -> SchemaStatus:
    from rules_engine.store import no_psycopg

    try:
        import psycopg
    except ImportError:
        raise no_psycopg() from None
    from rules_engine.store.postgres import _without_password

    shown = _without_password(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as db:
            rows = db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
            return _read(shown, {row[0] for row in rows}, lambda sql: db.execute(sql).fetchall())
    except psycopg.Error as problem:
        raise StoreError(
            [
                Diagnostic(
                    "RE601",
                    f"{shown}: cannot read the database: {str(problem).strip()}",
                    hint="check that the server runs, and the host, port, database and user in the URL",
                )
            ]
        ) from None


def _read(url: str, tables: set[str], query: Any) -> SchemaStatus:
    """The status from a connection's `query(sql) -> rows`; `pending` refuses a newer or foreign database."""
    applied = 0
    if "schema_migrations" in tables:
        applied = int(query("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0])
    todo = pending(applied, tables, url)
    programs: dict[str, int] = {}
    if "customers" in tables:
        counted: Sequence[tuple[Any, ...]] = query(
            "SELECT program, count(*) FROM customers GROUP BY program ORDER BY program"
        )
        programs = {str(program): int(count) for program, count in counted}
    return SchemaStatus(url, applied, LATEST, tuple(todo), programs)
