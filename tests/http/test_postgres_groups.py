"""PostgreSQL's events lane stores the events waiting together in one transaction (routes/events.py
`_speculate`, `Stores.sorted_locks`): a group is decided on the lane's own connection without
locks, then its customers' rows are locked in sorted order, their revisions checked, the group
written and committed once. What a client relies on does not change: every answer is byte for
byte the answer of the same events decided one at a time, each in its own transaction, and the
database ends the same table by table; another worker's write between the group's reads and its
locks (the customer, the very same event) makes the group decide again, and it answers as if
decided after that write; two workers whose groups hold the same customers in opposite orders
both finish (no deadlock)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.errors import RulesEngineError
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.store import open_store, sql_transactions
from rules_engine.store.postgres import PostgresStore
from rules_engine.store.sql_writing import SqlWriting
from tests import postgres
from tests.http.conftest import counting_checks, decided_group, other_worker, purchase, started

PROGRAM = "coffee-club"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _seen(answer: Any) -> Any:
    if isinstance(answer, RulesEngineError):
        return type(answer).__name__, [d.code for d in answer.diagnostics]
    return answer


def _grouped(runtime: Runtime, bodies: Sequence[bytes]) -> list[Any]:
    """The bodies through the lane's function (`decide_group`), as one group: each answer (body
    and version) or error's codes, in order."""
    return [_seen(answer) for answer in decided_group(runtime, PROGRAM, bodies)]


def _alone(runtime: Runtime, bodies: Sequence[bytes]) -> list[Any]:
    """The bodies one at a time, each in its own transaction (`events.handle_text`, the path of
    a PostgreSQL worker before groups): each answer or error's codes."""
    answers: list[Any] = []
    for body in bodies:
        try:
            handled = events.handle_text(runtime, PROGRAM, body, {})
            answers.append((events.event_answer(handled), handled.decided.version))
        except RulesEngineError as error:
            answers.append(_seen(error))
    return answers


_VOLATILE = {"customers": {"revision"}, "program_versions": {"seen_at"}, "api_keys": set()}
"""Columns that differ between two databases given the same events: a customer's first revision is
random (sql_writing.py), a version's first sighting is the wall clock's."""


def _tables(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, without the volatile columns: the ledger in its order (`seq`, the
    numbers themselves left out), a customer's lists each in its order (the positions left out:
    a group writes a customer's state once, after its last event, and places the list rows as a
    diff against the state before the group — storage, not content), the others sorted."""
    found = {}
    with psycopg.connect(db) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
        for name in sorted(set(names) - {"api_keys"}):
            columns = [
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                    (name,),
                )
                if row[0] not in _VOLATILE.get(name, set()) and row[0] != "seq"
            ]
            if name == "customer_lists":  # each list's elements in order; where they sit is storage's
                columns.remove("pos")
                order = " ORDER BY program, customer, part, pos"
            else:
                order = " ORDER BY seq" if name == "ledger" else ""
            rows = connection.execute(f"SELECT {', '.join(columns)} FROM {name}{order}").fetchall()
            found[name] = rows if order else sorted(rows, key=repr)
    return found


def _body(event: dict[str, Any]) -> bytes:
    return jsonio.dumps(event).encode()


# -- a group against the same events one at a time ------------------------------------------------

_BODIES = st.one_of(
    st.tuples(
        st.sampled_from(["ann", "ben", "cy"]), st.integers(0, 4), st.sampled_from(["320.00", "180.50"])
    ).map(lambda drawn: _body(purchase(drawn[1], drawn[0], price=drawn[2]))),
    st.sampled_from([b"not json", b'{"id": "x", "type": "purchase"}']),
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(groups=st.lists(st.lists(_BODIES, min_size=1, max_size=10), min_size=1, max_size=3))
def test_groups_answer_and_store_as_events_one_at_a_time(
    postgres_url: str, program_dir: Path, groups: list[list[bytes]]
) -> None:
    """Redeliveries within a group and across groups, ids reused with another payload, events
    older than the customer's latest, bodies that are no event, groups of one: every answer
    (bytes, version, or the error's codes) is the one the same events decided one at a time give,
    and the two databases hold the same rows."""
    with ExitStack() as stack:
        grouped_db = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        checks = stack.enter_context(counting_checks(patch))
        grouped = stack.enter_context(started(program_dir, grouped_db, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        for bodies in groups:
            assert _grouped(grouped, bodies) == _alone(alone, bodies)
        assert "changed" not in checks  # nobody else wrote: every group written as first decided
        assert _tables(grouped_db) == _tables(alone_db)


def test_a_group_locks_its_customers_once_in_sorted_order(
    postgres_database: str, program_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group reads without locking a row (no `_lock_customer` while it decides), its
    customers' revisions and events in a statement each for the group (`read_ahead`, none an
    event), and locks all its customers in one call, sorted, right before it writes: the one
    order every group takes its locks in."""
    locked: list[list[str]] = []
    one_by_one: list[str] = []
    many, one = PostgresStore._lock_customers, PostgresStore._lock_customer

    def lock_many(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        locked.append(list(customers))
        return many(store, customers)

    def lock_one(store: PostgresStore, customer: str) -> int | None:
        one_by_one.append(customer)
        return one(store, customer)

    monkeypatch.setattr(PostgresStore, "_lock_customers", lock_many)
    monkeypatch.setattr(PostgresStore, "_lock_customer", lock_one)
    read_one = PostgresStore._read_revision

    def read_revision(store: PostgresStore, customer: str) -> int | None:
        one_by_one.append(customer)
        return read_one(store, customer)

    monkeypatch.setattr(PostgresStore, "_read_revision", read_revision)
    looked_up: list[str] = []
    lookup = sql_transactions._stored_event

    def stored(store: SqlWriting, customer: str, event: str) -> Any:
        looked_up.append(event)
        return lookup(store, customer, event)

    monkeypatch.setattr(sql_transactions, "_stored_event", stored)
    bodies = [_body(purchase(1, customer)) for customer in ("cy", "ann", "ben", "ann")]
    with started(program_dir, postgres_database, NOW) as runtime:
        answers = _grouped(runtime, bodies)
        assert [b'"duplicate":true' in answer[0] for answer in answers] == [False, False, False, True]
    assert locked == [["ann", "ben", "cy"]] and one_by_one == [] and looked_up == []
    with open_store(postgres_database, PROGRAM) as store:
        assert store.processed() == 3  # ann's second purchase has the same id: a redelivery
        assert store.customers() == ["ann", "ben", "cy"]


def test_a_group_with_coupons_is_decided_one_event_at_a_time(
    postgres_url: str, program_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purchase presenting coupons may claim a bulk code, whose row is locked as it is read (as
    a budget's or stock's): a group holding one is not tried on PostgreSQL — no optimistic check,
    no sorted locks — and its events are decided one at a time, each in its own transaction,
    answered as they are alone."""
    locked: list[Sequence[str]] = []
    many = PostgresStore._lock_customers

    def lock_many(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        locked.append(customers)
        return many(store, customers)

    monkeypatch.setattr(PostgresStore, "_lock_customers", lock_many)
    bodies = [_body(purchase(1, "ann")), _body({**purchase(1, "ben"), "coupons": ["BULK-0001"]})]
    with ExitStack() as stack:
        grouped_db = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        grouped = stack.enter_context(started(program_dir, grouped_db, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        assert _grouped(grouped, bodies) == _alone(alone, bodies)
        assert locked == []
        assert _tables(grouped_db) == _tables(alone_db)


# -- another worker writes between the group's reads and its locks ----------------------------------


def _meanwhile(monkeypatch: pytest.MonkeyPatch, write: Callable[[], None]) -> None:
    """`write` runs once, right before a group locks its customers: as another worker would,
    between this one's reads and its locks."""
    many = PostgresStore._lock_customers
    done: list[bool] = []

    def locking(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        if not done:
            done.append(True)
            write()
        return many(store, customers)

    monkeypatch.setattr(PostgresStore, "_lock_customers", locking)


@pytest.mark.parametrize("same_event", [False, True], ids=["another-event", "the-same-event"])
def test_a_customer_changed_meanwhile_is_decided_again(
    postgres_url: str, program_dir: Path, monkeypatch: pytest.MonkeyPatch, same_event: bool
) -> None:
    """Another worker applies an event of ann's (another one, or the very one of the group: a
    redelivery that reached both workers) after the group read her state: the check finds her
    revision changed, nothing of the group is written, and it is decided again. Its answers are
    those of the other worker's event first, then the group's events one at a time; the event
    applied once (answered as a duplicate, never a 500), the tables the same."""
    group = [purchase(2, "ann", price="180.50"), purchase(1, "ben"), purchase(3, "ann")]
    other = group[0] if same_event else purchase(1, "ann")
    bodies = [_body(event) for event in group]
    with ExitStack() as stack:
        grouped_db = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        checks = stack.enter_context(counting_checks(monkeypatch))
        grouped = stack.enter_context(started(program_dir, grouped_db, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        first = [_body(purchase(0, "ann")), _body(purchase(0, "ben"))]
        assert _grouped(grouped, first) == _alone(alone, first)
        _meanwhile(monkeypatch, other_worker(grouped_db, program_dir, other, NOW))
        _alone(alone, [_body(other)])
        answered, expected = _grouped(grouped, bodies), _alone(alone, bodies)
        assert answered == expected
        duplicate = b'"duplicate":true' if same_event else b'"duplicate":false'
        assert duplicate in answered[0][0]
        assert checks == ["same", "changed", "same"]  # the first group; this one's, then again
        assert _tables(grouped_db) == _tables(alone_db)
        with open_store(grouped_db, PROGRAM) as store:
            ann = store.state("ann")
            assert ann is not None and ann.visits == (3 if same_event else 4)


def test_two_workers_locking_the_same_customers_in_opposite_orders_both_finish(
    postgres_database: str,
    program_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two workers' groups hold ann's and ben's events in opposite orders and reach their locks at
    the same moment (a barrier), each taking its first lock, pausing, then the next: locked in
    the order of the events, each would hold one row and wait for the other's — a deadlock
    PostgreSQL breaks by failing one group after a second. Sorted, the second waits for the
    first, finds what it read changed, decides again: both groups answered, every event applied
    once, nothing logged as failed."""
    barrier = threading.Barrier(2, timeout=30)
    many = PostgresStore._lock_customers
    met: set[int] = set()

    def locking(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        if threading.get_ident() in met:  # deciding again: as it comes
            return many(store, customers)
        met.add(threading.get_ident())  # the first lock of each thread's group: together, slowly
        barrier.wait()
        found: dict[str, int | None] = {}
        for customer in customers:
            found.update(many(store, [customer]))
            time.sleep(0.2)  # the other worker takes its first lock meanwhile, if it can
        return found

    monkeypatch.setattr(PostgresStore, "_lock_customers", locking)
    caplog.set_level(logging.WARNING, logger="rules_engine.http")
    orders = [[("ann", 1), ("ben", 1)], [("ben", 2), ("ann", 2)]]
    results: list[list[Any]] = [[], []]
    with (
        started(program_dir, postgres_database, NOW) as one,
        started(program_dir, postgres_database, NOW) as two,
    ):

        def worker(index: int, runtime: Runtime) -> None:
            bodies = [
                _body(purchase(n, customer, at=NOW - dt.timedelta(hours=1))) for customer, n in orders[index]
            ]
            results[index] = _grouped(runtime, bodies)

        threads = [threading.Thread(target=worker, args=(n, runtime)) for n, runtime in enumerate((one, two))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert [record.getMessage() for record in caplog.records] == []  # no group failed (a deadlock)
    for answers in results:
        assert len(answers) == 2
        assert all(isinstance(answer, tuple) and b'"duplicate":false' in answer[0] for answer in answers)
    with open_store(postgres_database, PROGRAM) as store:
        assert store.processed() == 4
        for customer in ("ann", "ben"):
            state = store.state(customer)
            assert state is not None and state.visits == 2


def test_an_event_stored_meanwhile_that_the_check_missed_is_a_duplicate(
    postgres_url: str, program_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The safety net under the check: another worker stores the very event of the group, and the
    check is made to see the revisions the group read (as if nothing changed). The group's write
    of that event id meets the row (a unique violation): nothing of the group is written, and its
    events are decided one at a time — that one answered as a duplicate with the stored outcome,
    never a 500, applied once; the tables those of the other worker's event first."""
    event = purchase(1, "ann")
    bodies = [_body(event), _body(purchase(1, "ben"))]
    many = PostgresStore._lock_customers
    read: dict[str, int | None] = {}

    def blind(store: PostgresStore, customers: Sequence[str]) -> dict[str, int | None]:
        if not read:  # the group's first check: the other worker writes, the check sees nothing
            read.update(store._ahead_revisions)
            other_worker(store_url, program_dir, event, NOW)()
            many(store, customers)
            return {customer: read.get(customer) for customer in customers}
        return many(store, customers)

    with ExitStack() as stack:
        store_url = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        grouped = stack.enter_context(started(program_dir, store_url, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        monkeypatch.setattr(PostgresStore, "_lock_customers", blind)
        _alone(alone, [_body(event)])
        answered, expected = _grouped(grouped, bodies), _alone(alone, bodies)
        assert answered == expected and b'"duplicate":true' in answered[0][0]
        assert _tables(store_url) == _tables(alone_db)
    assert any("rolled back" in record.getMessage() for record in caplog.records)  # the net caught it
