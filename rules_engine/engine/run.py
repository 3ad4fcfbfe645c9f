"""The run record: what the evaluation of one event carries from stage to stage.

`Engine.process` opens a `Run` (`open_run`) and hands it to the stages in their fixed order
(evaluator.py): each stage is a module of functions `f(run, …)` that reads the run and adds to it
(conditions, pricing, earning, returns, points, rewards, the mechanics, settle). The record holds
data only — the event, the state as it is so far, the event's local time, the caches of the
condition contexts, the effects and the trace made so far, the counters — and no behaviour, so no
module calls back into the one that called it.

Input: the engine's `Plan`, the parsed event and the state after time passed. Output: a `Run`.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from typing import Any, cast

from rules_engine.dsl.context import Context
from rules_engine.engine.events import AnyEvent, Line, Purchase, finer_than
from rules_engine.engine.money import ONE, round_money
from rules_engine.engine.outcome import (
    BadgeAwarded,
    BudgetRelease,
    CouponIssued,
    DrawEntry,
    ExplainNode,
    FreeShipping,
    Notification,
    PointsChange,
    RuleTrace,
    TierChange,
    TierProgress,
)
from rules_engine.engine.plan import Plan
from rules_engine.engine.result import Award, Discount
from rules_engine.engine.trusted import Verdict, replaced
from rules_engine.errors import Diagnostic, EventError
from rules_engine.program.model import Program, TierLevel
from rules_engine.state.customer import CustomerState, LedgerEntry

ZERO = Decimal(0)
# A `Line`'s field dict (pydantic keeps a model's fields in its `__dict__`), and fields of it.
_FIELDS = operator.attrgetter("__dict__")
_SKU = operator.itemgetter("sku")
_QTY = operator.itemgetter("qty")
_PRICE = operator.itemgetter("price")


@dataclass(frozen=True)
class ReferrerRecord:
    """What the referral's fraud checks read of a referrer (another customer than the event's)."""

    customer: str
    fingerprints: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Their `fingerprints` (state)."""
    rewarded: Sequence[dt.datetime] = ()
    """When they were rewarded as a referrer (`referrals_rewarded`)."""


@dataclass(frozen=True)
class BudgetSnapshot:
    """What a store read for this event beyond the customer's own state: points given program-wide
    per rule and period, for budgets ({rule: {period: points}}); catalog items redeemed so far by
    every customer, for `stock` ({item: count}; an item absent: none); and the referrer's record,
    for the referral's fraud checks."""

    spent: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    redeemed: Mapping[str, int] = field(default_factory=dict)
    referrer: ReferrerRecord | None = None
    """The referrer of a referred customer's purchase, for the referral's fraud checks; None when
    the caller did not read them (the engine alone) or knows no customer with the code."""


@dataclass(slots=True, eq=False)
class Run:
    """One call of `process`: the working data of a single event (see the module docstring)."""

    plan: Plan
    program: Program
    secret: bytes
    event: AnyEvent
    # The customer's state as it is so far: the stages and the mechanics change it (`change_state`).
    state: CustomerState
    # The state before the event (after time passed): what the conditions read.
    before: CustomerState
    explain: bool
    budgets: BudgetSnapshot
    # The event's time in the program's timezone.
    local: dt.datetime
    # The customer's tier before the event: its benefits apply to this event.
    tier: TierLevel | None
    counters: dict[str, dict[str, Decimal]]
    items: list[Line]
    # Whom each share of an award is attributed to: the lines, then shipping (quantity 1).
    skus: list[str]
    quantities: list[Decimal]
    # Each line's price × quantity, rounded to the currency.
    amounts: list[Decimal]
    # Each line's amount after the discounts so far.
    remaining: list[Decimal]
    # `customer.points` as the conditions read it (0 when no expression of the run reads it).
    points_before: Decimal
    # Each line's field dict (the `Line`'s own `__dict__`, never changed): its fields read in C by
    # `operator.itemgetter`, a fifth of the cost of an attribute of the model (the generated code).
    fields: list[dict[str, Any]] = field(default_factory=list)
    # -- the condition contexts, built when first read ------------------------------------------
    context: Context | None = None
    line_context: Context | None = None
    # A per-line condition's truth on each line, once computed: {id(expression): per line}.
    line_truths: dict[int, list[bool | None]] = field(default_factory=dict)
    mechanics_contexts: dict[frozenset[str], Context] = field(default_factory=dict)
    period_keys: dict[str, str] = field(default_factory=dict)
    # Trees of the conditions that held (explain only), for the traces of the rules that fired.
    conditions: dict[str, ExplainNode] = field(default_factory=dict)
    # -- what the event does ----------------------------------------------------------------------
    # `Verdict`s where a stage made no model (result.RuleTraces makes them when read).
    trace: list[RuleTrace | Verdict] = field(default_factory=list)
    # The awards and discounts, with their line shares as tuples (result.py).
    effects_points: list[Award] = field(default_factory=list)
    effects_discounts: list[Discount] = field(default_factory=list)
    free_shipping: FreeShipping | None = None
    redeemed: list[str] = field(default_factory=list)
    # The earning base of each line (earning.earn).
    base: list[Decimal] = field(default_factory=list)
    # rule → an award below zero it came to (the trace says so).
    negative_awards: dict[str, Decimal] = field(default_factory=dict)
    points_changes: list[PointsChange] = field(default_factory=list)
    # The ledger entries made so far, in order (time passing's expiries first): the result's.
    ledger: list[LedgerEntry] = field(default_factory=list)
    # What a return gave back to program-wide budgets (returns.release).
    budgets_released: list[BudgetRelease] = field(default_factory=list)
    # A return after the program's return window: nothing comes back.
    return_closed: bool = False
    coupons_issued: list[CouponIssued] = field(default_factory=list)
    badges: list[BadgeAwarded] = field(default_factory=list)
    tier_changes: list[TierChange] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    tier_progress: TierProgress | None = None
    draw_entries: list[DrawEntry] = field(default_factory=list)
    # The referral code of a referrer this event's qualifying purchase owes a reward.
    referral_owed: str | None = None
    # The state this run made by its first `change_state`: nothing outside the run holds it, so the
    # later changes of the event are made to it in place (one copy of the state per event).
    own: CustomerState | None = None
    # The customer's `Working` state when the event is decided in place (engine/step.py), None on
    # `process`: what a mechanic specialised for a purchase may change instead of `state`'s models
    # (the step makes the models of what it changed when the public state is read).
    working: Any = None


def change_state(run: Run, update: Mapping[str, Any]) -> None:
    """`run.state = replaced(run.state, update)`, the state copied once per event: the first change
    makes the run's own state, the later ones change that one in place (nothing outside the run
    holds it until settle returns it; the state before the event, the caller's, is never changed)."""
    state = run.state
    if state is run.own and state is not run.before:
        state.__dict__.update(update)
        given = state.__pydantic_fields_set__
        if not update.keys() <= given:  # the set may be shared with other states: a new one
            object.__setattr__(state, "__pydantic_fields_set__", given | update.keys())
        return
    run.state = run.own = replaced(state, update)


def open_run(
    plan: Plan,
    secret: bytes,
    event: AnyEvent,
    state: CustomerState,
    explain: bool,
    budgets: BudgetSnapshot,
    points_changes: list[PointsChange],
) -> Run:
    """The run of `event` on `state`, once the event is checked against the program and state.

    Raises:
        EventError: an amount finer than the currency (RE410), another currency (RE411), the
            state of another customer (RE412).
    """
    program = plan.program
    items: list[Line] = event.items if isinstance(event, Purchase) else []
    quantum = plan.quantum
    # Each line's fields read from its field dict, in C: an attribute of a pydantic model is read
    # through its `__getattr__` hook, several times the cost of a dict's item (one read per line).
    fields = [*map(_FIELDS, items)]
    found = [*map(_AMOUNTS.get, zip(map(_PRICE, fields), map(_QTY, fields), repeat(quantum)))]
    # by identity: `None in found` would compare None with each decimal, which asks `numbers`' ABCs
    every = all(map(operator.is_not, found, repeat(None)))
    _check_event(plan, event, state, every)
    amounts = cast("list[Decimal]", found) if every else _amounts(items, found, quantum)
    return _opened(
        plan,
        program,
        secret,
        event,
        state,
        explain,
        budgets,
        event.time.astimezone(plan.zone),
        plan.tiers.get(state.tier or ""),
        dict(state.counters),  # a rule's counts are copied when counted
        items,
        [*map(_SKU, fields), "(shipping)"],
        [*map(_QTY, fields), ONE],
        amounts,
        list(amounts),
        state.available(event.time) if "points" in plan.customer_reads else ZERO,
        points_changes,
        fields,
    )


_new = object.__new__


def _opened(
    plan: Plan,
    program: Program,
    secret: bytes,
    event: AnyEvent,
    state: CustomerState,
    explain: bool,
    budgets: BudgetSnapshot,
    local: dt.datetime,
    tier: TierLevel | None,
    counters: dict[str, dict[str, Decimal]],
    items: list[Line],
    skus: list[str],
    quantities: list[Decimal],
    amounts: list[Decimal],
    remaining: list[Decimal],
    points_before: Decimal,
    points_changes: list[PointsChange],
    fields: list[dict[str, Any]],
) -> Run:
    """`Run(...)` of these values and every other field's default, each slot set directly: the
    dataclass's `__init__` called with keywords costs twice as much (the call's dict of keywords,
    a factory's call per empty list). Every field of `Run` is set here (a test holds the two equal)."""
    run: Run = _new(Run)
    run.plan = plan
    run.program = program
    run.secret = secret
    run.event = event
    run.state = state
    run.before = state
    run.explain = explain
    run.budgets = budgets
    run.local = local
    run.tier = tier
    run.counters = counters
    run.items = items
    run.skus = skus
    run.quantities = quantities
    run.amounts = amounts
    run.remaining = remaining
    run.points_before = points_before
    run.fields = fields
    run.context = None
    run.line_context = None
    run.line_truths = {}
    run.mechanics_contexts = {}
    run.period_keys = {}
    run.conditions = {}
    run.trace = []
    run.effects_points = []
    run.effects_discounts = []
    run.free_shipping = None
    run.redeemed = []
    run.base = []
    run.negative_awards = {}
    run.points_changes = points_changes
    run.ledger = []
    run.budgets_released = []
    run.return_closed = False
    run.coupons_issued = []
    run.badges = []
    run.tier_changes = []
    run.notifications = []
    run.tier_progress = None
    run.draw_entries = []
    run.referral_owed = None
    run.own = None
    run.working = None
    return run


# Each line's amount by (price, quantity, the currency's quantum): `round_money(price × qty,
# quantum)`, remembered. A catalogue's prices and the usual quantities come back at every purchase,
# and a product and its rounding cost four times a look-up. Exact by value: the rounded product of
# equal values is the same decimal (same digits, the quantum's exponent), whatever exponents the
# price and quantity were sent with. Only prices that are whole minor units are kept, so a purchase
# whose every line is found has no price finer than its currency (`_check_event`, RE410).
# Emptied when full.
_AMOUNTS: dict[tuple[Decimal, Decimal, Decimal], Decimal] = {}
_AMOUNTS_KEPT = 4096


def _amounts(items: list[Line], found: list[Decimal | None], quantum: Decimal) -> list[Decimal]:
    """Each line's amount: `found`'s, or worked out (and remembered when its price is fine)."""
    amounts: list[Decimal] = []
    for line, amount in zip(items, found, strict=True):
        if amount is None:
            price, qty = line.price, line.qty
            amount = round_money(price * qty, quantum)
            if not price % quantum:
                if len(_AMOUNTS) >= _AMOUNTS_KEPT:
                    _AMOUNTS.clear()
                _AMOUNTS[price, qty, quantum] = amount
        amounts.append(amount)
    return amounts


def _check_event(plan: Plan, event: AnyEvent, state: CustomerState, prices_fine: bool = False) -> None:
    """`prices_fine`: every line's price is known to be whole minor units (`_AMOUNTS`); then only
    the purchase's other amounts are looked at for RE410 (`finer_than` says what is wrong)."""
    quantum = plan.quantum
    if prices_fine and isinstance(event, Purchase):
        shipping, tax, tendered = event.shipping, event.tax, event.paid_with_points
        fine = not (
            (shipping and shipping % quantum) or (tax and tax % quantum) or (tendered and tendered % quantum)
        )
    else:
        fine = False
    if not fine and (too_fine := finer_than(event, quantum)):
        raise EventError(too_fine)
    program = plan.program
    if isinstance(event, Purchase) and event.currency and event.currency != program.currency:
        raise EventError(
            [
                Diagnostic(
                    "RE411",
                    f"currency: the purchase is in {event.currency}, the program in {program.currency}",
                    hint="convert amounts to the program's currency before sending",
                )
            ]
        )
    if state.customer is not None and state.customer != event.customer:
        raise EventError(
            [
                Diagnostic(
                    "RE412",
                    f"customer: the event is for {event.customer}, the state for {state.customer}",
                    hint="send the state of the same customer",
                )
            ]
        )
