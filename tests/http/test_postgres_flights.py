"""PostgreSQL's COMMIT off the events lane (store/postgres_flights.py): a group's writes and COMMIT
sent, the next group decided on the lane's other connection meanwhile, each group answered only
once its COMMIT came back. What a client relies on does not change: the answers and the tables
are those of the same events decided one at a time; a COMMIT that fails (a deferred constraint,
a killed connection) answers nothing as stored — each of its events is decided again on its own,
as a group that rolls back before its COMMIT is — and the lane's cache never takes the failed
group's states for the database's; customers shared by consecutive groups end with the exact
balances; the store's close waits for the COMMIT in flight and hands its answers out.

Commits are held back by a deferred constraint trigger on `events` (it runs at COMMIT): it waits
for an advisory lock the test holds, or sleeps, or refuses the event ids that begin with `bad`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.errors import StoreError
from rules_engine.http.routes import events
from rules_engine.http.runtime import Runtime
from rules_engine.http.shortcut import Asked, decide_group
from rules_engine.store import open_store
from rules_engine.store.postgres import PostgresStore
from tests import postgres
from tests.http.conftest import other_worker, purchase, started
from tests.http.test_postgres_groups import _alone, _seen, _tables

PROGRAM = "coffee-club"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
_HELD = 7_341_042
"""The advisory lock the trigger waits for (`_held_commits`)."""


def _body(event: dict[str, Any]) -> bytes:
    return jsonio.dumps(event).encode()


def _bad(number: int, customer: str) -> bytes:
    """A purchase whose COMMIT the trigger refuses (its id begins with `bad`)."""
    return _body({**purchase(number, customer), "id": f"bad-{customer}-{number}"})


def _trigger(db: str, *, wait: bool = False, sleep: float = 0.0) -> None:
    """The deferred trigger on `events`: at COMMIT, for each event row, wait for `_HELD` (`wait`),
    sleep `sleep` seconds, and refuse an id that begins with `bad`."""
    steps = []
    if wait:
        steps.append(f"PERFORM pg_advisory_xact_lock_shared({_HELD});")
    if sleep:
        steps.append(f"PERFORM pg_sleep({sleep});")
    open_store(db, PROGRAM).close()  # the tables made
    with psycopg.connect(db, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + " ".join(steps)
            + " IF NEW.event LIKE 'bad%' THEN RAISE EXCEPTION 'refused at commit'; END IF;"
            " RETURN NULL; END $$"
        )
        connection.execute(
            "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON events DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION at_commit()"
        )


@contextmanager
def _held_commits(db: str) -> Iterator[psycopg.Connection[Any]]:
    """Every COMMIT that wrote an event waits (`_trigger(wait=True)`) until the block ends; the
    connection that holds them, for the block's own statements."""
    with psycopg.connect(db, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_HELD,))
        try:
            yield holder
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (_HELD,))


class _Sent:
    """A group handed to the lane's function as the lane hands it (`decide_group`), its answers
    held until its COMMIT came back (`Stores.after_commit`, as http/app.py `_deliver`)."""

    def __init__(self, runtime: Runtime, bodies: Sequence[bytes], *, again: bool = True) -> None:
        self.redo = again
        self.answers: dict[int, Any] = {}
        self.count = len(bodies)
        asked = [Asked(events.parse_text(body), {}, False) for body in bodies]
        self.again = decide_group(runtime, PROGRAM, asked, self.answers.__setitem__)
        self.landed: list[StoreError | None] = []
        self.done = threading.Event()
        runtime.stores.after_commit(PROGRAM, self._landed)

    def _landed(self, error: StoreError | None) -> None:
        """On the committer's thread, as `_deliver`'s release: failed, each event's answer is the
        one it gets decided again on its own (or the error, with `again=False`)."""
        self.landed.append(error)
        if error is not None:
            for index in range(self.count):
                answer = self.answers[index]
                if self.redo and self.again is not None:
                    answer = self.again(index, answer)
                elif not isinstance(answer, BaseException):
                    answer = error
                self.answers[index] = answer
        self.done.set()

    def answered(self) -> list[Any]:
        """Each answer, in order, once the COMMIT came back."""
        assert self.done.wait(60), "the group's COMMIT did not come back"
        return [_seen(self.answers[index]) for index in range(self.count)]


def _pipelined(runtime: Runtime, groups: Sequence[Sequence[bytes]]) -> list[list[Any]]:
    """The groups one after another, each sent before the last one's COMMIT came back."""
    sent = [_Sent(runtime, bodies) for bodies in groups]
    return [one.answered() for one in sent]


def _per_customer(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """`_tables`, the ledger in each customer's order: a group whose COMMIT failed is decided
    again after a later group of other customers stored, so across customers the ledger's order
    is the order of the commits, not of the events (each customer's own is theirs)."""
    found = _tables(db)
    found["ledger"] = sorted(found["ledger"], key=lambda row: (row[0], row[1]))
    return found


def _lane(runtime: Runtime) -> PostgresStore:
    store = runtime.stores.lane_store(PROGRAM)
    assert isinstance(store, PostgresStore) and store.behind
    return store


@contextmanager
def _two(postgres_url: str, program_dir: Path, **trigger: Any) -> Iterator[tuple[str, str, Runtime, Runtime]]:
    """A pipelined lane's database and runtime and one decided one event at a time, both with
    the trigger (`_trigger`)."""
    with ExitStack() as stack:
        grouped_db = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        grouped = stack.enter_context(started(program_dir, grouped_db, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        for db in (grouped_db, alone_db):
            _trigger(db, **trigger)
        yield grouped_db, alone_db, grouped, alone


def test_the_next_group_is_decided_while_the_last_ones_commit_is_in_flight(
    postgres_url: str, program_dir: Path
) -> None:
    """Two groups sent while every COMMIT is held: both decided and sent, on the lane's two
    connections, neither answered; let go, both answer as the events one at a time do."""
    first = [_body(purchase(1, customer)) for customer in ("ann", "ben")]
    second = [_body(purchase(1, customer)) for customer in ("cy", "dee")]
    with _two(postgres_url, program_dir, wait=True) as (grouped_db, alone_db, grouped, alone):
        with _held_commits(grouped_db):
            sent = [_Sent(grouped, first), _Sent(grouped, second)]
            store = _lane(grouped)
            assert len({id(flight.connection) for flight in store._flights}) == 2
            assert not any(one.done.is_set() for one in sent)  # nothing answered before its COMMIT
        assert [one.answered() for one in sent] == [_alone(alone, first), _alone(alone, second)]
        assert _tables(grouped_db) == _tables(alone_db)


def test_a_commit_refused_answers_each_event_as_decided_again_alone(
    postgres_url: str, program_dir: Path
) -> None:
    """The trigger refuses one event of a group at COMMIT, while the next group is in flight: the
    group is rolled back, each of its events decided again on its own (the refused one refused
    again, 503), the next group stored; the answers and tables are those of the events one at a
    time, and the lane goes on."""
    groups = [
        [_body(purchase(1, "ann")), _bad(1, "ben"), _body(purchase(1, "cy"))],
        [_body(purchase(1, "dee"))],
        [_body(purchase(2, "ann")), _body(purchase(2, "ben")), _body(purchase(2, "dee"))],
    ]
    with _two(postgres_url, program_dir) as (grouped_db, alone_db, grouped, alone):
        answered = _pipelined(grouped, groups)
        assert answered == [_alone(alone, bodies) for bodies in groups]
        assert answered[0][1] == ("StoreError", ["RE605"])
        assert _per_customer(grouped_db) == _per_customer(alone_db)
        with open_store(grouped_db, PROGRAM) as check:
            assert check.processed() == 6 and check.customers() == ["ann", "ben", "cy", "dee"]


def test_a_failed_groups_states_are_never_taken_for_the_databases(
    postgres_url: str, program_dir: Path
) -> None:
    """ann's group fails at COMMIT (answered as not stored); another worker then stores ann's next
    purchase, at the revision the failed group had written; the lane's next purchase of ann is
    decided on that worker's state, not on the failed group's."""
    with ExitStack() as stack:
        grouped_db = stack.enter_context(postgres.fresh_database(postgres_url))
        alone_db = stack.enter_context(postgres.fresh_database(postgres_url))
        grouped = stack.enter_context(started(program_dir, grouped_db, NOW))
        alone = stack.enter_context(started(program_dir, alone_db, NOW))
        _trigger(grouped_db, wait=True)
        assert _pipelined(grouped, [[_body(purchase(1, "ann")), _body(purchase(1, "ben"))]])[0] == _alone(
            alone, [_body(purchase(1, "ann")), _body(purchase(1, "ben"))]
        )
        with _held_commits(grouped_db):  # else the refusal may come back while the group is sent
            sent = _Sent(grouped, [_body(purchase(2, "ann")), _bad(2, "ben")], again=False)
        failed = sent.answered()
        assert all(answer == ("StoreError", ["RE605"]) for answer in failed)
        other_worker(grouped_db, program_dir, purchase(3, "ann", price="180.50"), NOW)()
        _alone(alone, [_body(purchase(3, "ann", price="180.50"))])
        assert _pipelined(grouped, [[_body(purchase(4, "ann"))]]) == [
            _alone(alone, [_body(purchase(4, "ann"))])
        ]
        assert _per_customer(grouped_db) == _per_customer(alone_db)


def test_a_connection_killed_during_its_commit_answers_as_decided_again(
    postgres_url: str, program_dir: Path
) -> None:
    """The server ends the connection of a group whose COMMIT is held: nothing of the group is
    answered as stored before its events are decided again alone; the lane opens a new connection
    where that one was, and every answer and row is that of the events one at a time."""
    groups = [
        [_body(purchase(1, "ann")), _body(purchase(1, "ben"))],
        [_body(purchase(1, "cy"))],
        [_body(purchase(2, "ann"))],
        [_body(purchase(2, "cy"))],
        [_body(purchase(2, "ben"))],
    ]
    with _two(postgres_url, program_dir, wait=True) as (grouped_db, alone_db, grouped, alone):
        with _held_commits(grouped_db) as holder:
            first = _Sent(grouped, groups[0])
            flight = _lane(grouped)._flights[0]
            holder.execute("SELECT pg_terminate_backend(%s)", (flight.connection.info.backend_pid,))
        killed = first.answered()
        assert first.landed[0] is not None  # the COMMIT failed: answered as decided again
        answered = [killed, *_pipelined(grouped, groups[1:])]
        assert answered == [_alone(alone, bodies) for bodies in groups]
        assert _per_customer(grouped_db) == _per_customer(alone_db)


_CUSTOMERS = st.sampled_from(["ann", "ben", "cy"])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    groups=st.lists(
        st.lists(
            st.tuples(_CUSTOMERS, st.sampled_from(["320.00", "180.50", "12.00"])), min_size=1, max_size=6
        ),
        min_size=2,
        max_size=5,
    )
)
def test_customers_shared_by_consecutive_groups_end_with_the_exact_balances(
    postgres_url: str, program_dir: Path, groups: list[list[tuple[str, str]]]
) -> None:
    """Groups sent one after another over a few customers, each COMMIT slowed down (the next group
    decided and locking while it runs): a group that read a customer the last one is committing
    waits for that COMMIT, finds the customer changed and is decided again; every answer and row
    (balances, ledgers, states) is that of the events one at a time."""
    number = 0
    bodies: list[list[bytes]] = []
    for group in groups:
        bodies.append([])
        for customer, price in group:
            number += 1
            bodies[-1].append(_body(purchase(number, customer, price=price)))
    with _two(postgres_url, program_dir, sleep=0.003) as (grouped_db, alone_db, grouped, alone):
        assert _pipelined(grouped, bodies) == [_alone(alone, group) for group in bodies]
        assert _tables(grouped_db) == _tables(alone_db)


def test_closing_the_stores_waits_for_the_commit_in_flight(postgres_url: str, program_dir: Path) -> None:
    """A worker that stops (the stores closed) with a group's COMMIT in flight: the close waits
    for it, and its answers are handed out before the close returns, the group stored."""
    with postgres.fresh_database(postgres_url) as db:
        closed = threading.Event()

        def close() -> None:
            runtime.stores.close()
            closed.set()

        with started(program_dir, db, NOW) as runtime:
            _trigger(db, wait=True)
            with _held_commits(db):
                sent = _Sent(runtime, [_body(purchase(1, "ann")), _body(purchase(1, "ben"))])
                closing = threading.Thread(target=close)
                closing.start()
                assert not closed.wait(0.2) and not sent.done.is_set()
            closing.join(60)
            assert sent.done.is_set() and closed.is_set() and sent.landed == [None]
        with open_store(db, PROGRAM) as check:
            assert check.processed() == 2


@pytest.mark.parametrize("behind", [True, False])
def test_the_second_connection_is_opened_only_when_a_commit_is_in_flight(
    postgres_url: str, program_dir: Path, behind: bool
) -> None:
    """Groups whose COMMIT came back before the next: the lane keeps to one connection. With
    `Stores.behind` False the lane's function returns once its COMMIT came back, as it did."""
    with postgres.fresh_database(postgres_url) as db, started(program_dir, db, NOW) as runtime:
        runtime.stores.behind = behind
        for number in (1, 2, 3):
            sent = _Sent(runtime, [_body(purchase(number, "ann")), _body(purchase(number, "ben"))])
            assert sent.done.is_set() or behind
            assert all(b'"duplicate":false' in answer[0] for answer in sent.answered())
        store = runtime.stores.lane_store(PROGRAM)
        assert isinstance(store, PostgresStore) and store.behind is behind and store._other is None
