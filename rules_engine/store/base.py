"""What a store keeps, and the one transaction that processing an event is.

A store holds, for one program: each customer's state, every ledger entry, the outcome of every
event it processed, the program-wide spending of rules with a budget, and the customers'
referral codes. The engine stays a pure function; a store only gives it the state before an
event and keeps what came out.

Processing an event is one `CustomerTransaction`: the customer is locked, the event id is looked
up (seen before → its stored outcome, nothing applied), the state and the budgets are read, the
engine decides, and the new state, the new ledger entries, the event's outcome and the budget
spending are written together — or, if anything fails on the way, none of them. Two workers
holding events of the same customer are serialized by that lock, so no update is lost and an
event id delivered twice, even to two workers at once, is applied once.

Each processed event is kept with a digest of its payload and its time. A redelivery whose payload
differs is not a duplicate but another event reusing the id, refused (service.py); the latest
time is what the horizon against future-dated events is measured from.

Outcomes are stored without their `state`: the state already lives in the customer's rows, and
keeping a copy per event would make the store grow with the square of a customer's history.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from types import TracebackType

from rules_engine.state.customer import CustomerState, LedgerEntry
from rules_engine.state.working import Working
from rules_engine.store.keys import ApiKey


@dataclass(frozen=True)
class LedgerRow:
    """A ledger entry as stored: the entry, whose it is, and its place in the store's order."""

    seq: int
    """Order of writing, across all customers."""
    customer: str
    entry: LedgerEntry


@dataclass(frozen=True)
class Change:
    """Everything one event (or one housekeeping pass) changes, written in one transaction."""

    state: CustomerState | None
    """The customer's state after it; None only in a transaction of a store that carries working
    states (`Store.carries_working`) whose working state the step changed in place: it stands for
    the state after (the SQL stores make its public state where they write it: sql_writing.py)."""
    ledger: Sequence[LedgerEntry] = ()
    """The ledger entries it added, in order."""
    event: str | None = None
    """The event's id; None for housekeeping (`advance`), which is not an event."""
    outcome: str | None = None
    """The outcome without its state, as JSON, answered again for a redelivered event."""
    spent: Sequence[tuple[str, str, Decimal]] = ()
    """Budget spending: (rule, period key, points)."""
    referral_code: str | None = None
    """The customer's referral code, so that a referee's signup can name its referrer; known from
    `at`, the customer's first event's time (no time: known since ever, as an imported state's)."""
    digest: str | None = None
    """The event's payload digest (`canonical.event_digest`), to tell a redelivery from another
    event that reuses the id."""
    at: dt.datetime | None = None
    """The event's time: the store's latest is the reference of the horizon (service.py)."""
    taken: Sequence[tuple[str, int]] = ()
    """Catalog items taken (a redemption: 1) or given back (a void of one: -1), program-wide."""
    owes: str | None = None
    """The referral code of a referrer the event owes a reward (`Effects.referral_owed`): what a
    store that keeps no outcomes (`Store.keeps_history`) keeps of the outcome, so that a
    redelivery still gives a reward left owed (the referrer was not known yet)."""


@dataclass(frozen=True)
class StoredEvent:
    """An event the store processed before, as kept with it."""

    outcome: str
    """Its outcome (JSON, without state); empty from a store that keeps no outcomes
    (`Store.keeps_history`)."""
    digest: str | None = None
    """Its payload digest; None for an event stored before digests were kept (schema 4)."""
    at: dt.datetime | None = None
    """Its time; None for an event stored before times were kept (schema 4)."""
    owes: str | None = None
    """From a store that keeps no outcomes: the referral code of a referrer the event owed a
    reward (`Change.owes`)."""


@dataclass(frozen=True)
class CouponCode:
    """One bulk code as the store keeps it (whose it is, once claimed, is not exported)."""

    code: str
    coupon: str
    batch: str
    created_at: dt.datetime
    claimed_at: dt.datetime | None = None


Spending = dict[str, dict[str, Decimal]]
"""Program-wide points given so far by rules with a budget: {rule: {period key: points}}."""


@dataclass(frozen=True)
class ProgramVersion:
    """A version of the program a store was opened with, and its content hash."""

    version: int
    digest: str
    """`sha256:<hex>` of the program's content (`program.digest.program_digest`)."""
    seen_at: dt.datetime
    """When a store was first opened with it."""


@dataclass(frozen=True)
class DrawWinner:
    """A winning ticket of a prize draw (tools/draws.py)."""

    customer: str
    entry: int
    """Which of the customer's entries won, from 1."""
    digest: str | None
    """The ticket's SHA-256 (hex), its place in the draw; None once the winner was erased (it was
    made from their id)."""


@dataclass(frozen=True)
class DrawRecord:
    """A prize draw's result as its first `loyalty draw --db` recorded it: what every later run
    prints, whatever the entries have become since."""

    draw: str
    closes: dt.date
    """The draw's closing day, as the program said then."""
    seed: str
    winners: tuple[DrawWinner, ...]
    """In order: first place first."""
    entries: int
    """Every entry of the draw, of every customer."""
    customers: int
    """How many customers had entries."""
    drawn_at: dt.datetime | None
    """When: the store's latest event's time then (or the `--now` the operator gave), never the
    wall clock; None for a draw from a states file, which is not recorded."""
    version: int
    """The program version it was drawn under."""


def erased_from(record: DrawRecord, customer: str, pseudonym: str) -> DrawRecord:
    """The record with `customer`'s win (if any) under their erasure's `pseudonym`, its ticket's
    hash dropped: it was made from their id (tools/erasure.py)."""
    winners = tuple(
        DrawWinner(pseudonym, won.entry, None) if won.customer == customer else won for won in record.winners
    )
    return replace(record, winners=winners)


class CustomerTransaction(ABC):
    """One customer, locked until the transaction ends; see the module docstring."""

    customer: str
    writes_state: bool = False
    """Whether the transaction makes the public state of the working state it handed out when it
    commits (to write it): the service then reads its result's state before the commit, the same
    state at no cost, so that the answer keeps it once the working state moves on (the customer's
    next event, another thread's perhaps: the SQL stores' transactions of a single event). A
    group's transactions and `RunMemoryStore`'s make none."""

    @abstractmethod
    def state(self) -> CustomerState | None:
        """The customer's state, None for a customer the store has never seen."""

    @abstractmethod
    def event(self, event: str) -> StoredEvent | None:
        """An event processed before: its stored outcome (JSON, without state), with its digest
        and time where the store keeps them; None for an event id not processed before."""

    @abstractmethod
    def budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        """The spending of these (rule, period key) budgets, locked until the transaction ends."""

    @abstractmethod
    def save(self, change: Change) -> None:
        """Write the change; it becomes visible when the transaction commits."""

    @abstractmethod
    def redeemed(self, items: Sequence[str]) -> dict[str, int]:
        """How many of each catalog item were redeemed so far, program-wide, locked until the
        transaction ends: two customers cannot both take the last one (catalog `stock`)."""

    def working(self, make: Callable[[CustomerState | None], Working]) -> Working:
        """The customer's working state (state/working.py), for the service to decide the event on
        in place (`Stream.step`); `make` makes one from the state the store holds (None: a new
        customer). Only a store whose `carries_working` is true has them; the working state counts
        as the customer's only once the transaction commits a change: one whose state is None (it
        stands for the state after), or one with a state, which it is then made to stand for."""
        raise NotImplementedError(f"{type(self).__name__} keeps no working states")

    def claim_code(self, code: str, at: dt.datetime) -> str | None:
        """Claim a bulk coupon code (tools/coupon_codes.py) for the customer: its coupon's id when
        the code is unclaimed or the customer's already; None when there is no such code or another
        customer has it. Undone with the transaction."""
        return None


class Store(ABC):
    """Customer states, ledger and processed events of one program; see the module docstring.

    A store object is used by one thread at a time; workers (threads or processes) open one each.
    """

    url: str
    program: str
    keeps_history: bool = True
    """Whether the store keeps every applied event's outcome (JSON) and every ledger row: what a
    redelivery is answered with, and what `ledger export`, `void` and `customer` read. Every store
    does but the memory store of `loyalty run` without `--db` (memory.py, `RunMemoryStore`), which
    nothing reads them from; the service builds neither for it (service.py)."""
    carries_working: bool = False
    """Whether the store holds its customers' working states (state/working.py) and the service
    decides their events on them in place (`Stream.step`, `CustomerTransaction.working`), building
    a public `CustomerState` only where one is read or written. `RunMemoryStore` and the SQL stores
    do (sql_writing.py: the public state made at each event's commit, or once per customer at a group's);
    `MemoryStore` holds public states."""
    steps_whole: bool = True
    """Whether the service's stream may decide a covered program's purchases with the whole step
    (engine/whole/, `Stream(engine, whole=…)`). The SQL stores say no: they write the public state
    at every event, and a whole state's public state is made with lists of its own, which the
    store's held lists then copy where the step in place's move them on (bench/README.md, "The
    whole step behind `Stream.step`": `?working=1` 631 → 851 µs an event after 15 purchases; and
    "SQL stores with working states: where they still cost more": 1.35-1.65× at 15, 1.85-2.3× at
    1,000)."""

    @abstractmethod
    def transaction(self, customer: str) -> AbstractContextManager[CustomerTransaction]:
        """Lock the customer and start the transaction; it commits when the block ends without an
        exception and is rolled back otherwise."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block see the store as it was at one moment, whatever other workers
        commit meanwhile: what `ledger export` reads the ledger and every balance in, so that a
        live store's books reconcile (tools/accounting.py, `read`). Nothing may be written in it."""
        yield

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit (replays): the transactions of the events inside the block are committed
        together when it ends without an exception, and all rolled back otherwise. Each event is
        still all or nothing within it: one refused changes nothing (the SQL stores write a group's
        events behind, at its commit: batch.py). The
        service keeps a transaction per event (acknowledged = durable); a replay acknowledges a
        line only once its group is committed (replay.py). The memory store has nothing to
        commit: its transactions apply at once."""
        yield

    @abstractmethod
    def state(self, customer: str) -> CustomerState | None:
        """A customer's current state (not locked), None when the store has never seen them."""

    @abstractmethod
    def customers(self) -> list[str]:
        """Every customer with a state, sorted."""

    def states(self) -> Iterator[tuple[str, CustomerState]]:
        for customer in self.customers():
            state = self.state(customer)
            if state is not None:
                yield customer, state

    @abstractmethod
    def ledger(
        self,
        *,
        until: dt.datetime | None = None,
        customer: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> Iterator[LedgerRow]:
        """Every ledger entry in the order written; with `until`, only those dated before it; with
        `customer`, only theirs; only those after the `seq` `after`, and at most `limit` of them: a
        page of the service's `…/ledger` reads the page, not the customer's whole ledger."""

    @abstractmethod
    def referrer(self, code: str, at: dt.datetime | None = None) -> str | None:
        """The customer whose referral code this is, if the store knows them; with `at`, only if
        their code was known by then (`known`)."""

    @abstractmethod
    def processed(self) -> int:
        """How many events the store has applied."""

    @abstractmethod
    def redeemed(self) -> dict[str, int]:
        """How many of each catalog item were redeemed so far (voids given back), by item id;
        an item never redeemed is absent."""

    @abstractmethod
    def versions(self) -> list[ProgramVersion]:
        """The program versions the store was opened with, oldest version first."""

    @abstractmethod
    def add_version(self, version: ProgramVersion) -> ProgramVersion:
        """Record a version's content hash unless the version is recorded already; the record
        that stands (the earlier one if there was one)."""

    @abstractmethod
    def restate_version(self, version: int, old: str, new: str) -> None:
        """Replace a version's recorded content hash `old` by `new`: the same content hashed the
        current way (versions.py); nothing if the record is no longer `old`."""

    def tiers_held(self) -> dict[str, int]:
        """How many customers hold each tier, by tier id (for the version guard: a tier a new
        version removes)."""
        held: dict[str, int] = {}
        for _, state in self.states():
            if state.tier is not None:
                held[state.tier] = held.get(state.tier, 0) + 1
        return held

    def programs(self) -> list[str]:
        """The programs whose customers the database holds, sorted: a database can hold several,
        each store object sees one (`program`)."""
        return [self.program] if self.customers() else []

    def latest_event_time(self) -> dt.datetime | None:
        """The time of the latest event the store applied (the latest by event time, not by
        arrival); None when it has applied none (or only events stored before schema 4)."""
        return None

    def erase(
        self,
        customer: str,
        pseudonym: str,
        anonymise: Callable[[CustomerState], CustomerState],
        rename: Callable[[str], str],
    ) -> CustomerState | None:
        """Erase a customer (tools/erasure.py), in one transaction: their state is replaced by
        `anonymise(state)` under `pseudonym`, their ledger rows and processed events are moved to
        the pseudonym with every event id renamed by `rename` (lots `<event>/<rule>` and rules
        `void:<event>` too), their events' outcomes emptied, their referral code retired and a draw
        they won kept under the pseudonym (`erased_from`). The state erased; None when the store
        has never seen the customer (nothing changed)."""
        raise NotImplementedError(f"{type(self).__name__} cannot erase customers")

    # -- prize draws (tools/draws.py) -----------------------------------------------------------------
    def drawn(self, draw: str) -> DrawRecord | None:
        """The draw's recorded result; None when it was never drawn from this store."""
        raise NotImplementedError(f"{type(self).__name__} keeps no draws")

    def record_draw(self, draw: str, decide: Callable[[], DrawRecord]) -> tuple[DrawRecord, bool]:
        """The draw's result, recorded once: the one recorded before (False), or else `decide()`'s,
        recorded in the transaction its reads of the entries (through this store) are made in
        (True). Two processes at once: one records, the other gets its record."""
        raise NotImplementedError(f"{type(self).__name__} keeps no draws")

    # -- bulk coupon codes (tools/coupon_codes.py) ---------------------------------------------------
    def add_coupon_codes(self, coupon: str, batch: str, codes: Sequence[str], at: dt.datetime) -> list[str]:
        """Add codes for a coupon, all or none: the codes that exist already (nothing added then)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no coupon codes")

    def coupon_codes(self, coupon: str | None = None) -> list[CouponCode]:
        """The bulk codes, of one coupon or all, in the order they were added."""
        return []

    # -- API keys of the HTTP service (keys.py): the database's, whatever `program` is ------------
    @abstractmethod
    def add_key(self, key: ApiKey) -> None:
        """Keep a new key (its digest, never the key)."""

    @abstractmethod
    def api_keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""

    def api_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, revoked or not; None if there is none."""
        return next((key for key in self.api_keys() if key.id == key_id), None)

    @abstractmethod
    def revoke_key(self, key_id: str, at: dt.datetime) -> bool:
        """Revoke a key from `at` on; False when there is no such key or it was revoked before."""

    def close(self) -> None:  # noqa: B027 (a memory store has nothing to release)
        """Release the connection; the store is not used afterwards."""

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def known(since: dt.datetime | None, at: dt.datetime | None) -> bool:
    """Whether a referral code known from `since` (None: since ever) was known at `at` (None: at
    any time). Decided by the events' times, not by when they were processed: a referee's
    purchase rewards a referrer whose first event is before it, on every path alike (one process,
    N workers, the service), whichever of the two was stored first. Strictly before: two events
    at one moment have no order but their lines', which N workers do not keep across customers."""
    return since is None or at is None or since < at


def rename_lot(lot: str, rename: Callable[[str], str]) -> str:
    """A lot id `<event>/<rule>` with its event renamed."""
    event, slash, rule = lot.partition("/")
    return rename(event) + slash + rule


def rename_rule(rule: str, rename: Callable[[str], str]) -> str:
    """A ledger rule with the event id it names renamed (a void's `void:<event>`)."""
    return "void:" + rename(rule[5:]) if rule.startswith("void:") else rule
