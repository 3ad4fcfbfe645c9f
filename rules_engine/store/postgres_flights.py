"""PostgreSQL's COMMIT off the events lane: a group's writes and COMMIT sent, their answers read by
another thread while the lane decides the next group on a second connection.

Why: the service's events lane (http/threads.py `Lane`) stores a group of up to 64 events in one
transaction, its writes and COMMIT sent together (postgres.py `_writing`). On a durable cluster
that COMMIT waits for the WAL flush, 4-9 ms median on the benchmark's disk, 12-15 ms at p90, and
the lane waited with it: one worker's interpreter idle while its 64 clients wait. SQLite's lane
solved the same with its log sync (sqlite_sync.py).

How: the lane's store (`PostgresStore.commit_behind`) holds two connections. A group's final
pipeline — its writes, then COMMIT — is sent (`_Flight.send`) and left open as a `_Flight`; the
store then decides its next group on the other connection (`PostgresStore.group`), while a
`Committer` thread reads the flight's answers (psycopg's wait, without the interpreter's lock)
and calls back: the service hands the group's answers back only then (http/app.py `_deliver`),
so an event is acknowledged only once its transaction committed, as before. A flight that fails
(the COMMIT refused, the connection lost, the server stopped) is rolled back and answered as not
stored (RE810: retry; a redelivery is answered as stored, never applied twice).

What stays right: the next group takes its customers' row locks on the other connection, so it
waits for a customer the flight holds until the flight commits or rolls back, and then finds the
revision it read changed (its optimistic check, sql_locking.py `_lock_unchanged`): it is decided
again. The store's cache holds committed states only: a flight's states are put in it by the
lane's thread once the flight landed committed (`PostgresStore._settle`), never before, so a state
of a flight that failed is never taken for the database's.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from rules_engine.errors import StoreError
from rules_engine.store.batch import Batch

log = logging.getLogger("rules_engine.store")

Landed = Callable[[StoreError | None], None]
"""Called once a flight's COMMIT came back: None when it committed, else the store's error."""


class _Flight:
    """One group's writes and COMMIT sent on `connection` in psycopg's pipeline `pipeline` (the
    `Connection.pipeline()` context entered, not left): landed once (`land`), by the committer or
    by the lane when it needs the connection back, whichever comes first."""

    __slots__ = (
        "_landing",
        "answered",
        "batch",
        "connection",
        "customers",
        "done",
        "error",
        "failed",
        "handed",
        "pipeline",
    )

    def __init__(
        self, connection: Any, pipeline: Any, batch: Batch | None, failed: Callable[[Exception], StoreError]
    ) -> None:
        self.connection = connection
        self.pipeline = pipeline
        self.batch = batch
        """The group's batch: its states held by the cache once the flight committed (`_settle`)."""
        self.customers = frozenset(() if batch is None else batch.bases)
        """The group's customers: a later group of any of them waits for this flight to land, and
        if it failed, for its events to be answered (decided again) first (postgres.py
        `_after_earlier`)."""
        self.handed = False
        """Handed to a `Committer` (`after`), which sets `answered` once it called back."""
        self.answered = threading.Event()
        self.failed = failed
        self.error: StoreError | None = None
        self.done = threading.Event()
        self._landing = threading.Lock()

    def land(self) -> StoreError | None:
        """Wait for the flight's answers (once; a second caller waits for the first): None when it
        committed, else the error, the connection's transaction rolled back."""
        import psycopg

        with self._landing:
            if self.done.is_set():
                return self.error
            try:
                self.pipeline.__exit__(None, None, None)
            except psycopg.Error as problem:
                self.error = self.failed(problem)
                _roll_back(self.connection)
            except Exception as problem:  # not the database's: still not committed, said so
                self.error = self.failed(problem)
                _roll_back(self.connection)
            finally:
                self.pipeline = None  # nothing held once landed
                self.done.set()
            if self.error is not None:
                log.warning(
                    "a group's writes and COMMIT failed, rolled back: %s",
                    "; ".join(d.message for d in self.error.diagnostics),
                )
            return self.error


def send(pipeline: Any) -> None:
    """Send what `pipeline` (psycopg's `Pipeline`, its COMMIT queued last) holds without waiting
    for the answers: psycopg sends a pipeline's statements only at its sync (or when many are
    queued), which would make the committer, waiting for the lane to let go of the interpreter's
    lock, start the COMMIT late. The server runs each statement as it comes, COMMIT too; the Sync
    that asks for the answers is the committer's (`_Flight.land`: the pipeline's exit), so the
    group still waits once. (psycopg's own step of `Pipeline.sync` that sends, without the Sync
    and the wait; a version without it leaves the sending to the committer.)"""
    communicate = getattr(pipeline, "_communicate_gen", None)
    connection = getattr(pipeline, "_conn", None)
    if communicate is None or connection is None:
        return
    with connection.lock:
        connection.wait(communicate())


def _roll_back(connection: Any) -> None:
    """A failed flight's transaction rolled back (as postgres.py `_rollback`: through psycopg when
    the server failed it, `forget`); nothing for a broken connection, which the store replaces."""
    import psycopg

    with contextlib.suppress(psycopg.Error):
        if not connection.closed and connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            if forget(connection):
                connection.execute("ROLLBACK")
            else:
                connection.pgconn.exec_(b"ROLLBACK")


def forget(connection: Any) -> bool:
    """Whether the server failed the connection's transaction (a deadlock, any error: `INERROR`),
    so that its ROLLBACK must go through psycopg, which then forgets the statements it prepared:
    a statement it meant to prepare may have been queued after the failed one in a pipeline, and
    skipped by the server; psycopg, not told, would name it in the next transaction, which fails
    ("prepared statement _pg3_12 does not exist": a line tried again after a deadlock, for good).
    A transaction rolled back by choice (an event refused) goes on through libpq: nothing lost."""
    import psycopg

    return bool(connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR)


_END = None


class Committer:
    """One thread that lands flights in the order they were sent and calls back for each."""

    def __init__(self, name: str = "loyalty-commit") -> None:
        self.name = name
        self.landed = 0
        """Flights landed so far (tests read it)."""
        self._calls: queue.SimpleQueue[tuple[_Flight, Landed] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def after(self, flight: _Flight, landed: Landed) -> None:
        """`landed(error)` on the committer's thread once `flight` landed; on the caller's thread
        at once (after landing it here) when the committer is closed. The flight's `answered` is
        set once `landed` returned."""
        flight.handed = True
        with self._lock:
            closed = self._closed
            if not closed:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                    self._thread.start()
                self._calls.put((flight, landed))
        if closed:
            _call(landed, flight.land())
            flight.answered.set()

    def _work(self) -> None:
        while True:
            call = self._calls.get()
            if call is None:
                return
            flight, landed = call
            del call
            error = flight.land()
            self.landed += 1
            _call(landed, error)
            flight.answered.set()
            del flight, landed, error  # nothing held while waiting

    def close(self) -> None:
        """The flights handed over land and are called back, then the thread ends (waited for)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._calls.put(_END)
            if thread is not threading.current_thread():
                thread.join()


def _call(landed: Landed, error: StoreError | None) -> None:
    try:
        landed(error)
    except Exception:  # the callback's own failure: logged, the next flight still lands
        log.exception("a callback after a group's commit failed")
