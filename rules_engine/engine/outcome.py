"""What processing one event produced: effects, the new state, and the trace of every decision.

All of it is pydantic and JSON-able (`schemas/outcome.schema.json`); numbers are exact and are
written as JSON numbers. Every award and discount is attributed to the basket lines it came from
(`lines`), which is what a later return reverses.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from rules_engine.state.customer import CustomerState, LedgerEntry

Amount = Annotated[Decimal, WithJsonSchema({"type": "number"})]


class OutcomeModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class LineShare(OutcomeModel):
    """The part of an award or a discount that one basket line accounts for."""

    line: int
    """Index of the line in the event's items (0-based)."""
    sku: str
    """Its product code."""
    amount: Amount
    """Points (for awards) or money (for discounts)."""


class PointsAward(OutcomeModel):
    """Points one rule gave for this event."""

    rule: str
    """The earn rule's id; `tier:<id>` for a tier's earn multiplier."""
    points: Amount
    """Points given, rounded as the program says."""
    lines: list[LineShare] = Field(default_factory=list)
    """Which lines the points came from; they add up to `points`."""
    available_at: dt.datetime | None = None
    """When the points become spendable (after the pending period)."""


class DiscountEffect(OutcomeModel):
    """Money taken off by a discount, a coupon or a tier benefit."""

    rule: str
    """The discount's id, `coupon:<code>`, or `tier:<id>`."""
    amount: Amount
    """Money off."""
    lines: list[LineShare] = Field(default_factory=list)
    """Which lines the money came off; they add up to `amount`."""


class FreeShipping(OutcomeModel):
    rule: str
    """What made shipping free."""
    amount: Amount
    """Shipping waived."""


class CouponIssued(OutcomeModel):
    rule: str
    coupon: str
    code: str
    expires_at: dt.datetime


class BadgeAwarded(OutcomeModel):
    rule: str
    badge: str


class TierChange(OutcomeModel):
    """A move between tiers: an upgrade when the metric reached a level, a downgrade at review."""

    old: str | None
    """The tier before (null: none)."""
    new: str | None
    """The tier after (null: none)."""
    reason: str
    """Why, in words."""


class TierProgress(OutcomeModel):
    """Where the customer stands after the event: the metric in the window and the next tier."""

    tier: str | None
    """The tier after the event."""
    metric: Amount
    """The qualifying metric in the current window."""
    window: str
    """The window it is counted in."""
    next: str | None
    """The next tier up (null at the top)."""
    needed: Amount | None
    """How much more of the metric reaches it."""


class Notification(OutcomeModel):
    rule: str
    channel: str
    template: str
    at: dt.datetime | None = None
    """When it goes out, for a message that waited (quiet hours, the frequency cap) and went out
    before this event or `advance`; null: with this event."""


class DrawEntry(OutcomeModel):
    rule: str
    draw: str
    count: int


class PointsChange(OutcomeModel):
    """What time or spending did to a lot of points before or during this event."""

    kind: Literal["event", "available", "expire", "burn", "reverse", "refund"]
    """`available`: its pending period ended; `expire`: it expired; `burn`: spent; `reverse`:
    taken back by a return; `refund`: points that paid for returned lines, given back."""
    lot: str
    """The lot (`<event>/<rule>` that earned it)."""
    points: Amount
    """How many points."""
    at: dt.datetime
    """When it happened."""


class BudgetRelease(OutcomeModel):
    """Points a return gave back to a rule's program-wide budget (docs/engine.md, Returns)."""

    rule: str
    """The earn rule whose budget it is."""
    period: str
    """The budget's period key the award was counted in (`lifetime`, `month:2026-12` …)."""
    points: Amount
    """How many points the budget can give again."""


class Effects(OutcomeModel):
    """Everything the event gives or changes, by kind."""

    points: list[PointsAward] = Field(default_factory=list)
    discounts: list[DiscountEffect] = Field(default_factory=list)
    free_shipping: FreeShipping | None = None
    coupons_issued: list[CouponIssued] = Field(default_factory=list)
    coupons_redeemed: list[str] = Field(default_factory=list)
    badges: list[BadgeAwarded] = Field(default_factory=list)
    tier_changes: list[TierChange] = Field(default_factory=list)
    notifications: list[Notification] = Field(default_factory=list)
    draw_entries: list[DrawEntry] = Field(default_factory=list)
    points_changes: list[PointsChange] = Field(default_factory=list)
    """Pending points that became available, expired lots, points spent — in time order."""
    budgets_released: list[BudgetRelease] = Field(default_factory=list)
    """What a return gave back to program-wide budgets: a store subtracts it from their spending,
    in the return's own transaction (so exactly once)."""
    referral_owed: str | None = None
    """The referral code of a referrer this event (a referee's qualifying purchase) owes a reward:
    the caller sends them a `referral_reward` event, as a store-backed service does."""


class Totals(OutcomeModel):
    """The money and points of the event at a glance."""

    basket: Amount = Decimal(0)
    """Sum of the lines before program discounts."""
    discount: Amount = Decimal(0)
    """Money taken off the lines."""
    shipping: Amount = Decimal(0)
    """Shipping charged after a free-shipping benefit."""
    to_pay: Amount = Decimal(0)
    """What the customer pays: lines after discounts, plus shipping."""
    earning_base: Amount = Decimal(0)
    """The money that earns points."""
    points: Amount = Decimal(0)
    """All points given."""


class ExplainNode(OutcomeModel):
    """One sub-expression of a condition with its value (`--explain`)."""

    text: str
    value: Any = None
    note: str | None = None
    children: list[ExplainNode] = Field(default_factory=list)


TraceCode = Literal[
    "fired",
    "wrong_event",
    "outside_schedule",
    "condition_false",
    "shadowed",
    "capped",
    "budget_exhausted",
    "nothing_eligible",
    "coupon_invalid",
    "duplicate",
    "fraud_check",
]


class RuleTrace(OutcomeModel):
    """Why a rule did or did not give something."""

    rule: str
    """The rule's id."""
    kind: Literal[
        "event",
        "earn",
        "discount",
        "coupon",
        "tier",
        "catalog",
        "return",
        "challenge",
        "quest",
        "badge",
        "streak",
        "referral",
        "offer",
        "notification",
        "birthday",
        "tender",
    ]
    """What sort of rule (`tender`: points paid for a purchase, or given back by its return)."""
    fired: bool
    """Whether it gave anything."""
    code: TraceCode
    """A stable reason code."""
    reason: str
    """The reason in words."""
    failing: list[str] = Field(default_factory=list)
    """For a condition that failed: its false parts with the values they saw."""
    hint: str | None = None
    """What would have made it fire, when that is a simple threshold."""
    amount: Amount | None = None
    """Points given (earn) or money off (discount); `unit` says which."""
    unit: Literal["points", "money"] | None = None
    """What `amount` counts."""
    condition: ExplainNode | None = None
    """The whole condition with every value (only with explain)."""


class Outcome(OutcomeModel):
    """The result of processing one event."""

    program: str
    version: int
    event: str
    customer: str
    effects: Effects
    totals: Totals
    state: CustomerState
    """The customer's state after the event."""
    ledger: list[LedgerEntry] = Field(default_factory=list)
    """The ledger entries the event made (earn, burn, expire, reverse), in order, each naming
    this event: what a store appends to its ledger. The state keeps no ledger: the points in its
    lots equal the sum of every entry its events ever made."""
    trace: list[RuleTrace]
    """Every rule, in the order it was decided."""
    tier_progress: TierProgress | None = None
    """Progress to the next tier, when the program has tiers."""

    @property
    def new_ledger_entries(self) -> list[LedgerEntry]:
        """The ledger entries this event made, in order (`ledger`)."""
        return self.ledger
