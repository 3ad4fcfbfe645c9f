"""The SQLite store: the embedded default, one file, no server to start.

Locking: every transaction is `BEGIN IMMEDIATE`, which takes the database's write lock at once,
so writers — threads or processes on the same machine — go one at a time; a writer waits up to
`timeout` seconds for the lock. Readers are not blocked (write-ahead log). Commits are durable
(`synchronous=FULL`): a worker killed at any point leaves every committed event and nothing of
the one it was in.

SQLite has no exact decimal type: points are stored as decimal text and added up in Python.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.base import Spending
from rules_engine.store.sql import SqlStore


class SqliteStore(SqlStore):
    dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        program: str,
        *,
        timeout: float = 60.0,
        synchronous: Literal["full", "normal"] = "full",
    ) -> None:
        """`synchronous`: `full` (the default) makes every commit durable on disk before it returns
        (an fsync per event); `normal` survives a crash of the process — a killed worker loses
        nothing committed — but the last commits may be lost if the machine itself loses power."""
        self.url = f"sqlite:///{path}" + ("" if synchronous == "full" else f"?synchronous={synchronous}")
        self.program = program
        try:
            self._db = sqlite3.connect(
                str(path), timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._migrate()
        except sqlite3.DatabaseError as problem:
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{self.url}: cannot open the database: {problem}",
                        hint="check the path, that its folder exists and is writable, and that it is "
                        "an SQLite file",
                    )
                ]
            ) from None

    def _tables(self) -> set[str]:
        return {row[0] for row in self._execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

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
        self._execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self._execute("COMMIT")

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.rollback()

    def _lock_customer(self, customer: str) -> str | None:
        # BEGIN IMMEDIATE already holds the database's write lock.
        rows = self._execute(
            "SELECT state FROM customers WHERE program = ? AND customer = ?", (self.program, customer)
        )
        return rows[0][0] if rows else None

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
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")

    def _read_points(self, value: Any) -> Decimal:
        return Decimal(value)

    def _read_time(self, value: Any) -> dt.datetime:
        return dt.datetime.fromisoformat(value)

    def close(self) -> None:
        self._db.close()
