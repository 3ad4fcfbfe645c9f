"""An event's transaction in an SQL store, the two kinds `SqlWriting.transaction` hands out: an
event's own (`Locked`: written at its end) and one inside a group (`Staged`: reads see the
group's batch first, its change staged for the group to write, batch.py).

Separate from sql_writing.py because they are what the service sees of the store during an
event (the `CustomerTransaction` interface, base.py), one class each, while the store decides
when and how their changes are written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working
from rules_engine.store.base import Change, CustomerTransaction, Spending, StoredEvent
from rules_engine.store.batch import Batch
from rules_engine.store.lists import Held
from rules_engine.store.outcomes import unpack

if TYPE_CHECKING:
    from rules_engine.store.sql_writing import SqlWriting

CLAIM = (
    "UPDATE coupon_codes SET customer = ?, claimed_at = ? WHERE program = ? AND code = ? AND customer IS NULL"
)
"""Claim a bulk coupon code that no one holds yet (an event's own transaction, or a group's write)."""


class Locked(CustomerTransaction):
    """An event's own transaction: the change written at its end, in one database transaction."""

    writes_state = True

    def __init__(self, store: SqlWriting, customer: str, held: Held | None) -> None:
        self.store = store
        self.customer = customer
        self.held = held
        self.change: Change | None = None
        self.carried: Working | None = None
        """The working state `working` handed out: the cache's (taken), or made from `held`."""

    def state(self) -> CustomerState | None:
        return None if self.held is None else self.held.state

    def working(self, make: Callable[[CustomerState | None], Working]) -> Working:
        if self.carried is None:
            held = self.held
            kept = None if held is None else self.store._cache.take(self.customer, held.revision)
            self.carried = make(None if held is None else held.state) if kept is None else kept
        return self.carried

    def event(self, event: str) -> StoredEvent | None:
        return _stored_event(self.store, self.customer, event)

    def budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        return self.store._lock_budgets(wanted) if wanted else {}

    def save(self, change: Change) -> None:
        self.change = change

    def redeemed(self, items: Sequence[str]) -> dict[str, int]:
        return self.store._lock_stock(items) if items else {}

    def claim_code(self, code: str, at: dt.datetime) -> str | None:
        store = self.store
        store._execute(CLAIM, (self.customer, store._time(at), store.program, code))
        rows = store._execute(
            "SELECT coupon, customer FROM coupon_codes WHERE program = ? AND code = ?", (store.program, code)
        )
        return str(rows[0][0]) if rows and rows[0][1] == self.customer else None


class Staged(CustomerTransaction):
    """An event's transaction inside a group: reads see the batch first, the change is staged by
    the group when the block ends without an exception (batch.py), never written here."""

    def __init__(self, store: SqlWriting, customer: str, batch: Batch) -> None:
        store._seen(customer, batch)
        self.store = store
        self.customer = customer
        self.batch = batch
        self.change: Change | None = None
        self.claims: dict[str, tuple[str, str, dt.datetime]] = {}
        self.carried: Working | None = None
        """The working state `working` handed out, and how many times it had moved on then."""
        self.moves = 0

    def state(self) -> CustomerState | None:
        return self.batch.state(self.customer)

    def working(self, make: Callable[[CustomerState | None], Working]) -> Working:
        """The customer's working state in the group (batch.py `workings`): the one their last
        event changed, or the cache's for the state the group read (taken), or one made from the
        customer's state in the group."""
        if self.carried is None:
            batch, customer = self.batch, self.customer
            working = batch.workings.get(customer)
            if working is None:
                base = batch.bases[customer]
                if customer not in batch.states and base is not None:
                    working = self.store._cache.take(customer, base.revision)
                if working is None:
                    working = make(batch.state(customer))
                batch.workings[customer] = working
            self.carried, self.moves = working, working.moves
        return self.carried

    def failed(self) -> None:
        """The event's transaction ended with an exception: a working state its step changed (it
        moved on) no longer stands for the customer's state in the group, and may be staged already
        (an earlier event's): the batch cannot be written (batch.py, `broken`)."""
        working = self.carried
        if working is not None and working.moves != self.moves:
            self.batch.workings.pop(self.customer, None)
            self.batch.broken = (
                f"an event of customer {self.customer} failed midway: the batch is not written"
            )

    def event(self, event: str) -> StoredEvent | None:
        staged = self.batch.events.get((self.customer, event))
        if staged is not None:
            return staged
        ahead = self.store._ahead_events
        if (self.customer, event) in ahead:  # read before the group's events (`read_ahead`)
            return ahead[self.customer, event]
        return _stored_event(self.store, self.customer, event)

    def budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        batch = self.batch
        missing = [key for key in wanted if key not in batch.spending]
        if missing:
            for rule, periods in self.store._lock_budgets(missing).items():
                for period, points in periods.items():
                    batch.spending[rule, period] = Decimal(points)
        spent: Spending = {}
        for rule, period in wanted:
            spent.setdefault(rule, {})[period] = batch.budget((rule, period))
        return spent

    def redeemed(self, items: Sequence[str]) -> dict[str, int]:
        batch = self.batch
        missing = [item for item in items if item not in batch.stock]
        if missing:
            batch.stock.update(self.store._lock_stock(missing))
        return {item: batch.redeemed(item) for item in items}

    def claim_code(self, code: str, at: dt.datetime) -> str | None:
        staged = self.claims.get(code) or self.batch.claims.get(code)
        if staged is None:
            store = self.store
            lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
            rows = store._execute(
                f"SELECT coupon, customer FROM coupon_codes WHERE program = ? AND code = ?{lock}",
                (store.program, code),
            )
            if not rows:
                return None
            coupon, whose = str(rows[0][0]), rows[0][1]
            if whose is not None:
                return coupon if whose == self.customer else None
            staged = self.claims[code] = (coupon, self.customer, at)
        coupon, whose, _ = staged
        return coupon if whose == self.customer else None

    def save(self, change: Change) -> None:
        self.change = change


def _stored_event(store: SqlWriting, customer: str, event: str) -> StoredEvent | None:
    rows = store._execute(
        "SELECT outcome, packed, digest, at FROM events WHERE program = ? AND customer = ? AND event = ?",
        (store.program, customer, event),
    )
    return stored_event(store, *rows[0]) if rows else None


def stored_event(store: SqlWriting, outcome: str, packed: bytes | None, digest: str, at: Any) -> StoredEvent:
    """An `events` row's outcome, digest and time as the store reads them."""
    return StoredEvent(unpack(outcome, packed), digest, None if at is None else store._read_time(at))
