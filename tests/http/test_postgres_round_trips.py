"""PostgreSQL's round trips: what a transaction waits for the server for (store/postgres.py).

A transaction's BEGIN is sent with its first statements, in their pipeline, and a write's COMMIT
with its writes: the events lane's group waits three times (its reads ahead; BEGIN and its sorted
locks; its writes and COMMIT), where it waited five (BEGIN and COMMIT each alone); an event alone
three times (BEGIN and its customer's lock; whether its id is stored; its writes and COMMIT).
Counted from libpq's own trace of the connection: one wait is one ReadyForQuery from the server.
What a client relies on stays: the locks are held from BEGIN until COMMIT (another connection
cannot take them meanwhile), and a write that fails midway leaves nothing, not even the rows
written before it in the same pipeline.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.errors import RulesEngineError, StoreError
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.service import Loyalty
from rules_engine.state.customer import LedgerEntry
from rules_engine.store import open_store
from rules_engine.store.postgres import PostgresStore
from rules_engine.store.sql_writing import SqlWriting
from tests.http.conftest import decided_group, purchase, started

PROGRAM = "coffee-club"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

_PARSE = re.compile(r' "([^"]*)" "(.*?)" \d+')
_BIND = re.compile(r' "[^"]*" "([^"]*)"')


def _round_trips(trace: str, names: dict[str, str]) -> list[list[str]]:
    """The statements the client sent, by the wait they were answered in (a ReadyForQuery each):
    each statement's first word (BEGIN, SELECT, INSERT, …), one per Execute or simple Query.
    `names`: the statements psycopg prepared (after 5 uses), by name, those of earlier traces
    of the connection too."""
    trips: list[list[str]] = []
    current: list[str] = []
    bound = ""
    for line in trace.splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        who, message, rest = parts[0], parts[2], parts[3] if len(parts) > 3 else ""
        if who == "F" and message == "Parse":
            found = _PARSE.match(rest)
            assert found is not None, line
            names[found[1]] = found[2].split()[0].upper()
        elif who == "F" and message == "Bind":
            found = _BIND.match(rest)
            assert found is not None, line
            bound = names[found[1]]
        elif who == "F" and message == "Execute":
            current.append(bound)
        elif who == "F" and message == "Query":
            current.append(rest.strip().strip('"').split()[0].upper())
        elif who == "B" and message == "ReadyForQuery":
            trips.append(current)
            current = []
    return trips


@contextmanager
def _traced(store: PostgresStore, names: dict[str, str]) -> Iterator[list[list[str]]]:
    """libpq's trace of the store's connection while the block runs; what it gives, filled when
    the block ends: the round trips (`_round_trips`). Every statement the connection sends after
    the first of its traces is to be traced (`names`)."""
    trips: list[list[str]] = []
    with tempfile.TemporaryFile(mode="w+") as file:
        pgconn = store._db.pgconn
        pgconn.trace(os.dup(file.fileno()))  # libpq's own FILE, closed by untrace
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield trips
        finally:
            pgconn.untrace()
            file.seek(0)
            trips += _round_trips(file.read(), names)


def _body(event: dict[str, Any]) -> bytes:
    return jsonio.dumps(event).encode()


def _lane(runtime: Runtime) -> PostgresStore:
    store = runtime.stores.lane_store(PROGRAM)
    assert isinstance(store, PostgresStore)
    return store


def _handle(store: PostgresStore, program_dir: Path, event: dict[str, Any]) -> Any:
    """The event decided and stored alone, in a transaction of its own (`Loyalty.handle`)."""
    parsed = events.parse_text(_body(event))
    assert not isinstance(parsed, str)
    engine = Engine.from_file(program_dir / f"{PROGRAM}.yaml")
    return Loyalty(engine, store, now=NOW).handle(parsed)


def _rows(db: str) -> dict[str, int]:
    with psycopg.connect(db) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in ("customers", "customer_lists", "events", "ledger")
        }


def test_a_lane_group_waits_three_times(postgres_database: str, program_dir: Path) -> None:
    """A group of new customers and one of the same customers again (their states held): its
    reads ahead, then BEGIN with its sorted locks, then its writes with COMMIT; nothing alone,
    and one statement a table, not one a row."""
    with started(program_dir, postgres_database, NOW) as runtime:
        store = _lane(runtime)
        names: dict[str, str] = {}
        for first in (1, 2):
            bodies = [_body(purchase(first * 10 + n, customer)) for n, customer in enumerate("cab")]
            store._free_connection()  # the connection the group takes (its other: postgres_flights.py)
            with _traced(store, names) as trips:
                answers = decided_group(runtime, PROGRAM, bodies)
            assert all(not isinstance(answer, Exception) for answer in answers)
            reads, locks, writes = trips  # three, no more
            assert reads == ["SELECT", "SELECT"]  # revisions and stored ids (`read_ahead`)
            assert locks == ["BEGIN", "INSERT", "SELECT"]  # one statement locks all three
            # The summaries, the list rows, the events, the ledger entries: one statement a table
            # whatever the rows (postgres_arrays.py), and COMMIT.
            assert writes == ["INSERT", "INSERT", "INSERT", "INSERT", "COMMIT"]
        assert store._db.info.transaction_status == pq.TransactionStatus.IDLE
    with open_store(postgres_database, PROGRAM) as check:
        assert check.customers() == ["a", "b", "c"] and check.processed() == 6


def test_an_event_alone_waits_three_times(postgres_database: str, program_dir: Path) -> None:
    """An event in a transaction of its own, a new customer's and then a known one's: BEGIN with
    the customer's lock (placeholder insert and FOR UPDATE), whether its id is stored, its writes
    with COMMIT. A redelivery writes nothing: its lock and lookup, then ROLLBACK."""
    with open_store(postgres_database, PROGRAM) as store:
        assert isinstance(store, PostgresStore)
        names: dict[str, str] = {}
        for number in (1, 2):
            with _traced(store, names) as trips:
                assert not _handle(store, program_dir, purchase(number, "ann")).duplicate
            lock, lookup, writes = trips
            assert lock == ["BEGIN", "INSERT", "SELECT"] and lookup == ["SELECT"]
            assert writes[-1] == "COMMIT" and "BEGIN" not in writes and len(writes) > 1
        with _traced(store, names) as trips:
            assert _handle(store, program_dir, purchase(2, "ann")).duplicate
        assert trips[:3] == [["BEGIN", "INSERT", "SELECT"], ["SELECT"], ["ROLLBACK"]]
        # (psycopg forgets its prepared statements at a ROLLBACK, and deallocates them: one wait.)
        assert trips[3:] in ([], [["DEALLOCATE"]])
        assert store.processed() == 2


def test_locks_taken_with_begin_are_held_until_commit(postgres_database: str, program_dir: Path) -> None:
    """The lock statements that carry BEGIN are in the transaction: until it commits, another
    connection cannot lock the customers' rows (it waits past its lock timeout), for a lane's
    group and an event alone, new customers and known ones. (Sent without a transaction, each
    lock would have ended with its statement.)"""
    tried: list[str] = []

    def others_cannot_lock(customers: Sequence[str]) -> None:
        with psycopg.connect(postgres_database, autocommit=True) as other:
            other.execute("SET lock_timeout = '200ms'")
            for customer in customers:  # as `_lock_customers` locks: a new customer's row too
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    other.execute(
                        "INSERT INTO customers (program, customer, state, revision) VALUES (%s, %s, '', 0)"
                        " ON CONFLICT (program, customer)"
                        " DO UPDATE SET revision = customers.revision WHERE false",
                        (PROGRAM, customer),
                    )
                tried.append(customer)

    many, one = PostgresStore._lock_customers, PostgresStore._lock_customer

    def lock_many(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        found = many(store, customers)
        others_cannot_lock(customers)
        return found

    def lock_one(store: PostgresStore, customer: str) -> int | None:
        found = one(store, customer)
        others_cannot_lock([customer])
        return found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresStore, "_lock_customers", lock_many)
        patch.setattr(PostgresStore, "_lock_customer", lock_one)
        with started(program_dir, postgres_database, NOW) as runtime:
            for number in (1, 2):  # new customers, then known ones
                bodies = [_body(purchase(number, customer)) for customer in ("ben", "ann")]
                assert all(not isinstance(a, Exception) for a in decided_group(runtime, PROGRAM, bodies))
        with open_store(postgres_database, PROGRAM) as store:
            assert isinstance(store, PostgresStore)
            _handle(store, program_dir, purchase(3, "cy"))
            _handle(store, program_dir, purchase(3, "ann"))
    assert tried == ["ann", "ben", "ann", "ben", "cy", "ann"]
    with psycopg.connect(postgres_database, autocommit=True) as other:  # committed: free again
        other.execute("SELECT 1 FROM customers WHERE program = %s FOR UPDATE NOWAIT", (PROGRAM,))


@pytest.mark.parametrize("grouped", [True, False], ids=["group", "alone"])
def test_a_write_failing_midway_leaves_nothing(
    postgres_database: str, program_dir: Path, monkeypatch: pytest.MonkeyPatch, grouped: bool
) -> None:
    """A ledger row the server refuses, sent after the customer's state in the same pipeline as
    COMMIT: RE605, and the database holds nothing of the transaction (the state and the
    placeholder rows before the failure rolled back, COMMIT skipped); the connection is usable
    and the same event is then written."""
    row = SqlWriting._ledger_row

    def refused(store: SqlWriting, customer: str, entry: LedgerEntry) -> tuple[Any, ...]:
        made = row(store, customer, entry)
        return (*made[:5], "not a number", *made[6:])

    with open_store(postgres_database, PROGRAM) as store:
        assert isinstance(store, PostgresStore)
        monkeypatch.setattr(SqlWriting, "_ledger_row", refused)
        with pytest.raises(StoreError, match="numeric") as raised:
            if grouped:
                with store.group():
                    _handle(store, program_dir, purchase(1, "ann"))
                    _handle(store, program_dir, purchase(1, "ben"))
            else:
                _handle(store, program_dir, purchase(1, "ann"))
        assert raised.value.code == "RE605"
        assert store._db.info.transaction_status == pq.TransactionStatus.IDLE
        assert _rows(postgres_database) == {"customers": 0, "customer_lists": 0, "events": 0, "ledger": 0}
        monkeypatch.setattr(SqlWriting, "_ledger_row", row)
        assert not _handle(store, program_dir, purchase(1, "ann")).duplicate
        assert store.customers() == ["ann"] and store.processed() == 1


def test_a_rolled_back_event_keeps_the_prepared_statements(postgres_database: str, program_dir: Path) -> None:
    """Once psycopg has prepared the statements (after 5 uses), an event that writes nothing — a
    redelivery, or a reused id with another payload (refused) — rolls back in one wait with no
    `DEALLOCATE ALL` after it, and the next event runs on the statements prepared before: none
    is parsed again. (psycopg's own ROLLBACK forgets them all: a round trip more, and each
    statement planned again.)"""
    with open_store(postgres_database, PROGRAM) as store:
        assert isinstance(store, PostgresStore)
        names: dict[str, str] = {}
        with _traced(store, names):
            for number in range(1, 8):
                assert not _handle(store, program_dir, purchase(number, "ann")).duplicate
        prepared = len(names)
        assert prepared >= 3  # the lock, the lookup, the writes: prepared by now
        with _traced(store, names) as trips:
            assert _handle(store, program_dir, purchase(7, "ann")).duplicate
            with pytest.raises(RulesEngineError) as refused:
                _handle(store, program_dir, purchase(6, "ann", price="99.00"))
            assert not _handle(store, program_dir, purchase(8, "ann")).duplicate
        assert refused.value.code == "RE443"
        lock, lookup = ["BEGIN", "INSERT", "SELECT"], ["SELECT"]
        assert trips[:6] == [lock, lookup, ["ROLLBACK"], lock, lookup, ["ROLLBACK"]]
        assert trips[6:8] == [lock, lookup] and trips[8][-1] == "COMMIT" and len(trips) == 9
        assert len(names) == prepared  # nothing prepared again
    with open_store(postgres_database, PROGRAM) as check:
        assert check.processed() == 8
