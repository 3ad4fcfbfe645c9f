"""The memory stores: dry-runs, tests, the HTTP service without a database (`MemoryStore`), and
`loyalty run` without `--db` (`RunMemoryStore`, which keeps only what a run reads back). Gone
when the process ends.

Transactions are real all the same: a change is staged and applied only when the block ends
without an exception, under one lock, so the store behaves like the database stores in the
shared store tests (tests/store/). Times come back as from the database stores, in UTC (a ledger
row's, an applied event's, the latest event's): the same history reads the same in every store.
"""

from __future__ import annotations

import datetime as dt
import itertools
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from decimal import Decimal
from types import TracebackType

from rules_engine.state.customer import CustomerState
from rules_engine.state.working import Working
from rules_engine.store.base import (
    Change,
    CouponCode,
    CustomerTransaction,
    DrawRecord,
    LedgerRow,
    ProgramVersion,
    Spending,
    Store,
    StoredEvent,
    erased_from,
    known,
    rename_lot,
    rename_rule,
)
from rules_engine.store.keys import ApiKey


def _in_utc(moment: dt.datetime) -> dt.datetime:
    """`moment` as the database stores give it back: in UTC."""
    return moment.astimezone(dt.UTC)


class MemoryStore(Store):
    def __init__(self, program: str) -> None:
        self.url = "memory:"
        self.program = program
        self._lock = threading.RLock()
        self._states: dict[str, CustomerState] = {}
        self._outcomes: dict[tuple[str, str], StoredEvent] = {}
        self._latest: dt.datetime | None = None
        self._ledger: list[LedgerRow] = []
        self._spent: dict[tuple[str, str], Decimal] = {}
        self._codes: dict[str, tuple[str, dt.datetime | None]] = {}
        """Referral code → (customer, known since: `Change.at`)."""
        self._keys: dict[str, ApiKey] = {}
        self._codes_of: dict[str, tuple[CouponCode, str | None]] = {}
        self._redeemed: dict[str, int] = {}
        self._versions: dict[int, ProgramVersion] = {}
        self._draws: dict[str, DrawRecord] = {}

    def transaction(self, customer: str) -> AbstractContextManager[CustomerTransaction]:
        return _Staged(self, customer)

    def _apply(self, customer: str, change: Change, working: Working | None) -> None:
        self._hold(customer, change.state, working)
        self._keep(customer, change)
        for rule, period, points in change.spent:
            self._spent[rule, period] = self._spent.get((rule, period), Decimal(0)) + points
        if change.referral_code is not None:
            self._codes.setdefault(change.referral_code, (customer, change.at))
        for item, count in change.taken:
            self._redeemed[item] = self._redeemed.get(item, 0) + count

    def _hold(self, customer: str, state: CustomerState | None, working: Working | None) -> None:
        """Hold the customer's state after a change."""
        assert state is not None  # a state per change: this store carries no working states
        self._states[customer] = state

    def _keep(self, customer: str, change: Change) -> None:
        """Keep what the store keeps of an event: its outcome, and the ledger rows."""
        if change.event is not None and change.outcome is not None:
            at = None if change.at is None else _in_utc(change.at)
            self._outcomes[customer, change.event] = StoredEvent(change.outcome, change.digest, at)
            self._later(change.at)
        for entry in change.ledger:
            if entry.at.utcoffset():
                entry = entry.model_copy(update={"at": _in_utc(entry.at)})
            self._ledger.append(LedgerRow(len(self._ledger) + 1, customer, entry))

    def _later(self, at: dt.datetime | None) -> None:
        if at is not None and (self._latest is None or at > self._latest):
            self._latest = at

    def _event(self, customer: str, event: str) -> StoredEvent | None:
        return self._outcomes.get((customer, event))

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self._lock:  # reentrant: the reads inside take it again
            yield

    def state(self, customer: str) -> CustomerState | None:
        with self._lock:
            return self._states.get(customer)

    def customers(self) -> list[str]:
        with self._lock:
            return sorted(self._states)

    def ledger(
        self,
        *,
        until: dt.datetime | None = None,
        customer: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> Iterator[LedgerRow]:
        with self._lock:
            rows = list(self._ledger)
        chosen = (
            row
            for row in rows
            if row.seq > after
            and (until is None or row.entry.at < until)
            and (customer is None or row.customer == customer)
        )
        return iter(list(itertools.islice(chosen, limit)))

    def referrer(self, code: str, at: dt.datetime | None = None) -> str | None:
        with self._lock:
            found = self._codes.get(code)
        return found[0] if found is not None and known(found[1], at) else None

    def processed(self) -> int:
        with self._lock:
            return len(self._outcomes)

    def latest_event_time(self) -> dt.datetime | None:
        with self._lock:
            return None if self._latest is None else _in_utc(self._latest)

    def redeemed(self) -> dict[str, int]:
        with self._lock:
            return {item: count for item, count in sorted(self._redeemed.items()) if count}

    def versions(self) -> list[ProgramVersion]:
        with self._lock:
            return [self._versions[number] for number in sorted(self._versions)]

    def add_version(self, version: ProgramVersion) -> ProgramVersion:
        with self._lock:
            return self._versions.setdefault(version.version, version)

    def restate_version(self, version: int, old: str, new: str) -> None:
        with self._lock:
            kept = self._versions.get(version)
            if kept is not None and kept.digest == old:
                self._versions[version] = replace(kept, digest=new)

    def erase(
        self,
        customer: str,
        pseudonym: str,
        anonymise: Callable[[CustomerState], CustomerState],
        rename: Callable[[str], str],
    ) -> CustomerState | None:
        with self._lock:
            state = self._states.pop(customer, None)
            if state is None:
                return None
            self._states[pseudonym] = anonymise(state)
            for index, row in enumerate(self._ledger):
                if row.customer == customer:
                    entry = row.entry.model_copy(
                        update={
                            "event": rename(row.entry.event),
                            "lot": rename_lot(row.entry.lot, rename),
                            "rule": rename_rule(row.entry.rule, rename),
                        }
                    )
                    self._ledger[index] = LedgerRow(row.seq, pseudonym, entry)
            for whose, event in [key for key in self._outcomes if key[0] == customer]:
                kept = self._outcomes.pop((whose, event))
                self._outcomes[pseudonym, rename(event)] = StoredEvent("{}", None, kept.at)
            # their referral code retired, kept by the pseudonym (tools/erasure.py)
            for code, (referrer, since) in list(self._codes.items()):
                if referrer == customer:
                    self._codes[code] = (pseudonym, since)
            for code, (kept_code, who) in list(self._codes_of.items()):
                if who == customer:
                    self._codes_of[code] = (kept_code, pseudonym)
            for draw, record in self._draws.items():
                self._draws[draw] = erased_from(record, customer, pseudonym)
            return state

    def drawn(self, draw: str) -> DrawRecord | None:
        with self._lock:
            return self._draws.get(draw)

    def record_draw(self, draw: str, decide: Callable[[], DrawRecord]) -> tuple[DrawRecord, bool]:
        with self._lock:  # reentrant: `decide` reads the states under it
            kept = self._draws.get(draw)
            if kept is not None:
                return kept, False
            record = self._draws[draw] = _in_utc_drawn(decide())
            return record, True

    def add_coupon_codes(self, coupon: str, batch: str, codes: Sequence[str], at: dt.datetime) -> list[str]:
        with self._lock:
            there = sorted(code for code in codes if code in self._codes_of)
            if not there:
                for code in codes:
                    self._codes_of[code] = (CouponCode(code, coupon, batch, at), None)
            return there

    def coupon_codes(self, coupon: str | None = None) -> list[CouponCode]:
        with self._lock:
            return [code for code, _ in self._codes_of.values() if coupon is None or code.coupon == coupon]

    def add_key(self, key: ApiKey) -> None:
        with self._lock:
            self._keys[key.id] = key

    def api_keys(self) -> list[ApiKey]:
        with self._lock:
            return list(self._keys.values())

    def revoke_key(self, key_id: str, at: dt.datetime) -> bool:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None or key.revoked_at is not None:
                return False
            self._keys[key_id] = replace(key, revoked_at=at)
            return True


def _in_utc_drawn(record: DrawRecord) -> DrawRecord:
    """A draw's record with its time as the database stores give it back: in UTC."""
    return record if record.drawn_at is None else replace(record, drawn_at=_in_utc(record.drawn_at))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_MICROS = struct.Struct(">q")


class RunMemoryStore(MemoryStore):
    """The memory store of `loyalty run` without `--db`: what the run needs, not every outcome.

    It keeps the customers' states and what crosses customers (referral codes, budget spending,
    stock, bulk coupon codes) as the memory store does, and for each applied event only what a
    redelivery of it needs: its payload digest (a reused id with another payload is RE443), its
    time (in UTC, as the database stores give it back) and the referral code of a referrer it owed
    a reward (given when the event comes again, once the referrer is known). It keeps neither the
    outcomes' JSON (~3.6 KB an event) nor the ledger rows: nothing in a run reads them back, the
    run's totals come from the events' results, and a stream of a million events held them all.

    A redelivered event is answered with what the engine answers for an event it has processed
    (`Engine.duplicate`: no effects, the trace says "duplicate"), with the reward it owed, not with
    its original outcome (service.py): `loyalty run` prints "already processed" all the same.
    `keeps_history` is False: the service builds no outcome JSON and no ledger rows for it.

    It holds each customer's state as a `Working` (state/working.py; `carries_working`): the service
    decides the customer's next event on it in place (`Stream.step`), and the public
    `CustomerState` is made from it only where one is read (`state`: `--state-out`,
    `--by-customer`, a redelivery's answer). A change that brings a state of its own (an event the
    service decided on the public state, an import, `advance`) is held as that state until the
    customer's next step makes a working state of it. What a rollback cannot undo: the step changes
    the working state in place, so a transaction interrupted between the step and its end (a second
    Ctrl-C in those microseconds: the run stops there, "interrupted at once") leaves that customer's
    state with the event applied, and the event not counted in the totals nor recorded as seen.
    """

    keeps_history = False
    carries_working = True

    def __init__(self, program: str) -> None:
        super().__init__(program)
        self._working: dict[str, Working] = {}
        """The customers whose state is a working state (the others' is in `_states`)."""
        self._seen: dict[str, dict[str, bytes]] = {}
        """By customer and event id: the payload digest (32 bytes) and the time (8, microseconds
        since 1970 UTC), one bytes object: ~75 bytes an event where a tuple of the three took ~180."""
        self._owes: dict[tuple[str, str], str] = {}
        """The referral code an event owed a reward to, for the few events that owed one."""
        self._applied = 0

    def _keep(self, customer: str, change: Change) -> None:
        if change.event is None:
            return
        record = b"" if change.digest is None else bytes.fromhex(change.digest)
        if change.at is not None:
            record += _MICROS.pack((change.at - _EPOCH) // _MICROSECOND)
        seen = self._seen.get(customer)
        if seen is None:
            seen = self._seen[customer] = {}
        if change.event not in seen:
            self._applied += 1
        seen[change.event] = record
        if change.owes is not None:
            self._owes[customer, change.event] = change.owes
        self._later(change.at)

    def _event(self, customer: str, event: str) -> StoredEvent | None:
        record = self._seen.get(customer, {}).get(event)
        if record is None:
            return None
        digest = record[:32].hex() if len(record) >= 32 else None
        at = None
        if len(record) % 32:  # a time after the digest (or alone)
            at = _EPOCH + dt.timedelta(microseconds=_MICROS.unpack(record[-8:])[0])
        return StoredEvent("", digest, at, self._owes.get((customer, event)))

    def transaction(self, customer: str) -> AbstractContextManager[CustomerTransaction]:
        return _Carried(self, customer)

    def _hold(self, customer: str, state: CustomerState | None, working: Working | None) -> None:
        """The state a change brought, or (None) the working state the transaction gave, which the
        step changed in place; the customer is in one of the two dicts, never both."""
        if state is None:
            assert working is not None, "a change without a state needs the transaction's working state"
            self._working[customer] = working
            self._states.pop(customer, None)
        else:
            self._states[customer] = state
            self._working.pop(customer, None)

    def _state(self, customer: str) -> CustomerState | None:
        working = self._working.get(customer)
        return self._states.get(customer) if working is None else working.public()

    def state(self, customer: str) -> CustomerState | None:
        with self._lock:
            return self._state(customer)

    def customers(self) -> list[str]:
        with self._lock:
            return sorted(self._states.keys() | self._working.keys())

    def processed(self) -> int:
        with self._lock:
            return self._applied

    def ledger(
        self,
        *,
        until: dt.datetime | None = None,
        customer: str | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> Iterator[LedgerRow]:
        raise NotImplementedError("the memory store of `loyalty run` keeps no ledger rows: run with --db")

    def erase(
        self,
        customer: str,
        pseudonym: str,
        anonymise: Callable[[CustomerState], CustomerState],
        rename: Callable[[str], str],
    ) -> CustomerState | None:
        raise NotImplementedError("the memory store of `loyalty run` erases no customers")


class _Staged(CustomerTransaction, AbstractContextManager["_Staged"]):
    """One transaction: the store's lock held from `__enter__`, the change applied in `__exit__`
    unless the block raised (a class, not a generator's context manager: a few µs an event)."""

    def __init__(self, store: MemoryStore, customer: str) -> None:
        self.store = store
        self.customer = customer
        self.change: Change | None = None
        self.claimed: dict[str, tuple[CouponCode, str | None]] = {}
        self.carried: Working | None = None
        """The working state `working` gave (`RunMemoryStore`)."""

    def __enter__(self) -> _Staged:
        self.store._lock.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            if kind is None and self.change is not None:
                self.store._apply(self.customer, self.change, self.carried)
                self.store._codes_of.update(self.claimed)
        finally:
            self.store._lock.release()

    def state(self) -> CustomerState | None:
        return self.store._states.get(self.customer)

    def event(self, event: str) -> StoredEvent | None:
        return self.store._event(self.customer, event)

    def budgets(self, wanted: Sequence[tuple[str, str]]) -> Spending:
        spent: Spending = {}
        for rule, period in wanted:
            spent.setdefault(rule, {})[period] = self.store._spent.get((rule, period), Decimal(0))
        return spent

    def save(self, change: Change) -> None:
        self.change = change

    def redeemed(self, items: Sequence[str]) -> dict[str, int]:
        # The store's lock is held for the whole transaction: nobody else can take one meanwhile.
        return {item: self.store._redeemed.get(item, 0) for item in items}

    def claim_code(self, code: str, at: dt.datetime) -> str | None:
        kept = self.claimed.get(code) or self.store._codes_of.get(code)
        if kept is None:
            return None
        bulk, who = kept
        if who is None:
            self.claimed[code] = (replace(bulk, claimed_at=at), self.customer)
            return bulk.coupon
        return bulk.coupon if who == self.customer else None


class _Carried(_Staged):
    """A transaction of `RunMemoryStore`: the customer's working state for the step (`working`),
    which counts as theirs once a change without a state commits."""

    store: RunMemoryStore

    def state(self) -> CustomerState | None:
        return self.store._state(self.customer)

    def working(self, make: Callable[[CustomerState | None], Working]) -> Working:
        if self.carried is None:
            held = self.store._working.get(self.customer)
            self.carried = make(self.store._states.get(self.customer)) if held is None else held
        return self.carried
