"""How an SQL store's transactions begin, lock and end, the part of the write path (sql_writing.py)
that each database does its own way (sqlite.py, postgres.py), and an optimistic group's check:
its customers locked in one sorted order, what it read found unchanged (`_lock_unchanged`).

Separate from sql_writing.py because it is what the store's invariants rest on — which locks a
transaction takes, in what order, and what an optimistic group checks before it writes — while
sql_writing.py decides what rows a change writes. PostgreSQL's hooks here send their statements
in pipelines (postgres.py: reads ahead, the sorted locks, the writes; BEGIN and COMMIT ride them).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any

from rules_engine.errors import Diagnostic, StoreError, TransientError
from rules_engine.store.base import Spending, Store, StoredEvent
from rules_engine.store.batch import Batch
from rules_engine.store.migrations import Dialect

RETRY_HINT = (
    "nothing of the event in progress was written; retry it when the database answers again "
    "(a redelivered event is never applied twice)"
)
"""The advice for a failure that may pass: a lost connection, a lock held too long."""


class OutdatedError(StoreError):
    """An optimistic group found, once it took the write lock, that another transaction changed
    what it read (`SqlWriting._lock_unchanged`): nothing of it was written, and deciding its events
    again under the lock gives their answers."""


class SqlLocking(Store):
    """The transactions, locks and checks of an SQL store (the module's docstring); `SqlWriting`
    (sql_writing.py) writes in them."""

    dialect: Dialect
    optimistic: bool = False
    """A group reads without the write lock and takes it only to write, first checking that
    nothing it read has changed since (`_lock_unchanged`): for a replay's worker that owns its
    customers (`loyalty run --workers`) on SQLite, whose write lock is the whole database's, so
    that workers decide their batches at once and take turns only to write them; and for the
    events lane of `loyalty serve --workers N` on SQLite (http/routes/events.py, `speculate`)."""
    _ahead_revisions: dict[str, int | None] = {}  # noqa: RUF012 (never changed: replaced)
    """An optimistic group's customers' revisions read before its events (`read_ahead`)."""
    _ahead_events: dict[tuple[str, str], StoredEvent | None] = {}  # noqa: RUF012 (replaced, never changed)
    """Its (customer, event id) pairs read before its events: each stored event, None if not stored."""
    before_lock: Callable[[], None] | None = None
    """Called by an optimistic group right before it takes the write lock (`_lock_unchanged`): the
    service takes SQLite's gate across workers there (http/stores.py), so that the group decides
    its events outside it and holds it only to check and write."""

    # -- what each database does its own way ----------------------------------------------------
    @abstractmethod
    def _execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement in the current transaction (or on its own); the rows it returns."""

    @abstractmethod
    def _execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters, in the current transaction."""

    @abstractmethod
    def _begin(self) -> None:
        """Start a transaction that holds the write lock the store relies on."""

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def _lock_customer(self, customer: str) -> int | None:
        """Lock the customer until the transaction ends; their row's revision, None if new."""

    def _lock_customers(self, customers: Sequence[str]) -> dict[str, int | None]:
        """Lock the customers (given in sorted order, each once) until the transaction ends, one
        after another in that order; each one's revision, None if new. Every lock an optimistic
        group takes is taken here, in one global order, so that two groups never wait for each
        other in a circle (PostgreSQL's row locks; SQLite's write lock is whole)."""
        return {customer: self._lock_customer(customer) for customer in customers}

    def read_ahead(self, wanted: Sequence[tuple[str, str]]) -> None:
        """In an optimistic group, before its events are decided: their customers' revisions and
        which of the (customer, event id) pairs are stored, each kind read in one statement rather
        than one an event (`_seen`, `Staged.event`). The group's reads, checked as any: a revision
        when the group locks; an event stored since then changed its customer's revision.
        Forgotten when the group ends. PostgreSQL's (postgres.py); nothing elsewhere."""

    def _writing(self, *, commit: bool = False) -> AbstractContextManager[None]:
        """Where a transaction writes (a group's batch, `_flush`; an event's change): PostgreSQL
        sends the statements together, and with `commit` the COMMIT after them, so that the
        `_commit` that follows has nothing to send (postgres.py); nothing elsewhere (`_commit`
        commits)."""
        return nullcontext()

    def _read_revision(self, customer: str) -> int | None:
        """The customer's revision as an optimistic group reads it, outside the write lock: no
        lock taken, nothing written (None: no state). SQLite's `_lock_customer` is that read."""
        return self._lock_customer(customer)

    @abstractmethod
    def _lock_budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending: ...

    @abstractmethod
    def _add_spending(self, spent: Sequence[tuple[str, str, Decimal]]) -> None: ...

    def _failed(self, problem: Exception) -> StoreError:
        """A database error as people read it: the store, what the driver said, what to do."""
        said = str(problem).strip().splitlines()[0] if str(problem).strip() else type(problem).__name__
        kind = TransientError if self._transient(problem) else StoreError
        return kind(
            [
                Diagnostic(
                    "RE605",
                    f"{self.url}: the database failed: {said}",
                    hint=self._advice(problem) or RETRY_HINT,
                )
            ]
        )

    def _transient(self, problem: Exception) -> bool:
        """Whether the database gave the transaction up for another's sake (`TransientError`)."""
        return False

    def _advice(self, problem: Exception) -> str | None:
        """What to do about a failure that retrying alone will not mend (a damaged file, a full
        disk), from the driver's own error codes; None when a retry is the advice."""
        return None

    def _lock_unchanged(self, batch: Batch) -> None:
        """Take an optimistic group's write lock, then check that what its batch read is what the
        database holds: its customers' revisions, budget spending, stock, unclaimed bulk codes.
        Another process wrote some of it (a worker giving a referrer their reward): StoreError,
        and the batch is rolled back (a replay does it again, an event per transaction; the service
        decides the group again under the lock).

        Raises:
            OutdatedError: something the batch read has changed (nothing written; the lock is held
                until the group rolls back)."""
        if self.before_lock is not None:
            self.before_lock()
        self._begin()
        batch.locked = True
        # In sorted order (`_lock_customers`): PostgreSQL's groups lock rows, and two groups of
        # several workers that share customers must not each hold one the other waits for.
        now = self._lock_customers(sorted(batch.revisions))
        changed = [c for c, revision in batch.revisions.items() if now[c] != revision]
        if batch.spending:
            spending = self._lock_budgets(list(batch.spending))
            changed += [
                f"the budget of {rule} ({period})"
                for (rule, period), points in batch.spending.items()
                if Decimal(spending[rule][period]) != points
            ]
        if batch.stock:
            counted = self._lock_stock(list(batch.stock))
            changed += [
                f"the stock of {item}" for item, count in batch.stock.items() if counted[item] != count
            ]
        for code in batch.claims:
            rows = self._execute(
                "SELECT customer FROM coupon_codes WHERE program = ? AND code = ?", (self.program, code)
            )
            if rows and rows[0][0] is not None:
                changed.append(f"the code {code}")
        for code in batch.unfound:
            if self._execute(
                "SELECT 1 FROM referral_codes WHERE program = ? AND code = ?", (self.program, code)
            ):
                changed.append(f"the referral code {code}")
        if changed:
            raise OutdatedError(
                [
                    Diagnostic(
                        "RE605",
                        f"{self.url}: another process wrote what the batch read ({', '.join(changed[:3])})",
                        hint=RETRY_HINT,
                    )
                ]
            )

    def _release_unwritten(self, customers: list[str]) -> None:
        """Customers the group locked but gave no state (their events all failed or changed
        nothing): undo what locking them wrote, if anything (PostgreSQL's placeholder row)."""

    def _lock_stock(self, items: Sequence[str]) -> dict[str, int]:
        """The items' redemption counts, their rows locked until the transaction ends (in sorted
        order, after the customer and the budgets: no two transactions wait for each other in a
        circle). SQLite's `BEGIN IMMEDIATE` holds the whole database already."""
        counted: dict[str, int] = {}
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        for item in sorted(set(items)):
            self._execute(
                "INSERT INTO catalog_stock (program, item, redeemed) VALUES (?, ?, 0) ON CONFLICT DO NOTHING",
                (self.program, item),
            )
            rows = self._execute(
                f"SELECT redeemed FROM catalog_stock WHERE program = ? AND item = ?{lock}",
                (self.program, item),
            )
            counted[item] = int(rows[0][0])
        return counted
