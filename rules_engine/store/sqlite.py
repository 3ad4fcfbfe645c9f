"""The SQLite store: the embedded default, one file, no server to start.

Locking: every transaction is `BEGIN IMMEDIATE`, which takes the database's write lock at once,
so writers — threads or processes on the same machine — go one at a time; a writer waits up to
`timeout` seconds for the lock. Readers are not blocked (write-ahead log). Commits are durable
(`synchronous=FULL`): a worker killed at any point leaves every committed event and nothing of
the one it was in.

Checkpoints: a writing store's connection does not checkpoint the write-ahead log inside its
commits (`wal_autocheckpoint` off): a background thread does, and the store's next transaction
copies what that thread missed before it begins, so that the log starts again and stays bounded
(sqlite_log.py). `checkpoint="commit"` keeps SQLite's own automatic checkpoint instead.

Read-only (`readonly=True`, for commands that only read): the file is opened with `mode=ro`, so
nothing is written, not even the schema. A WAL database needs its `-shm` file to be read, which
SQLite creates next to the database; on read-only media (a read-only mount, a backup on a DVD)
it cannot, and the store then opens the file as immutable — safe there, since nothing can write
to the media. A log that was never checkpointed (`-wal` left by a writer that did not close) is
refused rather than ignored (RE609).

SQLite has no exact decimal type: points are stored as decimal text and added up in Python.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.base import Spending
from rules_engine.store.batch import ELEMENTS as BATCH_ELEMENTS
from rules_engine.store.cache import DEFAULT_SIZE, Cache
from rules_engine.store.migrations import pending
from rules_engine.store.sql import SqlStore
from rules_engine.store.sqlite_log import LOG_PAGES, Log, release, share
from rules_engine.store.sqlite_sync import behind
from rules_engine.store.summaries import Summaries

TIMES = 256
"""How many moments' texts a store object keeps (`SqliteStore._times`): a group's (32 events in the
service, shortcut.py `GROUP`; more in a replay's, which fills it again from empty)."""


class SqliteStore(SqlStore):
    dialect = "sqlite"
    _times: dict[int, tuple[dt.datetime, str]]
    """The moments written last (`_time`) and their texts, by identity (each moment kept with
    its text, so that its id stays its own): an event's ledger rows and its own row share its
    moment, and the conversion was ~1-5 µs each. Several, not only the last: a group writes its
    events' rows first and their ledger rows after (sql_writing.py `_flush`). Set by the
    constructor; let go of past `TIMES`."""

    def __init__(
        self,
        path: str | Path,
        program: str,
        *,
        timeout: float = 60.0,
        synchronous: Literal["full", "normal"] = "full",
        readonly: bool = False,
        cache: int = DEFAULT_SIZE,
        batch_elements: int = BATCH_ELEMENTS,
        cache_budget: int | None = None,
        checkpoint: Literal["background", "commit"] = "background",
        log_pages: int = LOG_PAGES,
    ) -> None:
        """`synchronous`: `full` (the default) makes every commit durable on disk before it returns
        (an fsync per event); `normal` survives a crash of the process — a killed worker loses
        nothing committed — but the last commits may be lost if the machine itself loses power.
        `readonly`: open an existing database without writing to it (see the module docstring).
        `cache`: how many customers' states the store object holds, `cache_budget` how many list
        elements in all (default 1,000 per customer of `cache`: cache.py); `batch_elements`:
        a group's budget of list elements before it writes its batch out early (batch.py).
        `checkpoint`: where the write-ahead log is checkpointed — `background` (the default: on a
        thread of its own, about every `log_pages` pages of log, sqlite_log.py) or `commit`
        (SQLite's automatic checkpoint, inside the commit that fills 1,000 pages)."""
        self.url = f"sqlite:///{path}" + ("" if synchronous == "full" else f"?synchronous={synchronous}")
        self.program = program
        self._cache = Cache(cache, cache_budget)
        self._summaries = Summaries(cache)
        self._times = {}
        self.batch_elements = batch_elements
        self._log: Log | None = None
        self._syncs = False
        """Every commit syncs the log (`synchronous=full`, WAL): but a transaction begun on a thread
        that syncs it itself (sqlite_sync.py `commit_behind`), which commits with NORMAL."""
        self._normal = False
        """In such a transaction: FULL again when it ends (`_full_again`)."""
        try:
            if readonly:
                self._db = _open_readonly(Path(path), self.url, timeout)
                self._check_schema()
                return
            self._db = sqlite3.connect(
                str(path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            journal = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._syncs = synchronous == "full" and journal == "wal"
            self._db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            if checkpoint == "background" and journal == "wal":  # a log to checkpoint (not `:memory:`)
                self._db.execute("PRAGMA wal_autocheckpoint = 0")
                self._log = share(str(path), synchronous.upper(), log_pages, timeout)
            self._migrate()
        except sqlite3.DatabaseError as problem:
            hint = damage_advice(problem) or (
                "check the path, that its folder exists and is writable, and that it is an SQLite file"
            )
            if not readonly and Path(path).is_file() and not _writable(Path(path)):
                hint = (
                    "the file or its folder cannot be written (read-only media, or permissions); this "
                    "command writes to the database, and SQLite writes its -wal and -shm files beside "
                    "it: copy it to writable storage. `loyalty customer`, `ledger export`, "
                    "`leaderboard --db` and `draw --db` (a result recorded before) can read it where it is"
                )
            if self._log is not None:
                release(self._log)
                self._log = None
            raise StoreError(
                [Diagnostic("RE601", f"{self.url}: cannot open the database: {problem}", hint=hint)]
            ) from None

    def _check_schema(self) -> None:
        """What `_migrate` checks, without migrating: a read-only store must be up to date."""
        tables = self._tables()
        applied = 0
        if "schema_migrations" in tables:
            applied = self._execute("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]
        if pending(applied, tables, self.url):
            raise StoreError(
                [
                    Diagnostic(
                        "RE609",
                        f"{self.url}: the database has schema version {applied}; reading it needs "
                        "an upgrade, which writes to it",
                        hint=f"run `loyalty db upgrade {self.url}` once, where it is writable",
                    )
                ]
            )

    def _tables(self) -> set[str]:
        return {row[0] for row in self._execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _advice(self, problem: Exception) -> str | None:
        return damage_advice(problem)

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as problem:
            raise self._failed(problem) from None

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as problem:
            raise self._failed(problem) from None

    def _begin(self) -> None:
        if self._syncs and behind():  # this transaction's commit only writes the log
            self._execute("PRAGMA synchronous = NORMAL")
            self._normal = True
        try:
            if self._log is not None:
                self._log.before_begin(self._db)
            self._execute("BEGIN IMMEDIATE")
        except BaseException:
            if self._normal:  # no transaction to end: FULL again now
                self._full_again()
            raise

    def _commit(self) -> None:
        self._execute("COMMIT")
        if self._normal:
            self._full_again()
        if self._log is not None:
            self._log.committed()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.rollback()
        if self._normal:
            self._full_again()

    def _full_again(self) -> None:
        """Every commit syncs again once a transaction begun behind (`_begin`) is over: a statement
        outside a transaction (a key added) commits on its own, and is answered at once."""
        self._execute("PRAGMA synchronous = FULL")
        self._normal = False

    def _lock_customer(self, customer: str) -> int | None:
        # BEGIN IMMEDIATE already holds the database's write lock.
        rows = self._execute(
            "SELECT revision FROM customers WHERE program = ? AND customer = ?", (self.program, customer)
        )
        return int(rows[0][0]) if rows else None

    def _lock_budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        spent: Spending = {}
        for rule, period in wanted:
            spent.setdefault(rule, {})[period] = self._spending(rule, period)
        return spent

    def _spending(self, rule: str, period: str) -> Decimal:
        rows = self._execute(
            "SELECT spent FROM budgets WHERE program = ? AND rule = ? AND period = ?",
            (self.program, rule, period),
        )
        return Decimal(rows[0][0]) if rows else Decimal(0)

    def _add_spending(self, spent: Sequence[tuple[str, str, Decimal]]) -> None:
        for rule, period, points in spent:
            total = self._spending(rule, period) + points
            self._execute(
                "INSERT INTO budgets (program, rule, period, spent) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (program, rule, period) DO UPDATE SET spent = excluded.spent",
                (self.program, rule, period, str(total)),
            )

    def _points(self, value: Decimal) -> Any:
        return str(value)

    def _time(self, value: dt.datetime) -> Any:
        times = self._times
        kept = times.get(id(value))
        if kept is not None and kept[0] is value:  # an event's row and its ledger rows: one moment
            return kept[1]
        text = value.astimezone(dt.UTC).isoformat(timespec="microseconds")
        if len(times) >= TIMES:
            times.clear()
        times[id(value)] = (value, text)  # one assignment: a pair, whichever thread reads it
        return text

    def _read_points(self, value: Any) -> Decimal:
        return Decimal(value)

    def _read_time(self, value: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(value)

    def close(self) -> None:
        """Close the connection, once the running background checkpoint is over: the last
        connection to the database to close checkpoints the log and deletes the -wal file."""
        if self._log is not None:
            release(self._log)
            self._log = None
        self._db.close()


def _open_readonly(path: Path, url: str, timeout: float) -> sqlite3.Connection:
    """A connection that never writes: `mode=ro`, or `immutable=1` on read-only media (the -shm
    file cannot be created there), unless a log that was never checkpointed would be ignored."""
    uri = f"file:{quote(str(path.absolute()))}"

    def connect(flag: str) -> sqlite3.Connection:
        db = sqlite3.connect(
            f"{uri}?{flag}", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the file for real
        except BaseException:
            db.close()
            raise
        return db

    try:
        return connect("mode=ro")
    except sqlite3.OperationalError as problem:
        if problem.sqlite_errorcode != sqlite3.SQLITE_CANTOPEN or not path.is_file():
            raise
    log = Path(f"{path}-wal")
    if log.exists() and log.stat().st_size > 0:
        raise StoreError(
            [
                Diagnostic(
                    "RE609",
                    f"{url}: the database cannot be read where it is: its write-ahead log ({log.name}) "
                    "holds changes that were never checkpointed, and SQLite cannot read them without "
                    "creating a file beside it",
                    hint="copy the database with its -wal file to writable storage and read it there",
                )
            ]
        )
    return connect("immutable=1")


def _writable(path: Path) -> bool:
    """Whether SQLite can write the database and create its -wal and -shm files beside it."""
    return os.access(path, os.W_OK) and os.access(path.absolute().parent, os.W_OK)


def damage_advice(problem: Exception) -> str | None:
    """What to do when SQLite says the file is damaged, the disk is full, the file cannot be
    written or the connection is used by two threads at once: a retry will not mend these, so the
    generic "retry" advice would mislead. By SQLite's extended error name (Python 3.11's
    `sqlite_errorname`) or its words; None for the others."""
    name = getattr(problem, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_CORRUPT") or name == "SQLITE_NOTADB":
        return (
            "the database file is damaged: SQLite cannot read it, and nothing was written to it. "
            "Restore it from a backup, or save what is readable with "
            "`sqlite3 DAMAGED.db .recover | sqlite3 RECOVERED.db` and use RECOVERED.db"
        )
    if name == "SQLITE_FULL":
        return (
            "the disk is full: nothing of the event in progress was written. Free some space, then "
            "send the event again (an event already applied is never applied twice)"
        )
    if "within a transaction" in str(problem):  # BEGIN while this connection is in one
        return (
            "this store is in the middle of another transaction on the same connection: a store "
            "(and a `Loyalty` over it) serves one thread at a time. Give each thread its own, "
            "opened on the same file; retrying on the shared one fails again"
        )
    if name.startswith("SQLITE_READONLY"):
        return (
            "the database cannot be written (read-only media or permissions): nothing was written. "
            "Copy it to writable storage; `loyalty customer` and `ledger export` can read it where it is"
        )
    return None
