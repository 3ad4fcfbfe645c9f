"""What `Engine.process` returns: a slim immutable result, the pydantic `Outcome` only when asked.

Deciding an event used to end in an `Outcome` of ~40 pydantic models (an award, each of its line
shares, each discount line, the totals, the effects), JSON-ready whether or not anyone read them.
A service that stores the new state and answers with the points needs none of that; a CLI, a
JSON answer or a golden test does. So the engine returns a `Result`: plain immutable data, awards
and discounts with their per-line shares as tuples, and builds the `Outcome` (and from it the
JSON) in `Result.outcome()`, once, when a caller asks.

`result.effects`, `.totals`, `.trace`, `.tier_progress`, `model_dump` and `model_dump_json` read
as the outcome's do, so code written against `Outcome` reads a `Result` unchanged; `effects` and
the dumps build the outcome on first use; a caller that needs the model asks for `outcome()`.

Input: what settle computed. Output: a `Result`; `outcome()` the `Outcome` of the same event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, overload

from rules_engine.engine.outcome import (
    BadgeAwarded,
    BudgetRelease,
    CouponIssued,
    DiscountEffect,
    DrawEntry,
    Effects,
    FreeShipping,
    LineShare,
    Notification,
    Outcome,
    PointsAward,
    PointsChange,
    RuleTrace,
    TierChange,
    TierProgress,
    Totals,
)
from rules_engine.engine.outcome_json import STORED, UnexpectedValueError
from rules_engine.engine.trusted import Verdict, trusted
from rules_engine.state.customer import CustomerState, LedgerEntry

# One line's part of an award (points) or a discount (money): (line index, sku, amount).
Share = tuple[int, str, Decimal]


class RuleTraces(Sequence[RuleTrace]):
    """An event's trace as the stages recorded it, read as `RuleTrace`s: the entries a stage
    recorded as `Verdict`s (verdicts.py) are made models when the trace is first read, all at once,
    in their order. Deciding an event makes a dozen trace entries that a service keeping the new
    state never reads; a caller that reads them gets the same models, equal to a tuple of them."""

    __slots__ = ("_entries", "_models")

    def __init__(self, entries: Iterable[RuleTrace | Verdict]) -> None:
        self._entries = tuple(entries)
        self._models: tuple[RuleTrace, ...] | None = None

    @property
    def entries(self) -> tuple[RuleTrace | Verdict, ...]:
        """The entries as recorded (`Verdict`s, or models), none made a model here: what the
        outcome's JSON is written from (outcome_json.py)."""
        return self._models or self._entries

    def models(self) -> tuple[RuleTrace, ...]:
        """The entries as `RuleTrace`s (made on the first call, then kept)."""
        made = self._models
        if made is None:
            made = tuple([e.model() if isinstance(e, Verdict) else e for e in self._entries])
            self._models = made
        return made

    @overload
    def __getitem__(self, index: int) -> RuleTrace: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[RuleTrace, ...]: ...

    def __getitem__(self, index: int | slice) -> RuleTrace | tuple[RuleTrace, ...]:
        return self.models()[index]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RuleTrace]:
        return iter(self.models())

    def __eq__(self, other: object) -> bool:
        """Equal to the same entries, as `RuleTraces` or as a tuple (what a result's trace was)."""
        if isinstance(other, RuleTraces):
            return self.models() == other.models()
        if isinstance(other, tuple):
            return self.models() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.models())

    def __repr__(self) -> str:
        return repr(self.models())


@dataclass(frozen=True, slots=True)
class Award:
    """Points one rule gave: `PointsAward` without the models (its `lines` are `Share`s)."""

    rule: str
    points: Decimal
    lines: Sequence[Share]  # a tuple, or `money.LineShares` (split when first read): equal alike
    available_at: dt.datetime | None = None

    def model(self) -> PointsAward:
        values = {
            "rule": self.rule,
            "points": self.points,
            "lines": _line_shares(self.lines),
            "available_at": self.available_at,
        }
        return trusted(PointsAward, values, _AWARD_GIVEN)


_new = object.__new__


def _twin(cls: type) -> Any:
    """A plain class with `cls`'s very slots (the same names, in the same order, so the same
    layout), no `__setattr__` of its own: an instance's slots are set by plain attribute stores,
    which the interpreter runs as one specialised instruction each (`STORE_ATTR_SLOT`), and the
    instance is then made a `cls` by `__class__` assignment (which checks the layouts agree). A
    frozen dataclass's slot set through its descriptor's `__set__` is a C call through a
    method-wrapper with its argument tuple (~680 instructions, counted): `settled` sets 22."""
    return type(f"_{cls.__name__}Slots", (), {"__slots__": cls.__dict__["__slots__"], "__module__": __name__})


_AWARD_SLOTS = _twin(Award)


def award_of(rule: str, points: Decimal, lines: Sequence[Share], available_at: dt.datetime | None) -> Award:
    """`Award(rule, points, lines, available_at)` for a fraction of its cost: its slots set on an
    instance of their plain twin, which is then made an `Award` (`_twin`: 4.2k → 2.5k instructions
    an award, counted), as the frozen dataclass's `__init__` sets them one `object.__setattr__` at
    a time."""
    made = _new(_AWARD_SLOTS)
    made.rule = rule
    made.points = points
    made.lines = lines
    made.available_at = available_at
    made.__class__ = Award
    return made  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Discount:
    """Money one discount, coupon or tier benefit took off: `DiscountEffect` without the models."""

    rule: str
    amount: Decimal
    lines: tuple[Share, ...]

    def model(self) -> DiscountEffect:
        values = {"rule": self.rule, "amount": self.amount, "lines": _line_shares(self.lines)}
        return trusted(DiscountEffect, values, _DISCOUNT_GIVEN)


# The outcome's models are made from the result's values, which have the right types already: made
# as pydantic would, without validating them again (engine/trusted.py; tests/engine/
# test_properties.py holds them equal to validated ones). A coffee-club purchase's outcome has ~35
# line shares: validating each one's Decimal was ~40 % of building the outcome, which a service and
# `loyalty run` do for every event.
_SHARE_GIVEN = {"line", "sku", "amount"}
_AWARD_GIVEN = {"rule", "points", "lines", "available_at"}
_DISCOUNT_GIVEN = {"rule", "amount", "lines"}
_EFFECTS_GIVEN = set(Effects.model_fields)


def _line_shares(shares: Sequence[Share]) -> list[LineShare]:
    given = _SHARE_GIVEN
    return [trusted(LineShare, {"line": i, "sku": sku, "amount": amount}, given) for i, sku, amount in shares]


_DISCOUNT_SLOTS = _twin(Discount)


def discount_of(rule: str, amount: Decimal, lines: tuple[Share, ...]) -> Discount:
    """`Discount(rule, amount, lines)`, its slots set on their plain twin (as `award_of`)."""
    made = _new(_DISCOUNT_SLOTS)
    made.rule = rule
    made.amount = amount
    made.lines = lines
    made.__class__ = Discount
    return made  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Result:
    """One event decided: what it gives and changes, the new state, and why (module docstring).

    The rarer effects (coupons, badges, tier changes, notifications, draw entries, what time did
    to the points) are the outcome's own models, a few per event at most; `totals`, the `trace`
    entries and the `state` are too. What there are many of per event — the awards' and
    discounts' line shares — are tuples.
    """

    program: str
    version: int
    event: str
    customer: str
    awards: tuple[Award, ...]
    discounts: tuple[Discount, ...]
    totals: Totals
    state: CustomerState
    """The customer's state after the event."""
    ledger: tuple[LedgerEntry, ...]
    """The ledger entries the event made, in order (`Outcome.ledger`)."""
    trace: Sequence[RuleTrace]
    """Every rule's verdict, in the order decided (`RuleTraces`, or a tuple)."""
    tier_progress: TierProgress | None = None
    free_shipping: FreeShipping | None = None
    coupons_issued: tuple[CouponIssued, ...] = ()
    coupons_redeemed: tuple[str, ...] = ()
    badges: tuple[BadgeAwarded, ...] = ()
    tier_changes: tuple[TierChange, ...] = ()
    notifications: tuple[Notification, ...] = ()
    draw_entries: tuple[DrawEntry, ...] = ()
    points_changes: tuple[PointsChange, ...] = ()
    budgets_released: tuple[BudgetRelease, ...] = ()
    referral_owed: str | None = None
    """The referral code of a referrer this event owes a reward (`Effects.referral_owed`)."""
    _outcome: Outcome | None = field(default=None, repr=False, compare=False)

    @property
    def points(self) -> Decimal:
        """All points given (`totals.points`)."""
        return self.totals.points

    @property
    def effects(self) -> Effects:
        """The outcome's `Effects`: built (with the whole outcome) on first read."""
        return self.outcome().effects

    @property
    def new_ledger_entries(self) -> list[LedgerEntry]:
        """The ledger entries this event made, in order (`Outcome.ledger`)."""
        return list(self.ledger)

    def recorded_trace(self) -> Sequence[RuleTrace | Verdict]:
        """The trace's entries as the stages recorded them (`RuleTraces.entries`): read without
        making their models."""
        trace = self.trace
        return trace.entries if type(trace) is RuleTraces else trace

    def ledger_points(self) -> list[tuple[str, Decimal]]:
        """Each ledger entry's kind and points, in order: what a tally of the books reads
        (`loyalty run`'s totals), without the entries when they are not made yet (a step's
        earn entries need each award's line parts; their points are the awards')."""
        return [(entry.kind, entry.points) for entry in self.ledger]

    def outcome(self) -> Outcome:
        """The pydantic `Outcome` of this event, the same as the engine gave before results were
        slim: for JSON, the CLI, the service's stored answers. Built once, then kept."""
        made = self._outcome
        if made is None:
            made = self._build()
            object.__setattr__(self, "_outcome", made)  # a cache: the result stays as it was
        return made

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """`outcome().model_dump(**options)`: the outcome as data, built on demand."""
        return self.outcome().model_dump(**options)

    def model_dump_json(self, **options: Any) -> str:
        """`outcome().model_dump_json(**options)`: the outcome as JSON, built on demand."""
        return self.outcome().model_dump_json(**options)

    def stored_json(self) -> str:
        """The outcome's JSON without the state: what a store keeps of an event (`Change.outcome`),
        the state being stored on its own. Written from the result's own values (outcome_json.py),
        without building the `Outcome` (most of the cost) unless it is built already; the same text
        as `outcome().model_dump_json(exclude={"state"})`. A step's result (`StreamResult`) is
        written without making its state, which after a step costs more than the step saved."""
        if self._outcome is None:
            try:
                return STORED.write(self)
            except UnexpectedValueError:  # a value the models would write their own way
                return self._build(with_state=False).model_dump_json(exclude={"state"})
        return self._outcome.model_dump_json(exclude={"state"})

    def _build(self, with_state: bool = True) -> Outcome:
        values = {
            "points": [award.model() for award in self.awards],
            "discounts": [discount.model() for discount in self.discounts],
            "free_shipping": self.free_shipping,
            "coupons_issued": list(self.coupons_issued),
            "coupons_redeemed": list(self.coupons_redeemed),
            "badges": list(self.badges),
            "tier_changes": list(self.tier_changes),
            "notifications": list(self.notifications),
            "draw_entries": list(self.draw_entries),
            "points_changes": list(self.points_changes),
            "budgets_released": list(self.budgets_released),
            "referral_owed": self.referral_owed,
        }
        outcome: dict[str, Any] = {
            "program": self.program,
            "version": self.version,
            "event": self.event,
            "customer": self.customer,
            "effects": trusted(Effects, values, _EFFECTS_GIVEN),
            "totals": self.totals,
        }
        if with_state:  # in the fields' order: the JSON's keys follow it
            outcome["state"] = self.state
        outcome["ledger"] = list(self.ledger)
        outcome["trace"] = list(self.trace)
        outcome["tier_progress"] = self.tier_progress
        return Outcome.model_construct(**outcome)


_RESULT_SLOTS = _twin(Result)


def settled(
    program: str,
    version: int,
    event: str,
    customer: str,
    awards: tuple[Award, ...],
    discounts: tuple[Discount, ...],
    totals: Totals,
    state: CustomerState,
    ledger: tuple[LedgerEntry, ...],
    trace: Sequence[RuleTrace],
    tier_progress: TierProgress | None,
    free_shipping: FreeShipping | None,
    coupons_issued: tuple[CouponIssued, ...],
    coupons_redeemed: tuple[str, ...],
    badges: tuple[BadgeAwarded, ...],
    tier_changes: tuple[TierChange, ...],
    notifications: tuple[Notification, ...],
    draw_entries: tuple[DrawEntry, ...],
    points_changes: tuple[PointsChange, ...],
    budgets_released: tuple[BudgetRelease, ...],
    referral_owed: str | None,
    kind: type[Result] | None = None,
) -> Result:
    """`Result(...)` of every field, its slots set directly (`_twin`: 19.0k → 6.9k instructions a
    result, counted): the frozen dataclass's `__init__` sets its 22 fields one `object.__setattr__`
    at a time, at every event."""
    made = _new(_RESULT_SLOTS)
    made.program = program
    made.version = version
    made.event = event
    made.customer = customer
    made.awards = awards
    made.discounts = discounts
    made.totals = totals
    made.state = state
    made.ledger = ledger
    made.trace = trace
    made.tier_progress = tier_progress
    made.free_shipping = free_shipping
    made.coupons_issued = coupons_issued
    made.coupons_redeemed = coupons_redeemed
    made.badges = badges
    made.tier_changes = tier_changes
    made.notifications = notifications
    made.draw_entries = draw_entries
    made.points_changes = points_changes
    made.budgets_released = budgets_released
    made.referral_owed = referral_owed
    made._outcome = None
    made.__class__ = kind or Result
    return made  # type: ignore[no-any-return]
