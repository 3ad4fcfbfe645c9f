"""The PostgreSQL store (psycopg 3): several service workers on several machines, one database.

Locking is pessimistic, by row: a transaction first makes sure the customer has a row (a new
customer's is inserted, so two workers meeting the same new customer queue on it), then takes it
`FOR UPDATE`. Every other write of the transaction concerns that customer, except budget
spending, whose rows are locked after the customer's and in sorted order, so that two workers
never wait for each other in a circle. An event id delivered to two workers at once is therefore
looked up by the second only after the first has committed it.

Transactions run at READ COMMITTED (the default), which is enough under these locks. The
connection is in autocommit mode and sends BEGIN and COMMIT itself, each with other statements in
one pipeline (psycopg's: sent together, one wait for the answers), never alone: BEGIN with the
transaction's first statements (`_begin` only marks it), COMMIT with its writes (`_writing`). A
statement that fails in a pipeline makes the server skip the rest of it, COMMIT included: the
transaction is then rolled back whole.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.store.base import Spending, StoredEvent
from rules_engine.store.batch import ELEMENTS as BATCH_ELEMENTS
from rules_engine.store.batch import Batch
from rules_engine.store.cache import DEFAULT_SIZE, Cache
from rules_engine.store.postgres_arrays import array_text, parameters, rewriting
from rules_engine.store.postgres_flights import Committer, Landed, _Flight, send
from rules_engine.store.postgres_flights import forget as _forget
from rules_engine.store.sql import SqlStore
from rules_engine.store.sql_transactions import stored_event
from rules_engine.store.summaries import Summaries

if TYPE_CHECKING:
    import psycopg

# A fixed key for pg_advisory_xact_lock: processes opening the same database migrate one at a time.
_MIGRATION_LOCK = 7_341_001
# With the program's hash, the key that makes a program's imports of bulk codes one at a time.
_CODES_LOCK = 7_341_002


class PostgresStore(SqlStore):
    dialect = "postgresql"
    _beginning = False
    """`_begin` was called and BEGIN not sent yet: it goes first in the next pipeline (`_pipeline`)."""
    _committed = False
    """COMMIT went in the write pipeline (`_writing`): `_commit` has nothing to send."""
    _migrating = False
    """In `_migrate`: a transaction that changes the schema (`_rollback`)."""
    behind = False
    """The events lane's store (`commit_behind`): a group's COMMIT is left in flight on one
    connection while the next group is decided on another (postgres_flights.py)."""
    _flight: _Flight | None = None
    """The last group's flight, until `after` hands it to the committer."""
    _other: psycopg.Connection[Any] | None = None
    """With `behind`: the second connection (opened when first needed), the one not in `_db`."""

    def __init__(
        self,
        url: str,
        program: str,
        *,
        connect_timeout: int = 10,
        cache: int = DEFAULT_SIZE,
        batch_elements: int = BATCH_ELEMENTS,
        cache_budget: int | None = None,
    ) -> None:
        """`cache`: how many customers' states the store object holds, `cache_budget` how many list
        elements in all (default 1,000 per customer of `cache`: cache.py); `batch_elements`:
        a group's budget of list elements before it writes its batch out early (batch.py)."""

        self.url = _without_password(url)
        self.program = program
        self._cache = Cache(cache, cache_budget)
        self._summaries = Summaries(cache)
        self.batch_elements = batch_elements
        self._connecting = (url, connect_timeout)
        self._db = self._connect()
        self._migrate()

    def _connect(self) -> psycopg.Connection[Any]:
        """A new connection (autocommit: the store sends BEGIN and COMMIT itself); RE601 if none."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        url, connect_timeout = self._connecting
        try:
            # Times come back in the session's time zone, the server's or the database's setting:
            # in UTC here, as the other stores give them (docs/stores.md), whatever the server's is.
            options = f"{conninfo_to_dict(url).get('options', '')} -c TimeZone=UTC".strip()
            return psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout, options=options)
        except psycopg.Error as problem:
            raise StoreError(
                [
                    Diagnostic(
                        "RE601",
                        f"{self.url}: cannot connect: {str(problem).strip()}",
                        hint="check that the server runs, and the host, port, database and user in the URL",
                    )
                ]
            ) from None

    # -- the lane's COMMIT in flight (postgres_flights.py) --------------------------------------
    def commit_behind(self) -> None:
        """From now on a group's COMMIT is left in flight (`_writing`) and the next group is decided
        on a second connection (`group`); `after` says when the last group's commit came back. For
        the service's events lane, which answers a group only then (http/app.py `_deliver`)."""
        if not self.behind:
            self.behind = True
            self._flights: list[_Flight] = []
            self._committer = Committer()

    def after(self, landed: Landed) -> None:
        """`landed(None)` once the last group's COMMIT came back committed, `landed(error)` if it
        failed (rolled back: nothing of it stored); on the committer's thread, or at once when the
        last group left nothing in flight (it was not written this way, or its store had no
        `commit_behind`)."""
        flight, self._flight = self._flight, None
        if flight is None:
            landed(None)
        else:
            self._committer.after(flight, landed)

    @contextmanager
    def group(self) -> Iterator[None]:
        """`SqlWriting.group`, on a connection with nothing in flight (`_free_connection`)."""
        if self.behind and self._batch is None:
            self._free_connection()
        with super().group():
            yield

    def _free_connection(self) -> None:
        """`_db` made a connection with no flight on it: the other one (opened when first needed,
        again when it broke), once its own flight, if any, landed. The flights landed are
        settled first (`_settle`)."""
        self._settle()
        if not any(flight.connection is self._db for flight in self._flights):
            return
        other = self._other
        if other is not None and not other.closed:
            for flight in self._flights:
                if flight.connection is other:
                    flight.land()
            self._settle()
        else:
            if other is not None:
                with contextlib.suppress(Exception):  # broken: dropped whatever it says
                    other.close()
            other = self._connect()
        self._other, self._db = self._db, other

    def _settle(self) -> None:
        """The flights landed, oldest first: a committed one's states held by the cache from now
        on (the cache holds committed states only); a failed one's never."""
        flights = self._flights
        while flights and flights[0].done.is_set():
            flight = flights[0]
            if flight.error is not None and flight.handed and not flight.answered.is_set():
                break  # failed, its events not answered yet: a later group of theirs waits for them
            flights.pop(0)
            if flight.error is None and flight.batch is not None:
                super()._keep_group(flight.batch)
            flight.batch = None

    def _lock_unchanged(self, batch: Batch) -> None:
        if self.behind:
            self._after_earlier(batch)
        super()._lock_unchanged(batch)

    def _after_earlier(self, batch: Batch) -> None:
        """Before a group locks its customers: each earlier group of any of them still in flight
        landed (its row locks would be waited for anyway), and one that failed answered first —
        its events decided again on their own (http/app.py `_deliver`) before this group's, as
        they came; their writes then make this group's check find those customers changed (it is
        decided again). No lock is held while waiting: the events decided again take theirs."""
        customers = batch.revisions.keys()
        for flight in list(self._flights):
            if flight.customers.isdisjoint(customers):
                continue
            if flight.land() is not None and flight.handed:
                flight.answered.wait()

    def _keep_group(self, batch: Batch) -> None:
        flight = self._flight
        if flight is not None and flight.batch is batch:
            return  # in flight: held once it landed committed (`_settle`)
        super()._keep_group(batch)

    def _transient(self, problem: Exception) -> bool:
        # 40P01 deadlock_detected, 40001 serialization_failure: the server rolled the transaction
        # back for another's sake (four `loyalty run` on one database met it at their first lines)
        return getattr(problem, "sqlstate", None) in ("40P01", "40001")

    def _serialize_migrations(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def _serialize_codes(self) -> None:
        """Until 2026-12-07 two imports of the same codes at once both found none stored, and the
        second failed on the first's rows: 503 (RE810) rather than the 422 (RE445) naming them."""
        self._execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_CODES_LOCK, self.program))

    def _tables(self) -> set[str]:
        rows = self._execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {row[0] for row in rows}

    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        try:
            if self._beginning:  # the transaction's BEGIN goes with its first statement
                with self._pipeline():
                    cursor = self._db.execute(sql.replace("?", "%s"), parameters)
                return cursor.fetchall() if cursor.description is not None else []
            cursor = self._db.execute(sql.replace("?", "%s"), parameters)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as problem:
            raise self._failed(problem) from None

    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """The rows in one statement where it can be rewritten so (postgres_arrays.py: an INSERT
        of many rows, one `unnest` of an array a column), else one statement a row, sent together."""
        import psycopg

        if len(rows) > 1:
            arrays = rewriting(sql)
            texts = None if arrays is None else parameters(arrays, rows)
            if arrays is not None and texts is not None:
                self._execute(arrays.sql, texts)
                return
        try:
            with self._db.cursor() as cursor:
                if self._beginning:
                    with self._pipeline():
                        cursor.executemany(sql.replace("?", "%s"), rows)
                else:
                    cursor.executemany(sql.replace("?", "%s"), rows)
        except psycopg.Error as problem:
            raise self._failed(problem) from None

    def _begin(self) -> None:
        """Nothing sent yet: BEGIN goes with the transaction's first statements, in their pipeline
        (`_pipeline`), one round trip fewer a transaction."""
        self._beginning = True

    def _commit(self) -> None:
        if self._beginning:  # nothing sent: no transaction on the server
            self._beginning = False
        elif self._committed:  # COMMIT went with the writes (`_writing`)
            self._committed = False
        else:
            self._execute("COMMIT")

    def _rollback(self) -> None:
        """ROLLBACK, sent through libpq itself (`pgconn.exec_`) rather than psycopg's `execute`:
        psycopg forgets every statement it prepared when it sees a ROLLBACK go by, and sends
        `DEALLOCATE ALL` before the next statement — a round trip more, and the statements
        planned again, for every event refused or delivered again alone. That caution is for a
        transaction that dropped or changed what a statement names: an event's never does, and
        a migration's (`_migrate`, which may) still rolls back through psycopg. So does a
        transaction the server failed (`INERROR`: a deadlock, any error): the statements queued
        after the failed one in its pipeline were skipped, a statement psycopg meant to prepare
        among them, and psycopg, not told, named it in the next transaction ("prepared statement
        _pg3_12 does not exist": a line tried again after a deadlock failed for good, `_forget`)."""
        import psycopg

        self._beginning = self._committed = False
        flight = self._flight
        if flight is not None and flight.connection is self._db:  # the group failed once sent
            flight.land()  # its events are decided again: nothing to answer for it (`after`)
            self._flight = None
        if self._db.closed or self._db.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return  # nothing begun on the server (or it ended): nothing to roll back, no round trip
        with contextlib.suppress(psycopg.Error):  # a broken connection has nothing to roll back
            if self._migrating or _forget(self._db):
                self._db.execute("ROLLBACK")
            else:
                self._db.pgconn.exec_(b"ROLLBACK")

    def _migrate(self) -> None:
        self._migrating = True
        try:
            super()._migrate()
        finally:
            self._migrating = False

    def _lock_customer(self, customer: str) -> int | None:
        """The placeholder row inserted if missing, then the row locked `FOR UPDATE`: sent together
        (with the transaction's BEGIN), one wait for the answers.

        A row the insert found may be gone once its lock is granted: an erasure that held it
        deleted it (`erase`). The lock then finds no row, and both are sent again — the customer is
        new from then on, as the docs promise for an event after an erasure. (Until 2026-12-07 that
        was an IndexError: an event racing its customer's erasure was answered 500, RE809.)"""
        import psycopg

        program = self.program
        rows: list[tuple[Any, ...]] = []
        while not rows:
            try:
                with self._pipeline():
                    self._db.execute(
                        "INSERT INTO customers (program, customer, state, revision) VALUES (%s, %s, '', 0)"
                        " ON CONFLICT DO NOTHING",
                        (program, customer),
                    )
                    cursor = self._db.execute(
                        "SELECT revision FROM customers WHERE program = %s AND customer = %s FOR UPDATE",
                        (program, customer),
                    )
                rows = cursor.fetchall()
            except psycopg.Error as problem:
                raise self._failed(problem) from None
        return int(rows[0][0]) or None  # 0: the row made above, no state yet

    def read_ahead(self, wanted: Sequence[tuple[str, str]]) -> None:
        batch = self._batch
        if batch is None or batch.locked or not wanted:
            return
        import psycopg

        program = self.program
        customers = sorted({customer for customer, _ in wanted})
        try:
            with self._db.cursor() as customer_rows, self._db.cursor() as event_rows:
                with self._pipeline():  # both sent together, one wait for the answers
                    # The lists as array texts (postgres_arrays.py): psycopg's own adaptation of a
                    # list costs more than the statement.
                    named = array_text(customers)
                    customer_rows.execute(
                        "SELECT customer, revision FROM customers"
                        " WHERE program = %s AND customer = ANY(%s::text[])",
                        (program, named),
                    )
                    event_rows.execute(
                        "SELECT customer, event, outcome, packed, digest, at FROM events"
                        " WHERE program = %s AND customer = ANY(%s::text[]) AND event = ANY(%s::text[])",
                        (program, named, array_text(sorted({event for _, event in wanted}))),
                    )
                revision_rows, stored_rows = customer_rows.fetchall(), event_rows.fetchall()
        except psycopg.Error as problem:
            raise self._failed(problem) from None
        revisions: dict[str, int | None] = dict.fromkeys(customers)
        for customer, revision in revision_rows:
            revisions[customer] = int(revision) or None
        found: dict[tuple[str, str], StoredEvent | None] = dict.fromkeys(wanted)
        for customer, event, *row in stored_rows:
            if (customer, event) in found:
                found[customer, event] = stored_event(self, *row)
        self._ahead_revisions, self._ahead_events = revisions, found

    def _read_revision(self, customer: str) -> int | None:
        rows = self._execute(
            "SELECT revision FROM customers WHERE program = ? AND customer = ?", (self.program, customer)
        )
        return (int(rows[0][0]) or None) if rows else None  # 0: another's placeholder, no state yet

    def _lock_customers(self, customers: Sequence[str]) -> dict[str, int | None]:
        """One statement for all of them, its rows in the given (sorted) order (`unnest … WITH
        ORDINALITY … ORDER BY`): for each customer in turn the server inserts their placeholder
        row or, when there is a row, locks it (`DO UPDATE … WHERE false` updates nothing but locks
        the row it met, as `FOR NO KEY UPDATE`, which conflicts with another group's and with
        `_lock_customer`'s `FOR UPDATE`), so each customer's lock is waited for holding only those
        before it in the order. Then their revisions, read under the locks; both sent together,
        one wait for the answers. (A statement a customer, as before, cost the server and the lane
        ~7 µs each a customer: postgres_arrays.py.)"""
        if not customers:
            return {}
        import psycopg

        program, named = self.program, array_text(customers)
        try:
            with self._db.cursor() as cursor:
                with self._pipeline():  # sent together, one wait for the answers
                    cursor.execute(
                        "INSERT INTO customers (program, customer, state, revision)"
                        " SELECT %s, r.customer, '', 0"
                        " FROM unnest(%s::text[]) WITH ORDINALITY AS r(customer, n) ORDER BY r.n"
                        " ON CONFLICT (program, customer)"
                        " DO UPDATE SET revision = customers.revision WHERE false",
                        (program, named),
                    )
                    cursor.execute(
                        "SELECT customer, revision FROM customers"
                        " WHERE program = %s AND customer = ANY(%s::text[])",
                        (program, named),
                    )
                rows = cursor.fetchall()
        except psycopg.Error as problem:
            raise self._failed(problem) from None
        found: dict[str, int | None] = dict.fromkeys(customers)
        for customer, revision in rows:
            found[customer] = int(revision) or None
        return found

    @contextmanager
    def _writing(self, *, commit: bool = False) -> Iterator[None]:
        """A group's writes sent together (psycopg's pipeline: one wait for all their answers, where
        each statement, or each `executemany`, waited for its own), and with `commit` the
        transaction's COMMIT after them, in the same pipeline (`_commit` then sends nothing); a
        failure among them is raised when the block ends, as the store's error (RE605). (A failed
        statement makes the server skip the rest of the pipeline, COMMIT too: the transaction is
        left failed, and rolled back.)"""
        import psycopg

        if commit and self.behind and self._batch is not None and psycopg.Pipeline.is_supported():
            with self._sending():
                yield
            return
        try:
            with self._pipeline():
                yield
                if commit:
                    self._db.execute("COMMIT")
                    self._committed = True
        except psycopg.Error as problem:
            self._committed = False
            raise self._failed(problem) from None

    @contextmanager
    def _sending(self) -> Iterator[None]:
        """`_writing(commit=True)` of a group with `behind`: its writes and COMMIT sent in one
        pipeline that is left open, a `_Flight` (postgres_flights.py) landed later by the
        committer (`after`). A failure before all is sent is raised here, as `_writing` raises it
        (the group is rolled back)."""
        import psycopg

        connection = self._db
        entered = connection.pipeline()
        try:
            pipeline = entered.__enter__()
        except psycopg.Error as problem:
            raise self._failed(problem) from None
        try:
            if self._beginning:
                connection.execute("BEGIN")
                self._beginning = False
            yield
            connection.execute("COMMIT")
            send(pipeline)
        except BaseException as error:
            self._committed = False
            with contextlib.suppress(Exception):
                entered.__exit__(type(error), error, error.__traceback__)
            if isinstance(error, psycopg.Error):
                raise self._failed(error) from None
            raise
        self._committed = True
        flight = _Flight(connection, entered, self._batch, self._failed)
        self._flights.append(flight)
        self._flight = flight

    def _pipeline(self) -> AbstractContextManager[Any]:
        """psycopg's pipeline, where the client library has it (libpq 14 and later), with the
        transaction's BEGIN first when it has not been sent yet (`_begin`); else the statements go
        one by one, as they did (BEGIN first too)."""
        import psycopg

        if not psycopg.Pipeline.is_supported():
            if self._beginning:
                self._beginning = False
                self._db.execute("BEGIN")
            return contextlib.nullcontext()
        pipeline = self._db.pipeline()
        if self._beginning:
            return _beginning(self, pipeline)
        return pipeline

    def _release_unwritten(self, customers: list[str]) -> None:
        if customers:
            self._execute_many(
                "DELETE FROM customers WHERE program = ? AND customer = ? AND revision = 0",
                [(self.program, customer) for customer in customers],
            )

    def _lock_budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        spent: Spending = {}
        for rule, period in sorted(set(wanted)):
            self._execute(
                "INSERT INTO budgets (program, rule, period, spent) VALUES (?, ?, ?, 0)"
                " ON CONFLICT DO NOTHING",
                (self.program, rule, period),
            )
            rows = self._execute(
                "SELECT spent FROM budgets WHERE program = ? AND rule = ? AND period = ? FOR UPDATE",
                (self.program, rule, period),
            )
            spent.setdefault(rule, {})[period] = rows[0][0]
        return spent

    def _add_spending(self, spent: Sequence[tuple[str, str, Decimal]]) -> None:
        for rule, period, points in spent:
            self._execute(
                "INSERT INTO budgets (program, rule, period, spent) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (program, rule, period) DO UPDATE SET spent = budgets.spent + excluded.spent",
                (self.program, rule, period, points),
            )

    def customers(self) -> list[str]:
        self._flush()  # in a group: what it staged, then the database
        rows = self._execute(
            "SELECT customer FROM customers WHERE program = ? AND revision > 0 ORDER BY customer",
            (self.program,),
        )
        return [row[0] for row in rows]

    def _points(self, value: Decimal) -> Any:
        return value

    def _time(self, value: dt.datetime) -> Any:
        return value

    def _read_points(self, value: Any) -> Decimal:
        return Decimal(value)

    def _read_time(self, value: Any) -> dt.datetime:
        moment: dt.datetime = value
        return moment

    def close(self) -> None:
        """With `behind`: the flights land first, and those handed to the committer are called
        back (their answers handed out), then the connections close."""
        if self.behind:
            self._committer.close()
            for flight in self._flights:
                flight.land()
            self._flights.clear()
            if self._other is not None:
                self._other.close()
        self._db.close()


@contextmanager
def _beginning(store: PostgresStore, pipeline: AbstractContextManager[Any]) -> Iterator[Any]:
    """The pipeline with the transaction's BEGIN queued first."""
    with pipeline as entered:
        store._db.execute("BEGIN")
        store._beginning = False
        yield entered


def _without_password(url: str) -> str:
    """The URL as it may be shown in messages: a password in it is replaced by ***."""
    scheme, found, rest = url.partition("://")
    user, at, host = rest.rpartition("@")
    if not (found and at and ":" in user):
        return url
    return f"{scheme}://{user.split(':', 1)[0]}:***@{host}"
