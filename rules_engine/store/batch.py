"""What a group of an SQL store (a replay's batch) holds before it writes: write behind.

Inside `SqlStore.group()` an event's transaction writes nothing: what it changes is staged here
when it ends without an exception, and the whole batch is written at the group's commit, one
`executemany` per table — each customer's summary once (their last state), their list rows diffed
once against what the database holds (lists.plan), and the event, ledger, referral-code, budget,
stock and coupon-claim rows of every event of the batch. An event that fails is simply never
staged: it changes nothing, as the savepoint it replaces did. A kill -9 before the commit loses the
batch, which nobody was told about (replay.py acknowledges a line once its batch is committed).

Reads inside the group see the staged values first: a customer's state, an event id processed
earlier in the batch (a redelivery is a duplicate), a budget's spending, an item's stock, a
referral code, a claimed bulk code. A read the batch cannot answer (the ledger, counts, lists of
customers) writes the batch out first, in the group's transaction (`SqlStore._flush`), and reads
the database; so does a batch grown past its own budget of list elements (`limit`, `ELEMENTS` by
default), between two events, and it then lets go of the states it held: so a replay's memory is
bounded by that budget and the store's cache bound (cache.py), not by how many customers a batch
touches nor how big their states have grown. The budget is the batch's own, not the cache's: a
replay wants a small cache (its customers interleave, so most events miss anyway) and a batch that
is written out rarely (one `executemany` per table for many events).

**Working states.** A customer whose events the service decides in place (`Stream.step` on their
working state, `CustomerTransaction.working`) has the working state staged, not a public state: it
is made (`Working.public()`) once per customer when the batch is written, not per event, and the
working state goes on standing for the customer's state in the group (`workings`) and, once the
group commits, in the cache (cache.py); an event that stages a public state of its own (decided by
`Engine.process`) leaves it standing for that one (`Working.defer`). A step changes the working
state in place, so an event that fails after its step (anything but the engine's refusal, which
leaves it as it was: engine/stream.py) leaves the batch with a state it cannot take back: the batch
is then `broken`, and writing it raises, so that the group rolls back (replay.py does its lines
again, one transaction each).

Everything read or locked here stays valid until the group ends: SQLite's group holds the
database's write lock, PostgreSQL's holds the rows it locked (the customers', budgets', stock's).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working
from rules_engine.store.base import Change, StoredEvent
from rules_engine.store.lists import PARTS, Held

ELEMENTS = 50_000
"""List elements (lots, purchase lines, activity, …) the states a batch stages may hold before it
is written out early, by default (`open_store(..., batch_elements=N)`, `?batch_elements=N`). A
state's memory is about its list elements' (~2.2 KB each as Python objects, cache.py), and a batch
holds both each customer's staged state and the one the database holds: ~50,000 elements are a
few hundred MB at the very worst. Measured (docs/stores.md): a 12,500-customer coffee-club year
into SQLite nearly levels off at ~160 MB of RSS from 150,000 events (185 MB at 450,000; 238 MB at
200,000 and growing with a budget of the cache's 256,000), with the same CPU."""


@dataclass
class Batch:
    limit: int
    """List elements the staged states may hold before the batch is written out early."""
    bases: dict[str, Held | None] = field(default_factory=dict)
    """Each customer seen in the group (locked): their state as the database holds it in the
    group's transaction (None: no state); what their staged state is diffed against."""
    states: dict[str, CustomerState | Working] = field(default_factory=dict)
    """Each customer's last staged state, not yet written: a public state, or the working state
    the customer's latest event changed in place (its public state made when written)."""
    workings: dict[str, Working] = field(default_factory=dict)
    """The working state that stands for each customer's state in the group (staged or written),
    for their next event's step; after a public state is staged for them, made to stand for it
    (`Working.defer`: its compact parts made from it only if a step reads them)."""
    broken: str | None = None
    """Why the batch cannot be written: an event failed after its step changed a working state."""
    weights: dict[str, int] = field(default_factory=dict)
    weight: int = 0
    """List elements of the staged states, in all."""
    events: dict[tuple[str, str], StoredEvent] = field(default_factory=dict)
    """The events staged, by (customer, event id), in order."""
    ledger: list[tuple[str, Any]] = field(default_factory=list)
    """(customer, entry) of the ledger entries staged, in order."""
    codes: dict[str, tuple[str, dt.datetime | None]] = field(default_factory=dict)
    """Referral codes staged: code → (customer, known since) (the first staged stands, as in the
    database)."""
    spending: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    """Budget spending as read (locked) from the database in the group, by (rule, period)."""
    spent: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    """Budget spending staged, not yet written: added to `spending`."""
    stock: dict[str, int] = field(default_factory=dict)
    """Catalog items' redemption counts as read (locked) in the group."""
    taken: dict[str, int] = field(default_factory=dict)
    """Items taken (or given back) staged, not yet written: added to `stock`."""
    claims: dict[str, tuple[str, str, dt.datetime]] = field(default_factory=dict)
    """Bulk codes claimed, staged: code → (coupon, customer, when)."""
    latest: dt.datetime | None = None
    """The latest time of an event staged."""
    locked: bool = True
    """Whether the group holds its write lock; an optimistic group (`SqlStore.optimistic`) reads
    without it until it writes."""
    released: dict[str, Held] = field(default_factory=dict)
    """States written out early and let go (`SqlStore._flush`), to be held by the cache once the
    group commits, as its bases are: at most the cache's budget of elements, the latest kept."""
    released_weight: int = 0
    revisions: dict[str, int | None] = field(default_factory=dict)
    """An optimistic group's customers: the revision of their row as read (None: no row), checked
    to be unchanged once the lock is taken."""
    unfound: set[str] = field(default_factory=set)
    """Referral codes an optimistic group looked up and found no customer for (a referrer's reward
    left owed), checked to be still unknown once the lock is taken."""

    def state(self, customer: str) -> CustomerState | None:
        """The customer's state in the group (staged, or as the database holds it); the customer
        must have been seen (`bases`)."""
        staged = self.states.get(customer)
        if staged is not None:
            return staged.public() if isinstance(staged, Working) else staged
        base = self.bases[customer]
        return None if base is None else base.state

    def stage(
        self,
        customer: str,
        change: Change,
        claims: dict[str, tuple[str, str, dt.datetime]],
        working: Working | None = None,
    ) -> None:
        """Keep what one event changes, to be written with the batch; `working`: the customer's
        working state, which stands for the state after a change without one, and is made to stand
        for the state of a change with one (sql_writing.py `_carried_on`)."""
        if change.state is None:
            assert working is not None, "a change without a state needs the transaction's working state"
            self.states[customer] = self.workings[customer] = working
            base = self.bases.get(customer)
            weight = 0 if base is None else base.weight  # what it shares with the state written
        else:
            self.states[customer] = change.state
            if working is None:
                self.workings.pop(customer, None)
            else:  # it goes on standing for the customer's state, made when first read
                working.defer(change.state)
                self.workings[customer] = working
            weight = sum(len(getattr(change.state, part)) for part in PARTS)
        self.weight += weight - self.weights.get(customer, 0)
        self.weights[customer] = weight
        if change.event is not None and change.outcome is not None:
            self.events[customer, change.event] = StoredEvent(change.outcome, change.digest, change.at)
            if change.at is not None and (self.latest is None or change.at > self.latest):
                self.latest = change.at
        self.ledger += [(customer, entry) for entry in change.ledger]
        for rule, period, points in change.spent:
            self.spent[rule, period] = self.spent.get((rule, period), Decimal(0)) + points
        if change.referral_code is not None:
            self.codes.setdefault(change.referral_code, (customer, change.at))
        for item, count in change.taken:
            self.taken[item] = self.taken.get(item, 0) + count
        self.claims.update(claims)

    def release(self, budget: int) -> None:
        """Let go of the bases (written out early), keeping at most `budget` elements of them in
        `released` for the cache, the latest first."""
        for customer, base in self.bases.items():
            if base is None:
                continue
            old = self.released.pop(customer, None)
            if old is not None:
                self.released_weight -= old.weight
            self.released[customer] = base
            self.released_weight += base.weight
        while self.released and self.released_weight > budget:
            oldest = next(iter(self.released))
            self.released_weight -= self.released.pop(oldest).weight
        self.bases.clear()
        # Made again from the state read if seen again. Not `cache.let_go`: the event whose
        # transaction wrote the batch out has not returned, and its result reads its state.
        self.workings.clear()

    def written_early(self, customer: str, revision: int) -> Held | None:
        """The customer's state as this group wrote it out early and let go of (`released`), if
        the database still holds that revision: seen again in the same group, it is the base,
        not read back. Before, a replay in batches past their budget read back, within the same
        group, the states it had just written (the later in a year, the more: every customer seen
        twice in a batch of thousands of events)."""
        held = self.released.get(customer)
        return held if held is not None and held.revision == revision else None

    def budget(self, key: tuple[str, str]) -> Decimal:
        return self.spending[key] + self.spent.get(key, Decimal(0))

    def redeemed(self, item: str) -> int:
        return self.stock[item] + self.taken.get(item, 0)

    @property
    def full(self) -> bool:
        return self.weight > self.limit

    def written(self) -> None:
        """What was staged is in the database's transaction now: the bases are the states written
        (set by the writer), the read values include what was added."""
        for key, points in self.spent.items():
            if key in self.spending:  # a return releases budgets it did not read: read them again
                self.spending[key] += points
        for item, count in self.taken.items():
            if item in self.stock:
                self.stock[item] += count
        self.states.clear()
        self.weights.clear()
        self.weight = 0
        self.events.clear()
        self.ledger.clear()
        self.codes.clear()
        self.spent.clear()
        self.taken.clear()
        self.claims.clear()
