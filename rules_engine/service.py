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
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rules_engine.engine.evaluator import BudgetSnapshot, Engine, local_date
from rules_engine.engine.events import AnyEvent, parse_event
from rules_engine.engine.outcome import Outcome, PointsChange, TierChange
from rules_engine.engine.schedule import BUDGET_PERIODS, cap_period_key
from rules_engine.engine.social import REFERRER, referral_code, referrer_event_id
from rules_engine.errors import Diagnostic, StoreError
from rules_engine.state.customer import CustomerState, LedgerEntry
from rules_engine.store.base import Change, Store
from rules_engine.store.memory import MemoryStore


@dataclass(frozen=True)
class Handled:
    """What processing one event did."""

    outcome: Outcome
    duplicate: bool
    """The event id was processed before: `outcome` is the original one, nothing was applied."""
    referrer: Outcome | None = None
    """The referrer's reward (its outcome), when this event qualified a referral; for a
    redelivered event, the reward's original outcome."""
    unknown_referrer: str | None = None
    """The referral code, when this event qualified a referral whose code names no customer the
    store knows: the referrer's reward is owed but could not be given. Once the referrer is known
    (an event of theirs, or `put`), delivering this event again gives it (once)."""
    referrer_applied: bool = False
    """The referrer's reward was applied by this call. False when it was given before; true for
    a redelivered event whose first delivery died before the reward (or found no referrer)."""


class Loyalty:
    """Processes events against a store; see the module docstring. One per worker (thread or process)."""

    def __init__(self, engine: Engine, store: Store) -> None:
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
        program = engine.program
        self._budgeted = [
            (rule.id, BUDGET_PERIODS[rule.budget.period]) for rule in program.earn if rule.budget is not None
        ]
        self._codes = program.referral is not None

    @classmethod
    def in_memory(cls, engine: Engine) -> Loyalty:
        """With a memory store: for dry-runs, tests and replays that keep nothing."""
        return cls(engine, MemoryStore(engine.program.program))

    def process(self, event: AnyEvent | Mapping[str, Any], *, explain: bool = False) -> Outcome:
        """The event's outcome (the original one for an event id seen before).

        Raises:
            EventError: the event is malformed or refused by the engine; nothing was written.
            StoreError: the store failed (RE605); nothing of this event was written, retry it.
        """
        return self.handle(event, explain=explain).outcome

    def handle(self, event: AnyEvent | Mapping[str, Any], *, explain: bool = False) -> Handled:
        """Like `process`, and says whether the event was a duplicate and what the referrer got."""
        parsed = parse_event(event)
        outcome, duplicate = self._apply(parsed, explain)
        referrer = None
        unknown = None
        applied = False
        if any(t.rule == REFERRER and t.fired for t in outcome.trace):
            # Also for a redelivery: a worker that died between the referee's transaction and the
            # referrer's leaves the reward owed, and the referrer's event id keeps it once.
            rewarded = self._reward_referrer(outcome)
            if rewarded is None:
                unknown = outcome.state.referred_with
            else:
                referrer, given_before = rewarded
                applied = not given_before
        return Handled(outcome, duplicate, referrer, unknown, applied)

    def _apply(self, event: AnyEvent, explain: bool) -> tuple[Outcome, bool]:
        with self.store.transaction(event.customer) as transaction:
            stored = transaction.outcome(event.id)
            before = transaction.state()
            if stored is not None:
                current = before or CustomerState(customer=event.customer)
                return Outcome.model_validate({**json.loads(stored), "state": current}), True
            day = local_date(event.time, self.engine.program)
            wanted = [(rule, cap_period_key(period, day)) for rule, period in self._budgeted]
            spent = transaction.budgets(wanted)
            outcome = self.engine.process(event, before, explain=explain, budgets=BudgetSnapshot(spent))
            if before is not None and event.id in before.processed:
                return outcome, True  # the state itself remembers it (a state imported with history)
            transaction.save(self._change(event, before, outcome, wanted))
        return outcome, False

    def _change(
        self, event: AnyEvent, before: CustomerState | None, outcome: Outcome, wanted: list[tuple[str, str]]
    ) -> Change:
        given = {rule: Decimal(0) for rule, _ in wanted}
        for award in outcome.effects.points:
            if award.rule in given:
                given[award.rule] += award.points
        return Change(
            state=outcome.state,
            ledger=outcome.new_ledger_entries,
            event=event.id,
            outcome=outcome.model_dump_json(exclude={"state"}),
            spent=[(rule, key, given[rule]) for rule, key in wanted if given[rule]],
            referral_code=self._code(event.customer) if before is None else None,
        )

    def _code(self, customer: str) -> str | None:
        if not self._codes:
            return None
        return referral_code(self.engine.program.program, customer, self.engine.secret)

    def _reward_referrer(self, outcome: Outcome) -> tuple[Outcome, bool] | None:
        """The referrer's reward and whether it was given before; None if no customer of the
        store has the referral code."""
        code = outcome.state.referred_with
        referrer = self.store.referrer(code) if code else None
        if referrer is None:
            return None
        event = {
            "id": referrer_event_id(outcome.customer, outcome.event),
            "type": "referral_reward",
            "customer": referrer,
            "time": outcome.state.referral_qualified_at,
            "referee": outcome.customer,
            "qualifying_event": outcome.event,
        }
        return self._apply(parse_event(event), explain=False)

    def put(self, customer: str, state: CustomerState) -> None:
        """Store a customer's state as it is (an import, a migration from another system)."""
        with self.store.transaction(customer) as transaction:
            before = transaction.state()
            code = self._code(customer) if before is None else None
            transaction.save(Change(state=state, ledger=_added(before, state), referral_code=code))

    def advance(self, customer: str, to_time: dt.datetime) -> list[PointsChange | TierChange]:
        """Housekeeping for one customer up to `to_time` (`Engine.advance`), stored; the changes."""
        with self.store.transaction(customer) as transaction:
            before = transaction.state()
            if before is None:
                return []
            after, changes = self.engine.advance(before, to_time)
            if after != before:
                transaction.save(Change(state=after, ledger=_added(before, after)))
            return changes


def _added(before: CustomerState | None, after: CustomerState) -> list[LedgerEntry]:
    """The ledger entries in `after` that `before` does not have (the state keeps only the
    entries of open lots, so the new ones are not simply the tail)."""
    known = set(before.ledger) if before is not None else set()
    return [entry for entry in after.ledger if entry not in known]
