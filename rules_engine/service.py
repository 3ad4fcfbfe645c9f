"""An engine and a store together: what a service calls for every event.

    from rules_engine.engine.evaluator import Engine
    from rules_engine.service import Loyalty
    from rules_engine.store import open_store

    engine = Engine.from_file("programs/coffee-club.yaml", secret=b"…")   # once
    loyalty = Loyalty(engine, open_store("loyalty.db", engine.program.program))  # once per worker
    outcome = loyalty.process(event)                                       # per event

Each event is one store transaction (store/base.py): the event id is checked, the customer's
state and the budgets are read, the engine decides, and the new state, ledger entries, outcome
and budget spending are written together. A redelivered event id gets its original outcome back
(with the customer's current state) and changes nothing. When a referee's first qualifying
purchase rewards their referrer, the referrer's side is processed right after, in its own
transaction, as the event `<event id>:referrer:<referee>` — exactly once, like any event.

Three checks keep time and ids honest (docs/stores.md, "Time and event ids"):

- the customer's clock never moves backwards: an event older than the customer's latest is
  refused by the engine (RE440, engine/clock.py), a referrer's reward excepted;
- the horizon: an event dated further ahead than `horizon` (default a day) of the reference — `now`
  when given, the store's latest event time otherwise — is refused (RE441), and so is an
  `advance` beyond it (RE442): a typo'd year would otherwise expire points for good. A store with
  no events and no `now` has no reference: its first event is taken as it is;
- an event id seen before with a different payload (its digest, `canonical.event_digest`) is another
  event reusing the id: refused (RE443), the first one stands. The same payload is a duplicate, as
  always; an event stored before digests were kept (schema 4) counts as matching.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules_engine import jsonio
from rules_engine import service_desk as desk
from rules_engine.dsl.ast import format_duration
from rules_engine.engine import processed
from rules_engine.engine.canonical import event_digest
from rules_engine.engine.evaluator import BudgetSnapshot, Engine
from rules_engine.engine.events import AnyEvent, Purchase, fixed_offset
from rules_engine.engine.mechanics.referral import REFERRER, referral_code, referrer_event_id
from rules_engine.engine.outcome import Notification, Outcome, PointsChange, TierChange
from rules_engine.engine.outcome_json import OutcomeTexts, UnexpectedValueError
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.run import ReferrerRecord
from rules_engine.engine.stream import Stream
from rules_engine.errors import Diagnostic, EventError, StoreError, path_text
from rules_engine.state.customer import CustomerState, IssuedCoupon
from rules_engine.store.base import Change, CustomerTransaction, Store, StoredEvent
from rules_engine.store.memory import MemoryStore
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.coupon_codes import normalized
from rules_engine.tools.erasure import Erasure, anonymised, is_pseudonym, new_pseudonym, renamer
from rules_engine.tools.voids import Void

DEFAULT_HORIZON = dt.timedelta(days=1)
"""How far ahead of the reference an event (or `advance`) may be dated."""

Now = dt.datetime | Callable[[], dt.datetime] | None
"""The current time for the horizon: a moment, a clock to read (a service passes one that reads
the system clock), or None to measure from the store's latest event alone."""


Decided = Result | Outcome
"""What the service has of an event: the engine's `Result` of an event applied now (its `Outcome`
built only when asked), or the `Outcome` a store kept, for an event processed before."""


@dataclass(frozen=True)
class Handled:
    """What processing one event did. `outcome` and `referrer` are the pydantic outcomes, built
    on first read; `decided` and `referred` are what the service has (`Decided`), for a caller
    that reads only the totals, the ledger entries or the state (`loyalty run -q`)."""

    decided: Decided
    duplicate: bool
    """The event id was processed before: `outcome` is the original one (from a store that keeps
    no outcomes, the engine's answer for a duplicate: `RunMemoryStore`), nothing was applied."""
    referred: Decided | None = None
    """The referrer's reward, when this event qualified a referral; for a redelivered event, the
    reward's original outcome (as for `decided`)."""
    unknown_referrer: str | None = None
    """The referral code, when this event qualified a referral whose code names no customer the
    store knew at the qualifying purchase's time (store/base.py `known`): the referrer's reward is
    owed but could not be given. Once the referrer is known (an event of theirs dated before the
    purchase, or `put`), delivering this event again gives it (once)."""
    referrer_applied: bool = False
    """The referrer's reward was applied by this call. False when it was given before; true for
    a redelivered event whose first delivery died before the reward (or found no referrer)."""
    answered: str | None = None
    """The outcome's JSON as the service answers it (without the trace), written with the text
    the store keeps when the `Loyalty` was given `texts` (engine/outcome_json.py `OutcomeTexts`);
    None otherwise."""

    @property
    def outcome(self) -> Outcome:
        """The event's outcome (the original one for an event processed before)."""
        return _outcome(self.decided)

    @property
    def referrer(self) -> Outcome | None:
        """The referrer's reward (its outcome), when this event qualified a referral."""
        return None if self.referred is None else _outcome(self.referred)


class Loyalty:
    """Processes events against a store; see the module docstring. One per worker (thread or process)."""

    def __init__(
        self,
        engine: Engine,
        store: Store,
        *,
        horizon: dt.timedelta | None = DEFAULT_HORIZON,
        now: Now = None,
        texts: OutcomeTexts | None = None,
    ) -> None:
        """Args:
        engine: the program's engine.
        store: where states, ledger and processed events live.
        horizon: how far ahead of the reference an event or `advance` may be dated; None: no limit.
        now: the current time, if known (see `Now`): the reference of the horizon; without it,
            the store's latest event time is.
        texts: for a caller that answers with the outcome's JSON too (the HTTP service): the
            stored outcome and that answer written in one pass, the answer kept on the `Handled`
            (`Handled.answered`).
        """
        if store.program != engine.program.program:
            raise StoreError(
                [
                    Diagnostic(
                        "RE604",
                        f"the store was opened for program {store.program!r}, the engine runs "
                        f"{engine.program.program!r}",
                        hint="open the store with the engine's program id",
                    )
                ]
            )
        self.engine = engine
        self.store = store
        self.horizon = horizon
        self.now = now
        self.texts = texts
        self._codes = engine.program.referral is not None
        self._fraud = engine.program.referral is not None and engine.program.referral.fraud is not None
        self._stream = Stream(engine, whole=store.steps_whole)
        self._budgeted = bool(engine.plan.budgeted)  # no budget: no keys to work out per event

    @classmethod
    def in_memory(cls, engine: Engine, *, horizon: dt.timedelta | None = None, now: Now = None) -> Loyalty:
        """With a memory store: for dry-runs, tests and replays that keep nothing (so no horizon
        unless asked: a replay of a sparse file should just run)."""
        return cls(engine, MemoryStore(engine.program.program), horizon=horizon, now=now)

    def process(self, event: AnyEvent | Mapping[str, Any], *, explain: bool = False) -> Outcome:
        """The event's outcome (the original one for an event id seen before).

        Raises:
            EventError: the event is malformed or refused by the engine (RE440: older than the
                customer's latest event), dated beyond the horizon (RE441), or its id was applied
                before with another payload (RE443); nothing was written.
            StoreError: the store failed (RE605); nothing of this event was written, retry it.
        """
        return self._handle(event, explain, built=True).outcome

    def handle(self, event: AnyEvent | Mapping[str, Any], *, explain: bool = False) -> Handled:
        """Like `process`, and says whether the event was a duplicate and what the referrer got."""
        return self._handle(event, explain, built=False)

    def _handle(self, event: AnyEvent | Mapping[str, Any], explain: bool, *, built: bool) -> Handled:
        """`handle`; `built`: the caller reads the event's `Outcome` (`process`), so it is built
        before the store writes its JSON, which is then the built outcome's (one pass in pydantic's
        serializer) rather than written from the result besides (engine/outcome_json.py)."""
        if isinstance(event, Mapping):  # a caller's data; text was read by `jsonio.loads`
            _refuse_nul(event)
        parsed = parse_event(event)
        decided, duplicate, answered = self._apply(parsed, explain, built=built)
        referrer = None
        unknown = None
        applied = False
        owed = _owed(decided)
        if owed is not None:
            # Also for a redelivery: a worker that died between the referee's transaction and the
            # referrer's leaves the reward owed, and the referrer's event id keeps it once.
            rewarded = self._reward_referrer(decided) if self.rewards_referrers() else None
            if rewarded is None:
                unknown = owed
            else:
                referrer, given_before = rewarded
                applied = not given_before
        return Handled(decided, duplicate, referrer, unknown, applied, answered)

    def _apply(
        self, event: AnyEvent, explain: bool, *, owed: bool = False, built: bool = False
    ) -> tuple[Decided, bool, str | None]:
        """One event in one transaction: what decided it, whether it was a duplicate, and the
        answer's outcome written with the stored one (`texts`), if it was. `owed`: a referrer's
        reward this service derived from a referee's event that passed the horizon, so it is not
        checked again (a `referral_reward` sent from outside is an event like any other, and is).

        The event's digest is computed only when it is read (a redelivery) or written (an event
        applied); the outcome's JSON and the ledger rows only for a store that keeps them."""
        with self.store.transaction(event.customer) as transaction:
            stored = transaction.event(event.id)
            if stored is None and not explain and self._steps(event):
                return self._step(transaction, event, explain, owed, built)
            before = transaction.state()
            if stored is not None:
                if stored.digest is not None and stored.digest != event_digest(event):
                    raise EventError([_reused(event, stored)])
                current = before or CustomerState(customer=event.customer)
                if not stored.outcome:  # a store that keeps no outcomes (`RunMemoryStore`)
                    answer = self.engine.duplicate(event, current)
                    return dataclasses.replace(answer, referral_owed=stored.owes), True, None
                return _stored_outcome(json.loads(stored.outcome), current), True, None
            if not owed:
                self._check_horizon(event.time, event)
            wanted = self.engine.budget_keys(event)
            spent = transaction.budgets(wanted)
            redeemed = transaction.redeemed(self.engine.stock_keys(event))
            given = (
                self._bulk_coupons(transaction, event, before)
                if isinstance(event, Purchase) and event.coupons
                else before
            )
            snapshot = BudgetSnapshot(spent, redeemed, self._referrer_record(event, before))
            # Asked before the engine runs: the engine's new state takes the set of `before`'s ids
            # over (engine/processed.py), so a look after it would build the set again, 1,000 ids.
            remembered = before is not None and processed.seen(before.processed, event.id)
            result = self.engine.process(event, given, explain=explain, budgets=snapshot)
            if remembered:
                return result, True, None  # the state itself remembers it (a state imported with history)
            if built:
                result.outcome()
            change, answered = self._change(event, before is None, result, result.state, wanted, built)
            transaction.save(change)
        return result, False, answered

    def _step(
        self, transaction: CustomerTransaction, event: AnyEvent, explain: bool, owed: bool, built: bool
    ) -> tuple[Decided, bool, str | None]:
        """`_apply`'s new event, decided on the customer's working state in place (`Stream.step`),
        for a store that carries them: no public `CustomerState` is read or made here. The same
        checks and the same change as `_apply`'s, but for the state, which the working state now
        stands for (a change without one)."""
        if not owed:
            self._check_horizon(event.time, event)
        wanted = self.engine.budget_keys(event) if self._budgeted else []
        spent = transaction.budgets(wanted) if wanted else {}
        stock = self.engine.stock_keys(event)
        redeemed = transaction.redeemed(stock) if stock else {}
        working = transaction.working(self._stream.working)
        snapshot = BudgetSnapshot(spent, redeemed, None)
        if event.id in working.seen:  # the state itself remembers it (a state imported with history)
            return self.engine.process(event, working.public(), explain=explain, budgets=snapshot), True, None
        new = working.customer_id is None  # not `customer`: that would make the compact parts
        result = self._stream.step(event, working, budgets=snapshot)
        if transaction.writes_state:
            result.state  # noqa: B018 (made now, kept by the result: `CustomerTransaction.writes_state`)
        if built:
            result.outcome()
        change, answered = self._change(event, new, result, None, wanted, built)
        transaction.save(change)
        return result, False, answered

    def _steps(self, event: AnyEvent) -> bool:
        """Whether `_apply` decides a new event on the working state (`_step`): with a store that
        carries working states, for every event but the few that need the public state before it
        (a purchase presenting coupons, which may claim bulk codes; one of a program whose referral
        fraud checks read the referrer's record). An event to explain is not asked about: the step
        decides without the explaining path."""
        if not self.store.carries_working:
            return False
        return not (isinstance(event, Purchase) and (event.coupons or self._fraud))

    def _bulk_coupons(
        self, transaction: CustomerTransaction, event: AnyEvent, state: CustomerState | None
    ) -> CustomerState | None:
        """The state with the bulk coupon codes the event presents (tools/coupon_codes.py) claimed
        for the customer and issued to them now, for the engine to decide on as any coupon; codes
        the customer holds already, unknown codes and other customers' are left to the engine."""
        held = {coupon.code.upper() for coupon in state.coupons} if state is not None else set()
        issued = []
        for presented in getattr(event, "coupons", ()):
            code = normalized(presented)
            if code in held:
                continue
            kind = transaction.claim_code(code, event.time)
            definition = next((c for c in self.engine.program.coupons if c.id == kind), None)
            if definition is None:
                continue
            held.add(code)
            issued.append(
                IssuedCoupon(
                    code=code,
                    coupon=definition.id,
                    issued_at=event.time,
                    expires_at=event.time + definition.valid_for,
                )
            )
        if not issued:
            return state
        current = state or CustomerState(customer=event.customer)
        return current.model_copy(update={"coupons": [*current.coupons, *issued]})

    def reference(self) -> tuple[dt.datetime, str] | None:
        """The moment the horizon is measured from and what it is (`now` or the store's latest
        event); None when neither is known (an empty store, no `now`)."""
        now = self.now() if callable(self.now) else self.now
        if now is not None and now.utcoffset() is None:
            raise EventError([Diagnostic("RE410", "now: the time needs a timezone offset", hint="add one")])
        if now is not None:  # the real present: events accepted ahead of it never move it on
            return fixed_offset(now), "now"
        latest = self.store.latest_event_time()
        return None if latest is None else (latest, "the store's latest event")

    def _check_horizon(self, moment: dt.datetime, event: AnyEvent | None, operation: str = "advance") -> None:
        """Raise RE441 (an event) or RE442 (an advance, or the desk's `operation`) when `moment` is
        beyond the horizon."""
        if self.horizon is None or moment.utcoffset() is None:  # naive: the engine refuses it (RE410)
            return
        reference = self.reference()
        if reference is None or moment <= reference[0] + self.horizon:
            return
        at, what = reference
        ahead = f"more than {format_duration(self.horizon)} after {what} ({at.isoformat()})"
        hint = (
            "check the date for a typo; if it is right (a first load, a shop closed for days), give "
            "the current time (--now) or a longer horizon (--horizon 7d, or none)"
        )
        if event is None:
            message = f"{operation}: {moment.isoformat()} is {ahead}: refused, nothing changed"
            raise EventError([Diagnostic("RE442", message, hint=hint)])
        message = f"event {event.id}: its time {moment.isoformat()} is {ahead}: refused, nothing applied"
        raise EventError([Diagnostic("RE441", message, hint=hint, path=("time",))])

    def _change(
        self,
        event: AnyEvent,
        new: bool,
        result: Result,
        state: CustomerState | None,
        wanted: list[tuple[str, str]],
        built: bool,
    ) -> tuple[Change, str | None]:
        """What the event changes in the store (`new`: the customer's first; `state`: the state
        after it, None when the store's working state stands for it), and the answer's outcome
        when written with the stored one (`texts`; not when the outcome is `built`: its JSON is
        then pydantic's, in one pass). The outcome's JSON is written here only for a store that
        keeps it, to answer a redelivery with."""
        spent: list[tuple[str, str, Decimal]] = []
        if wanted:
            given = {rule: Decimal(0) for rule, _ in wanted}
            for award in result.awards:
                if award.rule in given:
                    given[award.rule] += award.points
            spent = [(rule, key, given[rule]) for rule, key in wanted if given[rule]]
        # a return gives its awards' points back to the budgets they were spent from
        spent += [(r.rule, r.period, -r.points) for r in result.budgets_released]
        keeps = self.store.keeps_history
        outcome = answered = None
        if keeps:
            outcome, answered = self._outcome_texts(result) if not built else (result.stored_json(), None)
        change = Change(
            state=state,
            ledger=result.new_ledger_entries if keeps else (),
            event=event.id,
            outcome=outcome,
            spent=spent,
            referral_code=self._code(event.customer) if new else None,
            digest=event_digest(event),
            at=event.time,
            taken=[(item, 1) for item in self.engine.redeemed_items(event)],
            owes=result.referral_owed,
        )
        return change, answered

    def _outcome_texts(self, result: Result) -> tuple[str, str | None]:
        """The outcome's JSON as the store keeps it (`Result.stored_json`) and, with `texts`, as
        the service answers it, both written in one pass unless something in it is written apart."""
        if self.texts is not None:
            try:
                return self.texts.write(result)
            except UnexpectedValueError:  # each written its own way
                pass
        return result.stored_json(), None

    def _referrer_record(self, event: AnyEvent, state: CustomerState | None) -> ReferrerRecord | None:
        """What the referral's fraud checks read of the referrer of a referred customer's purchase
        (their fingerprints, when they were rewarded), read from the store without locking them:
        the referrer's own transaction checks `velocity` again under their lock."""
        settings = self.engine.program.referral
        if settings is None or settings.fraud is None or state is None or not isinstance(event, Purchase):
            return None
        if state.referred_with is None or state.referral_qualified_at is not None:
            return None
        referrer = self.store.referrer(state.referred_with, event.time)
        kept = self.store.state(referrer) if referrer is not None else None
        if referrer is None or kept is None:
            return None
        return ReferrerRecord(referrer, kept.fingerprints, kept.referrals_rewarded)

    def _code(self, customer: str) -> str | None:
        if not self._codes:
            return None
        return referral_code(self.engine.program.program, customer, self.engine.secret)

    def rewards_referrers(self) -> bool:
        """Whether this call gives a referrer the reward the event owes them. Always, but for a
        caller that delivers the event again once every event before it is applied
        (replay_worker.py), so that the reward is not given before the referrer's own earlier
        events, which it would refuse (RE440: it moves their clock on to the purchase's time): the
        other deliveries say it is owed (`Handled.unknown_referrer`), as for an unknown referrer."""
        return True

    def _reward_referrer(self, outcome: Decided) -> tuple[Decided | None, bool] | None:
        """The reward the outcome owes a referrer (`effects.referral_owed`, their code) and whether
        it was given before; None if no customer of the store had the code at the qualifying
        purchase's time (store/base.py `known`); no reward, as given before, if the referrer was
        erased (the code is retired, kept by their pseudonym)."""
        code = _owed(outcome)
        qualified = outcome.state.referral_qualified_at
        referrer = self.store.referrer(code, qualified) if code else None
        if referrer is None:
            return None
        if is_pseudonym(referrer):  # erased: owed nothing more (tools/erasure.py)
            return None, True
        event = {
            "id": referrer_event_id(outcome.customer, outcome.event),
            "type": "referral_reward",
            "customer": referrer,
            "time": qualified,
            "referee": outcome.customer,
            "qualifying_event": outcome.event,
        }
        decided, given_before, _ = self._apply(parse_event(event), explain=False, owed=True)
        return decided, given_before

    def put(self, customer: str, state: CustomerState) -> None:
        """Store a customer's state as it is (an import, a migration from another system)."""
        with self.store.transaction(customer) as transaction:
            before = transaction.state()
            code = self._code(customer) if before is None else None
            transaction.save(Change(state=state, ledger=desk.opening(before, state), referral_code=code))

    def adjust(self, adjustment: Adjustment) -> desk.Booked[Adjustment]:
        """A support desk's credit or debit (tools/adjustments.py), in one transaction, exactly once
        by its id; (the adjustment as applied, whether it was applied before, the state it saved).
        Time passes first (expiry, pending points) up to its moment, as `advance` does: a moment
        beyond the horizon is refused as an advance's (a typo'd year would expire points for good).

        Raises:
            EventError: RE432 a debit of more than is spendable, RE448 a fraction of a point, RE449
                more than 15 digits, RE443 the id was used before for something else, RE442 its
                time beyond the horizon; nothing written.
            StoreError: RE606 the store has never seen the customer.
        """
        _given(adjustment, Adjustment, "adjust")
        self._check_horizon(adjustment.at, None, f"adjustment {adjustment.id}")
        return desk.adjust(self.engine, self.store, adjustment)

    def void(self, void: Void) -> desk.Booked[Void]:
        """Undo what one applied event did (tools/voids.py), in one transaction, exactly once by
        the void's id; (the void as applied, whether it was applied before, the state it saved).
        Time passes first up to its moment, as for an adjustment (and the horizon alike).

        Raises:
            EventError: RE446 later events depend on the event or what it did cannot be undone
                (every reason listed), RE443 the void's id was used before for something else,
                RE442 its time beyond the horizon; nothing written.
            StoreError: RE606 the store has never seen the customer; RE447 no such event of theirs.
        """
        _given(void, Void, "void")
        self._check_horizon(void.at, None, f"void {void.id}")
        return desk.void(self.engine, self.store, void)

    def erase(self, customer: str, *, operator: str, at: dt.datetime) -> Erasure:
        """Erase a customer's personal data, keeping an anonymised ledger and their open points
        under a pseudonym (tools/erasure.py), in one transaction.

        Raises:
            EventError: RE410 `at` without a timezone offset; nothing changed.
            StoreError: RE606 the store has no such customer (never seen, or erased before).
        """
        _given(at, dt.datetime, "erase's at")
        if at.utcoffset() is None:
            raise EventError([Diagnostic("RE410", "erase: the time needs a timezone offset", hint="add one")])
        pseudonym = new_pseudonym()
        rename = renamer(pseudonym)
        erased = self.store.erase(
            customer, pseudonym, lambda state: anonymised(state, pseudonym, rename), rename
        )
        if erased is None:
            raise StoreError([Diagnostic("RE606", f"no customer {customer!r} in {self.store.url}")])
        return Erasure(
            pseudonym=pseudonym,
            points=sum((lot.points for lot in erased.lots), Decimal(0)),
            lots=len(erased.lots),
            operator=operator,
            at=at,
        )

    def check_advance(self, to_time: dt.datetime) -> None:
        """Raise RE442 when `to_time` is beyond the horizon (an advance would expire for good what
        is not due yet); `advance` checks it too, this is for a caller about to advance many."""
        _given(to_time, dt.datetime, "advance's moment")
        self._check_horizon(to_time, None)

    def advance(self, customer: str, to_time: dt.datetime) -> list[PointsChange | TierChange | Notification]:
        """Housekeeping for one customer up to `to_time` (`Engine.advance`), stored; the changes.

        Raises:
            EventError: `to_time` is beyond the horizon (RE442); nothing changed.
        """
        self.check_advance(to_time)
        with self.store.transaction(customer) as transaction:
            before = transaction.state()
            if before is None:
                return []
            after, changes, expired = self.engine.advance(before, to_time)
            if after != before:
                transaction.save(Change(state=after, ledger=expired))
            return changes


def _given(value: object, kind: type, what: str) -> None:
    """A caller's argument of the wrong type refused by name (TypeError), before it fails deep
    inside as an AttributeError naming neither the method nor what it wanted."""
    if not isinstance(value, kind):
        wanted = f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"{what}: a {wanted} is wanted, not {type(value).__name__}")


def _outcome(decided: Decided) -> Outcome:
    return decided.outcome() if isinstance(decided, Result) else decided


def _refuse_nul(data: Any) -> None:
    """RE410 for event data given from Python that holds the NUL character, as the JSON reader
    refuses it in an event's text (`jsonio.loads`): a store cannot keep it (PostgreSQL refuses it,
    which would stop the stream), and every other path refuses it before the event is read."""
    path = jsonio.nul_path(data)
    if path is not None:
        raise EventError(
            [Diagnostic("RE410", f"{path_text(path)}: {jsonio.NUL}", hint=jsonio.NUL_HINT, path=path)]
        )


def _owed(decided: Decided) -> str | None:
    """The referral code of a referrer the event owes a reward (`Effects.referral_owed`)."""
    return decided.referral_owed if isinstance(decided, Result) else decided.effects.referral_owed


def _reused(event: AnyEvent, stored: StoredEvent) -> Diagnostic:
    """RE443: the id names an event processed before whose payload differs."""
    differs = "other fields differ"
    if stored.at is not None and stored.at != event.time:
        differs = f"the first was dated {stored.at.isoformat()}, this one {event.time.isoformat()}"
    return Diagnostic(
        "RE443",
        f"event {event.id}: customer {event.customer} had an event with this id processed before, "
        f"with a different payload ({differs}): refused, nothing applied; the first one stands",
        hint="give every event its own id; a correction (a return, a new purchase) is a new event "
        "with a new id. A redelivery must repeat the event exactly",
        path=("id",),
    )


def _stored_outcome(data: dict[str, Any], state: CustomerState) -> Outcome:
    """An outcome kept by the store, with the customer's current state. Outcomes stored before
    `effects.referral_owed` existed said a referrer's reward was owed only in their trace (the
    referrer rule fired): read it from there, so a reward lost in a crash before an upgrade is
    still given when the referee's event comes again."""
    outcome = Outcome.model_validate({**data, "state": state})
    effects = data.get("effects")
    before_the_field = isinstance(effects, dict) and "referral_owed" not in effects
    fired = any(t.rule == REFERRER and t.fired for t in outcome.trace)
    if before_the_field and fired and state.referred_with:
        owed = outcome.effects.model_copy(update={"referral_owed": state.referred_with})
        outcome = outcome.model_copy(update={"effects": owed})
    return outcome
