"""The write path the SQLite and PostgreSQL stores share: an event's transaction and a group's,
and a customer's state written as rows; `SqlStore` (sql.py) adds the reads and the desk's
operations on top of it.

Separate from sql.py because it is the part every event runs, and the part that holds the
store's invariants (locks, revisions, what a group stages and writes behind); the reads and the
occasional operations need none of its detail. The transactions it hands out are in
sql_transactions.py; how they begin, lock and end, and an optimistic group's check, in
sql_locking.py.

The two stores differ in how they connect, lock and type their columns (sqlite.py, postgres.py); the
queries here are written once with `?` placeholders, which the PostgreSQL store turns into `%s`.

A customer's state is a summary row in `customers` and a row per element of its long lists in
`customer_lists` (lists.py); an event writes the summary (one upsert) and the list rows it changed,
or, inside a group (a replay's batch), stages them, and the group writes each customer's once at its
commit (batch.py). The store object holds the states it read or wrote last (cache.py): under the
customer's lock it reads the row's `revision` only, and reads the state again only when another
transaction (this process's or another's) wrote it since. Every write of a state sets a new
revision: the one read plus one, or, for a customer's first row, a random number from 1 to 2**40, so
that a customer erased and seen again under the same id does not come back to a revision another
process holds a state of.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import os
import random
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from rules_engine.errors import Diagnostic, StoreError
from rules_engine.state.customer import CustomerState, LedgerEntry, LedgerLine
from rules_engine.state.working import Working
from rules_engine.store.base import Change, CustomerTransaction
from rules_engine.store.batch import ELEMENTS as BATCH_ELEMENTS
from rules_engine.store.batch import Batch
from rules_engine.store.cache import Cache
from rules_engine.store.lists import PARTS, Held, Plan, body, held, own, owned, plan, read, whole
from rules_engine.store.migrations import Dialect, pending
from rules_engine.store.outcomes import pack
from rules_engine.store.sql_locking import RETRY_HINT as RETRY_HINT
from rules_engine.store.sql_locking import OutdatedError as OutdatedError
from rules_engine.store.sql_locking import SqlLocking
from rules_engine.store.sql_transactions import CLAIM, Locked, Staged
from rules_engine.store.summaries import Summaries

_INSERT_LEDGER = (
    "INSERT INTO ledger (program, customer, event, rule, kind, points, lot, at, version, rule_hash, lines)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_CODE = (
    "INSERT INTO referral_codes (program, code, customer, known_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
_ADD_STOCK = (
    "INSERT INTO catalog_stock (program, item, redeemed) VALUES (?, ?, ?)"
    " ON CONFLICT (program, item) DO UPDATE SET redeemed = catalog_stock.redeemed + excluded.redeemed"
)

_LOAD = (
    "SELECT '', NULL, state, revision FROM customers WHERE program = ? AND customer = ?"
    " UNION ALL SELECT part, pos, body, NULL FROM customer_lists WHERE program = ? AND customer = ?"
    " ORDER BY 2 NULLS FIRST"
)
"""A customer's summary (first: no position) and list rows, in one statement: one snapshot of the
database, also without a transaction. The rows in order of position, the lists' rows mixed: as
SQLite keeps them (from schema 12 `customer_lists` is keyed by position before list: lists.py), so
without a sort; each list's rows are its own in that order."""


class SqlWriting(SqlLocking):
    """What an SQL store writes and how (the module's docstring); `SqlStore` (sql.py) is the store."""

    dialect: Dialect
    carries_working = False
    """With `?working=1` (`open_store(..., working=True)`): the service decides a customer's new
    events on their working state in place (base.py), held by the cache with the state it stands
    for (cache.py) and staged by a group (batch.py); its public state is made where it is written,
    at each event's commit, or once per customer at a group's; a change with a state of its own
    leaves it standing for that state (`_carried_on`). Off by default: measured, it costs more
    than it saves (bench/README.md, "SQL stores with working states: where they still cost
    more"): its public state after a step costs what the step changed (~460k instructions at any
    history), but the step with it and the result's outcome cost more than `Engine.process` with
    its outcome (7-11 % more an event, the customer held), and making a working state from a state
    (`Working.of`: 0.1 ms after 15 purchases, 10 ms after a year of 1,000) is paid for every
    customer the cache holds without one (read from the database, or put)."""
    steps_whole = False  # the public state written at every event (base.py, `Store.steps_whole`)
    _batch: Batch | None = None
    """In a group (`group`): what its events staged, written behind at its commit (batch.py)."""
    _cache: Cache
    """The states this store object read or wrote last (cache.py); set by the constructor: only
    committed states, never a group's before it commits."""
    _summaries: Summaries
    """The texts of the challenges in the summaries this store object wrote last (summaries.py),
    as many customers' as the cache holds; set by the constructor. Not the database's: a text
    stands for the record it was written from, whatever became of the transaction."""
    batch_elements: int = BATCH_ELEMENTS
    """A group's budget of list elements staged before it writes its batch out early (batch.py);
    set by the constructor (`batch_elements=N`)."""
    early_writes: int = 0
    """How many times a group wrote its batch out early, over its budget (not at a read it could
    not answer): to see that the budget is honoured."""

    def _points(self, value: Decimal) -> Any:
        """A points value as the database column takes it."""

    @abstractmethod
    def _time(self, value: dt.datetime) -> Any:
        """A moment as the database column takes it."""

    @abstractmethod
    def _read_points(self, value: Any) -> Decimal: ...

    @abstractmethod
    def _read_time(self, value: Any) -> dt.datetime: ...

    @abstractmethod
    def _tables(self) -> set[str]:
        """The names of the tables in the database (its current schema)."""

    def _serialize_migrations(self) -> None:
        """Make processes that open the same database at once migrate one at a time (the write
        lock of `_begin` does it where it locks the whole database)."""

    def _migrate(self) -> None:
        """Apply the migrations the database lacks, in one transaction (migrations.py)."""
        self._begin()
        try:
            self._serialize_migrations()
            tables = self._tables()
            applied = 0
            if "schema_migrations" in tables:
                applied = self._execute("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0]
            todo = pending(applied, tables, self.url)
            if todo and "schema_migrations" not in tables:
                self._execute(
                    "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
                )
            for migration in todo:
                for statement in migration.statements(self.dialect):
                    self._execute(statement)
                self._execute(
                    "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                    (migration.version, migration.description),
                )
            self._commit()
        except BaseException:
            self._rollback()
            raise

    # -- the store ------------------------------------------------------------------------------
    @contextmanager
    def group(self) -> Iterator[None]:
        """One transaction for the events inside, written behind (batch.py): what each event
        changes is staged and written when the block ends, all of it or, on an exception, none."""
        if self._batch is not None:  # already in one: the outer group commits
            yield
            return
        if not self.optimistic:
            self._begin()
        batch = Batch(
            max(self.batch_elements, 0), locked=not self.optimistic
        )  # 0: written out event by event
        self._batch = batch
        try:
            yield
            self._flush(final=True)
            self._batch = None
            self._commit()
        except BaseException:
            self._batch = None
            self._rollback()  # nothing of the group held: the cache has only committed states
            raise
        finally:
            if self._ahead_revisions or self._ahead_events:
                del self._ahead_revisions, self._ahead_events  # the class's empty ones again
        self._keep_group(batch)

    def _keep_group(self, batch: Batch) -> None:
        """A committed group's states held by the cache from now on (PostgreSQL's lane: once its
        COMMIT came back, postgres.py `_settle`)."""
        for customer, written in batch.released.items():  # committed: held from now on (the latest last)
            self._cache.put(customer, written)  # written early, let go: no working state stands for it
        for customer, base in batch.bases.items():
            if base is not None:
                self._cache.put(customer, base, batch.workings.get(customer))

    @contextmanager
    def transaction(self, customer: str) -> Iterator[CustomerTransaction]:
        if self._batch is not None:
            staged = Staged(self, customer, self._batch)
            try:
                yield staged
            except BaseException:
                staged.failed()
                raise
            if staged.change is not None:
                carried = staged.carried
                if staged.change.state is not None and carried is None and self.carries_working:
                    batch = self._batch
                    carried = batch.workings.get(customer)
                    base = batch.bases.get(customer)
                    if carried is None and customer not in batch.states and base is not None:
                        carried = self._cache.take(customer, base.revision)
                self._batch.stage(customer, staged.change, staged.claims, carried)
                if self._batch.full and (self._batch.locked or self.dialect != "postgresql"):
                    # (A PostgreSQL optimistic group never writes early: the lock that writing takes
                    # would come before the locks of the customers it has not seen yet, out of the
                    # sorted order every group keeps, `_lock_unchanged`; the service's groups are
                    # bounded, shortcut.py `GROUP`.)
                    self.early_writes += 1
                    self._flush(let_go=True)
            return
        self._begin()
        try:
            locked = Locked(self, customer, self._hold(customer, self._lock_customer(customer)))
            yield locked
            if locked.change is None:
                self._rollback()
            else:
                with self._writing(commit=True):  # PostgreSQL: the writes and COMMIT sent together
                    written = self._write(customer, locked.change, locked.held, locked.carried)
                carried = locked.carried
                if locked.change.state is not None and self.carries_working:
                    carried = self._carried_on(customer, locked.held, carried, locked.change.state)
                self._commit()
                # Held once committed, not before; with the working state that stands for it.
                self._cache.put(customer, written, carried)
        except BaseException:
            self._rollback()  # a working state handed out (`Locked.working`) is not given back
            raise

    def _carried_on(
        self, customer: str, base: Held | None, carried: Working | None, state: CustomerState
    ) -> Working | None:
        """The customer's working state, made to stand for `state`, the state of a change that has
        one (an event decided by `Engine.process`: a purchase with coupons, an explained one; an
        `advance`, a `put`, a desk's adjustment): the one the transaction handed out, or the one
        the cache holds with `base`; None when there is neither (made from the state when needed).
        Without it every such change cost the customer's next step a `Working.of`, a pass over
        every lot (~10 ms after a year of 1,000 purchases: a nightly `advance` paid it for every
        customer). `Working.defer`: the compact parts made when first read, from the deques it
        has, by the windows moved or the models' identity, not from scratch."""
        if carried is None and base is not None:
            carried = self._cache.take(customer, base.revision)
        if carried is not None:
            carried.defer(state)
        return carried

    def _seen(self, customer: str, batch: Batch) -> None:
        """Lock a customer the group has not seen yet, and take their state as the database holds
        it (held by the cache, or by the batch since it wrote it out early, or read) as the
        batch's base."""
        if customer in batch.bases:
            return
        if batch.locked:
            if self.optimistic and self.dialect == "postgresql" and customer not in batch.revisions:
                # Locked now, after the sorted locks of `_lock_unchanged`: out of their order.
                raise OutdatedError(
                    [Diagnostic("RE605", f"{self.url}: customer {customer} seen after the group's locks")]
                )
            revision = self._lock_customer(customer)
        else:  # the first read stands: a state read before (`state`) is checked as read
            ahead = self._ahead_revisions
            revision = ahead[customer] if customer in ahead else self._read_revision(customer)
            batch.revisions.setdefault(customer, revision)
        kept = None
        if revision:
            kept = self._cache.get(customer, revision) or batch.written_early(customer, revision)
            if kept is None:
                kept = self._load(customer)
        batch.bases[customer] = kept

    def _flush(self, *, final: bool = False, let_go: bool = False) -> None:
        """Write what the group's batch staged, in the group's transaction (batch.py). `final`:
        at the commit; otherwise the batch goes on. `let_go`: between two events (the batch grew
        past its bound), it also lets go of the states it held (if seen again in the group: the
        state the batch wrote, kept for the cache in `released` within its budget, else read from
        the database) unless they are few."""
        batch = self._batch
        if batch is None:
            return
        if batch.broken is not None:
            raise StoreError([Diagnostic("RE605", f"{self.url}: {batch.broken}", hint=RETRY_HINT)])
        # The rows first, the lock after: an optimistic group takes it (and with several service
        # workers, SQLite's gate: http/stores.py) only to check and write them. The rows hold
        # nothing the check could invalidate: a state's are diffed against its base, which the
        # check finds unchanged or the group is rolled back.
        rows = _Rows()
        for customer, staged in batch.states.items():
            # A working state's public state made here, once per customer and batch (batch.py).
            state = staged.public() if isinstance(staged, Working) else staged
            batch.bases[customer] = self._state_rows(customer, state, batch.bases.get(customer), rows)
        # A batch's list rows in the table's key order (SQLite, schema 12: customer, pos, part):
        # each insert goes after the one before, and the pages fill up rather than split half
        # empty (measured: 5-10 % fewer pages and bytes an event; an event's own few rows gain nothing).
        rows.inserted.sort(key=_IN_KEY_ORDER)
        program = self.program
        stored = [
            (program, customer, event, pack(kept.outcome), kept.digest, self._at(kept.at))
            for (customer, event), kept in batch.events.items()
        ]
        ledger = [self._ledger_row(whose, entry) for whose, entry in batch.ledger]
        if not batch.locked:
            self._lock_unchanged(batch)
        # At the group's end its COMMIT goes with the writes (PostgreSQL: one round trip), after
        # the placeholder rows of customers given no state are let go.
        unwritten = [customer for customer, base in batch.bases.items() if base is None] if final else []
        with self._writing(commit=final):
            self._write_rows(rows)
            if stored:
                self._execute_many(
                    "INSERT INTO events (program, customer, event, outcome, packed, digest, at)"
                    " VALUES (?, ?, ?, '', ?, ?, ?)",
                    stored,
                )
            if ledger:
                self._execute_many(_INSERT_LEDGER, ledger)
            if batch.spent:
                self._add_spending([(rule, period, points) for (rule, period), points in batch.spent.items()])
            if batch.codes:
                self._execute_many(
                    _INSERT_CODE,
                    [(program, code, customer, self._at(at)) for code, (customer, at) in batch.codes.items()],
                )
            if batch.taken:
                self._execute_many(
                    _ADD_STOCK, [(program, item, count) for item, count in batch.taken.items()]
                )
            if batch.claims:
                self._execute_many(
                    CLAIM,
                    [(whose, self._time(at), program, code) for code, (_, whose, at) in batch.claims.items()],
                )
            if unwritten:
                self._release_unwritten(unwritten)
        batch.written()
        if let_go:
            let_go = batch.limit < sum(base.weight for base in batch.bases.values() if base is not None)
        if let_go:  # (never at the end: there `unwritten` went with the writes)
            self._release_unwritten([customer for customer, base in batch.bases.items() if base is None])
            # Seen again: `released`'s state or read (locked again, a no-op); held once committed.
            batch.release(self._cache.budget if self._cache.size > 0 else 0)

    def _at(self, at: dt.datetime | None) -> Any:
        return None if at is None else self._time(at)

    # -- states: a summary row and list rows (lists.py), held while the revision stays ----------
    def _keep(self, customer: str, state: Held) -> None:
        self._cache.put(customer, state)

    def _hold(self, customer: str, revision: int | None) -> Held | None:
        """The customer's state at this revision of their row: held, or read (and then held)."""
        if not revision:
            return None
        kept = self._cache.get(customer, revision)
        if kept is None:
            kept = self._load(customer)
            if kept is not None:
                self._keep(customer, kept)
        return kept

    def _load(self, customer: str) -> Held | None:
        """The customer's state read from the database (summary and list rows, one statement)."""
        rows = self._execute(_LOAD, (self.program, customer, self.program, customer))
        if not rows or rows[0][1] is not None or not rows[0][3]:
            return None
        bodies: dict[str, list[str]] = {part: [] for part in PARTS}
        positions: dict[str, list[int]] = {part: [] for part in PARTS}
        for part, pos, text, _ in rows[1:]:
            if part in bodies:
                bodies[part].append(text)
                positions[part].append(int(pos))
        return read(int(rows[0][3]), rows[0][2], bodies, positions)

    def _write(
        self, customer: str, change: Change, base: Held | None, working: Working | None = None
    ) -> Held:
        """Write the change: the state (`_write_state`; a change without one: the public state of
        the `working` state the step changed), the event, ledger, budgets …; the state as now held."""
        state = change.state
        if state is None:
            assert working is not None, "a change without a state needs the transaction's working state"
            state = working.public()
        written = self._write_state(customer, state, base)
        self._write_rest(customer, change)
        return written

    def _write_state(self, customer: str, state: CustomerState, base: Held | None) -> Held:
        """Write the state as its summary and the list rows that differ from `base` (the state as
        the database holds it in this transaction; None for a customer without a state); the state
        as now held."""
        rows = _Rows()
        written = self._state_rows(customer, state, base, rows)
        self._write_rows(rows)
        return written

    def _state_rows(self, customer: str, state: CustomerState, base: Held | None, rows: _Rows) -> Held:
        """The rows that write the state over `base` (`_write_state`), added to `rows`; the state
        as held once they are written. (A customer's first state, every list written whole, goes
        without the plans and their empty edits: half of the service's events.)"""
        program = self.program
        positions: dict[str, Sequence[int]] = {}
        apart: list[str] = []  # lists not on the base's storage: given one of their own (lists.own)
        inserted = rows.inserted
        if base is None:
            revision = _FIRST_REVISIONS.getrandbits(40) + 1
            rows.summaries.append((program, customer, self._summaries.write(customer, state), revision))
            values = state.__dict__
            for part in PARTS:
                new = values[part]
                places = whole(new)
                positions[part] = own(places, fresh=True)
                apart.append(part)
                if new:
                    inserted += [
                        (program, customer, part, pos, body(part, x))
                        for pos, x in zip(places, new, strict=True)
                    ]
            return held(revision, owned(state, apart), positions)
        revision = base.revision + 1
        rows.summaries.append((program, customer, self._summaries.write(customer, state), revision))
        top = max((places[-1] for places in base.positions.values() if places), default=0)
        for part in PARTS:
            new = getattr(state, part)
            edits = plan(base.elements[part], base.positions[part], new, top)
            if edits is None:
                if base.elements[part]:
                    rows.cleared.append((program, customer, part))
                places = whole(new)
                edits = Plan([], [], list(zip(places, new, strict=True)), places)
            if edits.moved:
                positions[part] = edits.positions
            else:
                positions[part] = own(edits.positions, fresh=True)
                apart.append(part)
            if edits.deleted:
                rows.deleted += [(program, customer, part, pos) for pos in edits.deleted]
            if edits.updated:
                rows.updated += [(body(part, x), program, customer, part, pos) for pos, x in edits.updated]
            if edits.inserted:
                inserted += [(program, customer, part, pos, body(part, x)) for pos, x in edits.inserted]
        return held(revision, owned(state, apart), positions)

    def _write_rows(self, rows: _Rows) -> None:
        if rows.summaries:
            self._execute_many(
                "INSERT INTO customers (program, customer, state, revision) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (program, customer)"
                " DO UPDATE SET state = excluded.state, revision = excluded.revision",
                rows.summaries,
            )
        if rows.cleared:
            self._execute_many(
                "DELETE FROM customer_lists WHERE program = ? AND customer = ? AND part = ?", rows.cleared
            )
        if rows.deleted:
            self._execute_many(
                "DELETE FROM customer_lists WHERE program = ? AND customer = ? AND part = ? AND pos = ?",
                rows.deleted,
            )
        if rows.updated:
            self._execute_many(
                "UPDATE customer_lists SET body = ?"
                " WHERE program = ? AND customer = ? AND part = ? AND pos = ?",
                rows.updated,
            )
        if rows.inserted:
            self._execute_many(
                "INSERT INTO customer_lists (program, customer, part, pos, body) VALUES (?, ?, ?, ?, ?)",
                rows.inserted,
            )

    def _write_rest(self, customer: str, change: Change) -> None:
        program = self.program
        if change.event is not None and change.outcome is not None:
            self._execute(
                "INSERT INTO events (program, customer, event, outcome, packed, digest, at)"
                " VALUES (?, ?, ?, '', ?, ?, ?)",
                (program, customer, change.event, pack(change.outcome), change.digest, self._at(change.at)),
            )
        if change.ledger:
            self._execute_many(_INSERT_LEDGER, [self._ledger_row(customer, entry) for entry in change.ledger])
        if change.spent:
            self._add_spending(change.spent)
        if change.referral_code is not None:
            self._execute(_INSERT_CODE, (program, change.referral_code, customer, self._at(change.at)))
        for item, count in change.taken:
            self._execute(_ADD_STOCK, (program, item, count))

    def _ledger_row(self, customer: str, entry: LedgerEntry) -> tuple[Any, ...]:
        return (
            self.program,
            customer,
            entry.event,
            entry.rule,
            entry.kind,
            self._points(entry.points),
            entry.lot,
            self._time(entry.at),
            entry.version,
            entry.rule_hash,
            _lines_json(entry.lines),
        )


_FIRST_REVISIONS = random.Random()
"""Where a customer's first revision comes from (`_state_rows`): 40 random bits, as
`secrets.randbelow` gave them, without its system call per new customer (5.5 µs a draw at load,
against 0.23). Seeded from the system's randomness, and again in a forked child, so that two
processes do not share a sequence; not the `random` module's shared generator, which a program
may seed."""
os.register_at_fork(after_in_child=_FIRST_REVISIONS.seed)

_IN_KEY_ORDER = operator.itemgetter(0, 1, 3, 2)
"""A `customer_lists` row to insert (program, customer, part, pos, body) by the table's key."""


class _Rows:
    """The rows that write states (`SqlStore._state_rows`), one `executemany` per kind."""

    def __init__(self) -> None:
        self.summaries: list[tuple[str, str, str, int]] = []
        self.cleared: list[tuple[str, str, str]] = []
        self.deleted: list[tuple[str, str, str, int]] = []
        self.updated: list[tuple[str, str, str, str, int]] = []
        self.inserted: list[tuple[str, str, str, int, str]] = []


def _lines_json(lines: Sequence[LedgerLine]) -> str | None:
    """A ledger entry's line parts as the `lines` column holds them: JSON, points as decimal text,
    as `json.dumps` writes the list of `{"line": …, "points": "…"}` (with its spaces): written
    here directly, as a line index is an int and a decimal's text needs no escaping (one
    `json.dumps` was ~60 % of making an entry's row). The decimal by `str`, not by the f-string's
    `format` (the same text: `Decimal.__format__` with no specification writes `str`'s, and costs
    three times as much: 2.1 against 0.7 µs, timeit)."""
    if not lines:
        return None
    parts = []
    for part in lines:
        line = part.line
        if type(line) is not int:  # not written as JSON writes an int: let json say how
            return json.dumps([{"line": p.line, "points": str(p.points)} for p in lines])
        parts.append(f'{{"line": {line}, "points": "{part.points!s}"}}')
    return f"[{', '.join(parts)}]"
