"""`Engine(program).process(event, state) -> Result`: one event, every reward, and why.

A pure function of (program, customer state, event): time comes from the event, nothing is
read from the clock or the environment, and the same input gives the same outcome byte for byte.
`Engine.process` runs the stages in their fixed order (docs/engine.md, "Order of decisions"),
each a module of functions over the run record (`run.py`):

  1. the event is validated; a bad event raises `EventError` and changes nothing (`run`,
     `conditions`); what time did to the points before it (`points.time_passes`)
  2. a redemption spends points (`points`); a return takes back what the lines earned (`returns`)
  3. discounts, tier discounts and presented coupons, by priority; exclusive groups (`pricing`)
  4. the earning base of every line, then earn rules by priority, multipliers and the tier
     multiplier; exclusive groups; caps and budgets; rounding where `points.round` says (`earning`)
     — steps 3 and 4 by the program's generated function when it covers the event (`generated`:
     a purchase, explain off; docs/engine.md, "Two paths: generated and explaining")
  5. the stateful mechanics, in their order (`mechanics/`); for a purchase the generated path
     takes, those specialised for it once per program (`mechanics.purchase_mechanics`)
  6. the result and the new state: points lots, cap counters, used coupons, history (`settle`);
     for a late event the program accepts (`clock`), what time did after its moment, up to the
     customer's clock (`_caught_up`)

The result is slim and immutable (result.py); `result.outcome()` builds the pydantic `Outcome`
when a caller needs it (JSON, the CLI, a stored answer).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Mapping
from decimal import InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

from rules_engine.engine import (
    clock,
    conditions,
    earning,
    lifecycle,
    points,
    pricing,
    processed,
    profile,
    returns,
    settle,
)
from rules_engine.engine.events import AnyEvent, Purchase, Redeem, Return, Signup, fixed_offset, out_of_range
from rules_engine.engine.generated import GeneratedPath, covers
from rules_engine.engine.generated import compiled as compiled_path
from rules_engine.engine.mechanics import MECHANICS, deferred, tiers
from rules_engine.engine.outcome import Notification, PointsChange, TierChange, Totals
from rules_engine.engine.plan import Plan
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.run import BudgetSnapshot, Run, open_run
from rules_engine.engine.trusted import points_changes, rule_trace
from rules_engine.errors import Diagnostic, EventError
from rules_engine.periods import cap_period_key
from rules_engine.program.compile import CompiledProgram, compile_program
from rules_engine.program.model import Program
from rules_engine.program.validate import load_program
from rules_engine.state.customer import CustomerState, LedgerEntry, parse_state

__all__ = ["BudgetSnapshot", "Engine"]


class Engine:
    """Evaluates events for one program. Compile once; `process` is safe to call from many threads."""

    def __init__(
        self, program: Program | CompiledProgram, *, secret: bytes = b"", generated: bool = True
    ) -> None:
        """Args:
        program: the program, validated (or compiled).
        secret: mixed into issued coupon codes so they cannot be guessed; set one per
            deployment (the same secret gives the same codes for the same events).
        generated: decide pricing and earning with the program's generated function where it
            covers the event (generated.py); False: always with the evaluator's stages (the
            differential tests compare the two).
        """
        self.secret = secret
        self.compiled = program if isinstance(program, CompiledProgram) else compile_program(program)
        self.plan = plan = Plan(self.compiled)
        self.program = plan.program
        self.zone = plan.zone
        self.quantum = plan.quantum
        self.rule_hashes = plan.rule_hashes
        # The mechanics that can do something for this program, in their order (mechanics/).
        self.mechanics: tuple[Callable[[Run], None], ...] = tuple(
            mechanic.apply for mechanic in MECHANICS if not mechanic.idle(plan.program)
        )
        self._generate = generated

    @functools.cached_property
    def generated(self) -> GeneratedPath | None:
        """The program's pricing and earning as one generated function (None: not generated),
        compiled when the first event needs it (up to ~40 ms): a command or a test that decides
        no purchase, as `loyalty validate`, pays nothing for it."""
        return compiled_path(self.plan) if self._generate else None

    @classmethod
    def from_file(cls, path: str | Path, *, secret: bytes = b"", generated: bool = True) -> Engine:
        return cls(load_program(path), secret=secret, generated=generated)

    def process(
        self,
        event: AnyEvent | Mapping[str, Any],
        state: CustomerState | Mapping[str, Any] | None = None,
        *,
        explain: bool = False,
        budgets: BudgetSnapshot | None = None,
    ) -> Result:
        """Decide every reward for one event: a `Result`, whose `outcome()` is the pydantic `Outcome`.

        Args:
            event: an event model, or its JSON-like data (validated here).
            state: the customer's state before the event; None for a new customer.
            explain: also record, for every condition that failed, its false parts with their
                values, a near-miss hint, and the whole condition tree (slower).
            budgets: what a store counts across customers: points already given per rule, for
                rules with a budget; catalog items redeemed, for `stock`; the referrer's record,
                for the referral's fraud checks.

        Raises:
            EventError: the event is malformed or does not fit the program, or it is older than
                the customer's latest event (RE440, engine/clock.py); nothing is applied.
        """
        parsed = parse_event(event)
        current = _NEW_CUSTOMER if state is None else parse_state(state)
        if processed.seen(current.processed, parsed.id):  # one look, not a scan of 1,000 ids
            return self.duplicate(parsed, current)
        latest = current.last_event_at
        order = "in_order" if latest is None else clock.event_order(self.program, current, parsed)
        if order == "refused":
            assert latest is not None
            raise EventError([clock.out_of_order(self.program, parsed, latest)])
        try:
            before, passed, gone = points.time_passed(self.program, current, parsed.time)
            changes: list[PointsChange] = []
            if passed and not gone:  # only lots that ended their wait (any history): made now
                changes, passed = points_changes(passed), []
            # else what a long history brings, a dozen lots expiring: their changes and entries
            # made when the result's are read (settle.outcome's `time_passed`; a lazy result costs a copy
            # and a property per read, more than the few changes of lots ending their wait)
            before, moves = tiers.elapse(self.program.tiers, before, parsed.time, self.zone)
            before, sent = deferred.deliver(self.program.notifications, before, parsed.time)
            run = open_run(self.plan, self.secret, parsed, before, explain, budgets or _NO_BUDGETS, changes)
            if moves:
                tiers.reviewed(run, moves)
            if sent:
                deferred.delivered(run, sent)
            # what time did (lots that expired, or ended their wait with them), in front of the
            # event's own changes and entries, made when read (settle.outcome's `time_passed`)
            passing = None if gone is None else (passed, gone, parsed.id, self.program.version)
            result = self._decide(run, passing)
            if order == "late" and latest is not None:
                return self._caught_up(result, latest, parsed.id)
            return result
        except InvalidOperation:  # a rounding whose result has more digits than decimals keep
            raise EventError([_not_exact(parsed.id)]) from None
        except OverflowError:  # a date past year 9999: a state's time, or a program's long window
            raise EventError([out_of_range(parsed.id)]) from None

    def _elapse(self, state: CustomerState, moment: dt.datetime, cause: str) -> _Elapsed:
        """What time did up to `moment`, each change at its own moment: points becoming available
        and expiring, tier reviews that fell due, waiting messages that went out. The same whether
        or not `advance` ran before (docs/engine.md, "Time between events"); `cause` names the
        ledger entries of expiry."""
        after, changes, expired = points.time_passes(self.program, state, moment, cause)
        after, moves = tiers.elapse(self.program.tiers, after, moment, self.zone)
        after, sent = deferred.deliver(self.program.notifications, after, moment)
        return after, changes, moves, sent, expired  # a plain tuple: a named one's `__new__` is Python

    def _caught_up(self, result: Result, latest: dt.datetime, cause: str) -> Result:
        """A late event's result with what time did since its moment, up to the customer's clock
        (`latest`): its points expire, or become available, at their own moments, and a tier it
        reached is reviewed if a review fell due; the changes follow the event's own in its
        effects, their ledger entries name the event (docs/engine.md, "Late events")."""
        after, changes, moves, sent, expired = self._elapse(result.state, latest, cause)
        if not changes and not moves and not sent:
            return result
        trace = [
            rule_trace(f"tier:{move.new or 'none'}", "tier", True, "fired", move.reason) for move in moves
        ]
        return dataclasses.replace(
            result,
            state=after,
            ledger=(*result.ledger, *expired),
            points_changes=(*result.points_changes, *changes),
            tier_changes=(*result.tier_changes, *moves),
            notifications=(*result.notifications, *sent),  # messages that waited
            trace=(*result.trace, *trace),
            _outcome=None,  # the outcome of the event alone, had it been built, is not this one
        )

    def _decide(self, run: Run, time_passed: settle.TimePassed | None = None) -> Result:
        """The stages, in their fixed order (the module docstring); `time_passed`: what time did
        before the event, put in front of its own changes and entries (`settle.outcome`)."""
        event = run.event
        if isinstance(event, Signup):
            profile.record(run, event)
        conditions.check_attributes(run)
        if isinstance(event, Redeem):
            points.redeem(run, event)
        if isinstance(event, Return):
            returns.apply(run, event)
        fast = self.generated
        mechanics = self.mechanics
        if fast is not None and covers(run):  # the generated path (generated.py)
            fast.decide(run)
            mechanics = fast.mechanics  # specialised for such a purchase (mechanics/__init__.py)
        else:
            pricing.discounts(run)
            if isinstance(event, Purchase) and event.paid_with_points > 0:
                points.tender(run, event)
            earning.earn(run)
        for mechanic in mechanics:
            mechanic(run)
        return settle.outcome(run, time_passed)

    def budget_keys(self, event: AnyEvent) -> list[tuple[str, str]]:
        """The (rule, period key) of every budget the event may spend from: what a store reads
        into the `BudgetSnapshot` it passes to `process`, and adds this event's points to."""
        day = event.time.astimezone(self.zone).date()
        return [(rule, cap_period_key(period, day)) for rule, period in self.plan.budgeted]

    def stock_keys(self, event: AnyEvent) -> list[str]:
        """The catalog items whose redemption count the event's decision reads: what a store locks
        and reads into `BudgetSnapshot.redeemed`. Only an item with a `stock` limit: the count of
        one without is never read, so a store neither locks it nor checks it unchanged (two
        `loyalty run` workers redeeming a free latte do not wait for, or undo, each other)."""
        if not isinstance(event, Redeem):
            return []
        limited = any(item.id == event.item and item.stock is not None for item in self.program.catalog)
        return [event.item] if limited else []

    def redeemed_items(self, event: AnyEvent) -> list[str]:
        """The catalog items the event redeems, limited or not: what a store adds to the counts
        (`loyalty customer` and the service's catalog show them; a later version may set a limit)."""
        return [event.item] if isinstance(event, Redeem) else []

    def duplicate(self, event: AnyEvent, state: CustomerState) -> Result:
        """A redelivered event: nothing is applied again, the state comes back unchanged.

        The original outcome is not kept in the state (it would grow without bound); a store
        that must answer with it keeps outcomes by event id. The memory store of `loyalty run`
        keeps none, and the service answers a redelivery there with this (service.py).
        """
        trace = (
            rule_trace(
                f"event:{event.id}",
                "event",
                False,
                "duplicate",
                "this event was already processed: nothing is applied again",
            ),
        )
        return Result(
            program=self.program.program,
            version=self.program.version,
            event=event.id,
            customer=event.customer,
            awards=(),
            discounts=(),
            totals=Totals(),
            state=state,
            ledger=(),
            trace=trace,
        )

    def advance(self, state: CustomerState | Mapping[str, Any] | None, to_time: dt.datetime) -> Advanced:
        """Housekeeping without an event: apply what time does up to `to_time` (expiry, points
        becoming available, a tier review that is due, waiting messages that go out) and return
        the new state, each change (`PointsChange`, `TierChange` or a `Notification` with its
        `at`) and the ledger entries of what expired (`advance:<to_time>` their event). Pure, like
        `process`. The customer's clock never moves backwards: a moment before their latest event
        (or advance) changes nothing."""
        if to_time.tzinfo is None or to_time.utcoffset() is None:
            raise EventError([Diagnostic("RE410", "advance: the time needs a timezone offset")])
        to_time = fixed_offset(to_time)
        current = parse_state(state)
        if current.last_event_at is not None and to_time < current.last_event_at:
            return Advanced(current, [], [])
        cause = f"advance:{to_time.isoformat()}"
        after, changes, moves, sent, expired = self._elapse(current, to_time, cause)
        update: dict[str, Any] = {"last_event_at": settle.later(after.last_event_at, to_time)}
        return Advanced(after.model_copy(update=update), [*changes, *moves, *sent], expired)


# What time did (`Engine._elapse`): the state after it, the points changes, the tier changes, the
# waiting messages sent, the ledger entries of expiry.
_Elapsed = tuple[CustomerState, list[PointsChange], list[TierChange], list[Notification], list[LedgerEntry]]

# A new customer's state before their first event: one, shared, made once (a frozen model that
# nothing changes: a run copies the state it is given before changing it, `run.change_state`),
# already in expiry order with no lot pending (`lifecycle.in_order`, which copied it at every first
# event otherwise). Making `CustomerState()` (validated, with its default lists) and that copy cost
# a new customer's first event ~20 % of its instructions (half the service bench's purchases). The
# state after the event is the same: settle writes every field a state before it leaves empty.
_NEW_CUSTOMER = lifecycle.in_order(CustomerState())

# The snapshot of an event processed without a store (nothing counted across customers): one,
# shared (a frozen dataclass, whose mappings nothing writes), not one made per event.
_NO_BUDGETS = BudgetSnapshot()


class Advanced(NamedTuple):
    """What `Engine.advance` did: the state after it, each change, and the ledger entries."""

    state: CustomerState
    changes: list[PointsChange | TierChange | Notification]
    ledger: list[LedgerEntry]


def _not_exact(event: str) -> Diagnostic:
    return Diagnostic(
        "RE416",
        f"event {event}: an amount cannot be computed exactly (a result of more than 28 digits)",
        hint="an event's amounts are bounded (15 digits, quantities 9), so look for a very large "
        "number in the program: a rate, an award or a multiplier expression",
    )
