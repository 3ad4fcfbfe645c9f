"""What `Engine.process` returns: a slim immutable result, the pydantic `Outcome` only when asked.

Deciding an event used to end in an `Outcome` of ~40 pydantic models (an award, each of its line
shares, each discount line, the totals, the effects), JSON-ready whether or not anyone read them.
A service that stores the new state and answers with the points needs none of that; a CLI, a
JSON answer or a golden test does. So the engine returns a `Result`: plain immutable data, awards
and discounts with their per-line shares as tuples, and builds the `Outcome` (and from it the
JSON) in `Result.outcome()`, once, when a caller asks.

`result.effects`, `result.totals`, `result.trace`, `result.tier_progress`, `model_dump` and
`model_dump_json` read as the outcome's do, so code written against `Outcome` reads a `Result`
unchanged; `effects` and the dumps build the outcome on first use. A caller that needs the model
itself (to keep it, to put it in an answer) asks for `result.outcome()`.

Input: what settle computed. Output: a `Result`; `outcome()` the `Outcome` of the same event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

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
from rules_engine.engine.trusted import trusted
from rules_engine.state.customer import CustomerState, LedgerEntry

# One line's part of an award (points) or a discount (money): (line index, sku, amount).
Share = tuple[int, str, Decimal]


@dataclass(frozen=True, slots=True)
class Award:
    """Points one rule gave: `PointsAward` without the models (its `lines` are `Share`s)."""

    rule: str
    points: Decimal
    lines: tuple[Share, ...]
    available_at: dt.datetime | None = None

    def model(self) -> PointsAward:
        values = {
            "rule": self.rule,
            "points": self.points,
            "lines": _line_shares(self.lines),
            "available_at": self.available_at,
        }
        return trusted(PointsAward, values, _AWARD_GIVEN)


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


def _line_shares(shares: tuple[Share, ...]) -> list[LineShare]:
    given = _SHARE_GIVEN
    return [trusted(LineShare, {"line": i, "sku": sku, "amount": amount}, given) for i, sku, amount in shares]


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
    trace: tuple[RuleTrace, ...]
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

    def _build(self) -> Outcome:
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
        effects = trusted(Effects, values, _EFFECTS_GIVEN)
        return Outcome.model_construct(
            program=self.program,
            version=self.version,
            event=self.event,
            customer=self.customer,
            effects=effects,
            totals=self.totals,
            state=self.state,
            ledger=list(self.ledger),
            trace=list(self.trace),
            tier_progress=self.tier_progress,
        )
