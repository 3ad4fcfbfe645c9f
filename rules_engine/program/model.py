"""The program model: the program itself, its settings, earn rules and discounts.

This is the single source of truth for the file format: `schemas/program.schema.json` is
generated from `Program`, and the loader's data is validated into it. Models are frozen and refuse
unknown fields. Field names are the YAML keys (snake_case, no aliases). Cross-references (a
reward naming a badge, a coupon, a draw) and every expression are checked afterwards, by the
stages `rules_engine.program.validate` runs (`references`, `compile`), which know where in the
file each value came from.

The format is one pydantic class per section, in four modules: `parts` (the pieces every section
shares: schedules, caps, limits, rewards), `tiers`, `mechanics` (challenges, quests, badges,
streaks, the referral, coupons, offers, the catalog, draws, leaderboards, notifications) and this
one. Every class is importable from here, as it was before the split.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator, model_validator

from rules_engine.dsl.context import STANDARD_ATTRIBUTES
from rules_engine.dsl.types import TYPE_NAMES, parse_type_name
from rules_engine.errors import shown
from rules_engine.program.mechanics import (
    Badge,
    Birthday,
    CatalogItem,
    Challenge,
    Coupon,
    Draw,
    Leaderboard,
    NextBestOffer,
    Notifications,
    Offer,
    Quest,
    QuestStep,
    Referral,
    ReferralFraud,
    Reminder,
    Streak,
    StreakMilestone,
)
from rules_engine.program.parts import (
    Budget,
    Cap,
    DrawEntries,
    Hours,
    Limit,
    Model,
    Notify,
    Reward,
    Schedule,
)
from rules_engine.program.tiers import HoldFor, RemovedTiers, TierBenefits, TierLevel, Tiers
from rules_engine.program.types import (
    CURRENCY_PATTERN,
    Condition,
    Duration,
    EarnRate,
    EventType,
    Expr,
    Id,
    ItemCondition,
    Money,
    Multiplier,
    NumberExpr,
    Percent,
)
from rules_engine.zones import zone_named

__all__ = [
    "Attributes",
    "Badge",
    "Birthday",
    "Budget",
    "Cap",
    "CatalogItem",
    "Challenge",
    "Coupon",
    "Discount",
    "Draw",
    "DrawEntries",
    "EarnRule",
    "EarningBase",
    "HoldFor",
    "Hours",
    "LateEvents",
    "Leaderboard",
    "Limit",
    "Model",
    "NextBestOffer",
    "Notifications",
    "Notify",
    "Offer",
    "PointsSettings",
    "Program",
    "Quest",
    "QuestStep",
    "Referral",
    "ReferralFraud",
    "Reminder",
    "RemovedTiers",
    "Returns",
    "Reward",
    "Schedule",
    "Streak",
    "StreakMilestone",
    "TierBenefits",
    "TierLevel",
    "Tiers",
]


# -- identity, context extensions ---------------------------------------------------------------


class Attributes(Model):
    """Custom attributes a program's expressions may read, with their types.

    Types: number, money, text, bool, date, time, datetime, duration, list[text], list[number].
    A declared attribute is optional: absent data reads as null.
    """

    item: dict[str, str] = Field(default_factory=dict, examples=[{"brand": "text"}])
    """Extra attributes of basket lines, e.g. `brand`."""
    customer: dict[str, str] = Field(default_factory=dict, examples=[{"birthday_month": "number"}])
    """Extra attributes of the customer."""
    event: dict[str, str] = Field(default_factory=dict, examples=[{"campaign": "text"}])
    """Extra attributes of events."""
    basket: dict[str, str] = Field(default_factory=dict, examples=[{"delivery": "text"}])
    """Extra attributes of the basket."""

    @field_validator("item", "customer", "event", "basket")
    @classmethod
    def _types(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        standard = STANDARD_ATTRIBUTES[str(info.field_name)]
        for name, type_name in value.items():
            if name in standard:
                raise ValueError(f"`{name}` is a standard attribute of {info.field_name}; use another name")
            if parse_type_name(type_name) is None:
                raise ValueError(
                    f"unknown type `{type_name}` for `{name}`; use one of: {', '.join(TYPE_NAMES)}"
                )
        return value


class PointsSettings(Model):
    """The points currency: its name, rounding, life cycle and value."""

    name: str = Field(default="points", examples=["beans"])
    """What the points are called, for receipts and messages."""
    rounding: Literal["floor", "round", "ceil"] = Field(default="floor", examples=["floor"])
    """How fractional points of an award are rounded: `round` is half away from zero."""
    round: Literal["per_award", "per_rule", "per_line"] = Field(default="per_award", examples=["per_award"])
    """Where fractional points are rounded: once for the event's whole award after multipliers
    (`per_award`), each rule's points on their own (`per_rule`, a multiplier multiplying the
    rounded points: ×2 on 15.6 gives 15 + 15), or each line's (`per_line`)."""
    pending: Duration | None = Field(default=None, examples=["14d"])
    """Earned points wait this long before they can be spent (e.g. the return window)."""
    expire_after: Duration | None = Field(default=None, examples=["365d"])
    """Points expire this long after they were earned, oldest first. Omit for never."""
    value: Money | None = Field(default=None, examples=[0.5])
    """What one point is worth in the program's currency, for the points liability in the books.
    Unset, the books count points but give them no value (and `validate` warns, RE128)."""
    negative_balance: Literal["allow", "write_off"] = Field(default="allow", examples=["allow"])
    """When a return takes back points already spent: keep a negative balance (`allow`) or write it off."""


class EarningBase(Model):
    """Which money earns points. Points are always earned on what is paid after discounts."""

    include_tax: bool = Field(default=True, examples=[True])
    """Whether tax included in prices earns points."""
    include_shipping: bool = Field(default=False, examples=[False])
    """Whether shipping charges earn points."""
    include_paid_with_points: bool = Field(default=False, examples=[False])
    """Whether the part of the basket paid with points earns points."""
    exclude: ItemCondition | None = Field(default=None, examples=['item.category == "gift_card"'])
    """Lines that never earn points, e.g. gift cards: item.category == "gift_card"."""


class Returns(Model):
    """How long after a purchase a return still takes back what it earned."""

    within: Duration = Field(examples=["30d"])
    """A return at or after `purchase time + within` takes nothing back (traced). Past it, the
    purchase's emptied lots and the line detail of its lots leave the customer's state."""


class LateEvents(Model):
    """How late a customer's event may arrive, after a later one of theirs, and still be applied."""

    accept_within: Duration = Field(examples=["7d"])
    """An event dated at most this long before the customer's latest event is applied at its own
    time (its points expire, or become available, as they would have); an older one is refused
    (RE440, saying how late it is)."""


# -- earning and discounts -----------------------------------------------------------------------


class EarnRule(Model):
    """A rule that gives points. Exactly one of `rate`, `award` or `multiply` says how many.

    - `rate`: points per amount of the eligible basket (after discounts, on the earning base).
    - `award`: a fixed number or an expression; with `for_each_item`, once per matching line.
    - `multiply`: multiplies the points of the other rules of this event (with `for_each_item`,
      only the points of the matching lines; see docs/programs.md).
    """

    id: Id = Field(examples=["double-tuesday"])
    """Stable id; traces, ledgers and caps refer to it."""
    description: str | None = Field(default=None, examples=["1 bean per 100 RUB"])
    """What the rule is for, in words."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"], examples=[["purchase"]])
    """Event types the rule applies to."""
    when: Condition | None = Field(default=None, examples=['event.time.weekday == "tue"'])
    """The rule applies only when this holds."""
    for_each_item: ItemCondition | None = Field(default=None, examples=['item.category == "pastry"'])
    """Makes the rule per line: an `award` is given on every basket line for which this holds; a
    `multiply` multiplies only the points those lines earned."""
    exclude: ItemCondition | None = Field(default=None, examples=['item.category == "tobacco"'])
    """Lines that do not count for this rule."""
    rate: EarnRate | None = Field(default=None, examples=["1 per 100"])
    """Points per amount: "1 per 100" gives 1 point per 100 of eligible spend."""
    award: Annotated[NumberExpr, Expr("number", per_item="for_each_item")] | None = Field(
        default=None, examples=[10]
    )
    """Points given: a number, or an expression (with `item` in scope for per-line rules)."""
    multiply: Multiplier | None = Field(default=None, examples=[2])
    """Multiplies the points other rules give for the same event."""
    active: list[Schedule] | Schedule | None = Field(
        default=None, examples=[{"start": "2026-12-01", "end": "2026-12-31"}]
    )
    """When the rule is active; a list means any of the schedules."""
    cap: Cap | None = Field(default=None, examples=[{"per_day": 50}])
    """Per-customer limits on the points this rule gives."""
    budget: Budget | None = Field(default=None, examples=[{"points": 100000, "period": "month"}])
    """Program-wide limit on the points this rule gives."""
    priority: int = Field(default=0, examples=[10])
    """Higher priority rules are decided first; within an exclusive group, the highest that fires wins."""
    group: Id | None = Field(default=None, examples=["weekend-promos"])
    """Exclusive group: of the rules sharing a group, only the one with the highest priority applies."""

    @model_validator(mode="after")
    def _one_way_to_count(self) -> EarnRule:
        given = [name for name in ("rate", "award", "multiply") if getattr(self, name) is not None]
        if len(given) != 1:
            chosen = ", ".join(given) if given else "none"
            raise ValueError(
                f"an earn rule says how many points with exactly one of rate, award or multiply "
                f"(this one has: {chosen})"
            )
        if self.rate is not None and self.for_each_item is not None:
            raise ValueError(
                "a rate applies to the basket; for per-line points use `award` with `for_each_item`"
            )
        return self


class Discount(Model):
    """A price reduction applied at checkout: percent or amount, on the basket or on matching lines."""

    id: Id = Field(examples=["free-delivery"])
    """Stable id."""
    description: str | None = Field(default=None, examples=["20% off a second coffee in the same order"])
    """What the discount is for, in words."""
    when: Condition | None = Field(default=None, examples=["basket.total >= 100"])
    """The discount applies only when this holds."""
    applies_to: ItemCondition | None = Field(default=None, examples=['item.category == "coffee"'])
    """Lines the discount applies to; omit for the whole basket."""
    percent: Percent | None = Field(default=None, examples=[20])
    """Percent off the price."""
    amount: Money | None = Field(default=None, examples=[5])
    """Money off (once per basket, or once per matching line with `applies_to`; `per` says otherwise)."""
    per: Literal["line", "unit", "order"] | None = Field(default=None, examples=["unit"])
    """How a fixed `amount` is given: once per matching `line` (the default with `applies_to`),
    once per `unit` of each matching line, or once for the whole `order` (the default without
    `applies_to`), split across the matching lines."""
    free_shipping: bool = Field(default=False, examples=[True])
    """Shipping becomes free."""
    active: list[Schedule] | Schedule | None = Field(default=None, examples=[{"weekdays": ["sat", "sun"]}])
    """When the discount is active."""
    priority: int = Field(default=0, examples=[1])
    """Higher priority discounts are applied first."""
    group: Id | None = Field(default=None, examples=["delivery"])
    """Exclusive group: of the discounts sharing a group, only the highest-priority one applies."""

    @model_validator(mode="after")
    def _something(self) -> Discount:
        if self.percent is None and self.amount is None and not self.free_shipping:
            raise ValueError("a discount gives percent, amount or free_shipping")
        if self.percent is not None and self.amount is not None:
            raise ValueError("a discount gives either percent or amount, not both")
        if self.per is not None and self.amount is None:
            raise ValueError("`per` says how a fixed `amount` is given: it goes with `amount`")
        return self


# -- the program ---------------------------------------------------------------------------------


class Program(Model):
    """A loyalty program: identity, currency and time zone, then its mechanics."""

    program: Id = Field(examples=["coffee-club"])
    """The program's id."""
    name: str | None = Field(default=None, examples=["Coffee Club"])
    """Display name."""
    version: int = Field(ge=1, examples=[3])
    """Increase on every change; ledgers record which version gave each point."""
    timezone: str = Field(examples=["Europe/Moscow"])
    """IANA time zone for schedules, windows and dates."""
    currency: str = Field(pattern=CURRENCY_PATTERN, examples=["RUB"])
    """ISO 4217 currency code."""
    description: str | None = Field(
        default=None, examples=["Earn beans on every cup; gold members earn half as much again."]
    )
    """What the program is, in words."""
    attributes: Attributes = Field(
        default_factory=Attributes,
        examples=[{"item": {"size": "text"}, "customer": {"favourite_drink": "text"}}],
    )
    """Custom attributes your data carries, for expressions."""
    constants: dict[str, str | int | Decimal | bool] = Field(
        default_factory=dict, examples=[{"min_spend": 500}]
    )
    """Named values expressions can use, e.g. min_spend."""
    points: PointsSettings = Field(
        default_factory=PointsSettings,
        examples=[{"name": "beans", "pending": "14d", "expire_after": "365d", "value": 1}],
    )
    """The points currency."""
    earning_base: EarningBase = Field(
        default_factory=EarningBase,
        examples=[{"include_shipping": False, "exclude": 'item.category == "gift_card"'}],
    )
    """Which money earns points."""
    returns: Returns | None = Field(default=None, examples=[{"within": "30d"}])
    """The return window; without it a return of any purchase, however old, takes back its points."""
    late_events: LateEvents | None = Field(default=None, examples=[{"accept_within": "7d"}])
    """How late an event may arrive and still be applied at its own time; without it every event
    dated before its customer's latest one is refused (RE440)."""
    tiers: Tiers | None = Field(
        default=None,
        examples=[
            {
                "qualify_on": "spend",
                "window": "rolling 365d",
                "levels": [
                    {"id": "green", "threshold": 0},
                    {"id": "gold", "threshold": 30000, "benefits": {"earn_multiplier": 1.5}},
                ],
            }
        ],
    )
    """Tiers and their benefits."""
    earn: list[EarnRule] = Field(
        default_factory=list,
        examples=[[{"id": "base", "description": "1 bean per 100 RUB", "rate": "1 per 100"}]],
    )
    """Rules that give points."""
    discounts: list[Discount] = Field(
        default_factory=list,
        examples=[[{"id": "free-delivery", "when": "basket.total >= 100", "free_shipping": True}]],
    )
    """Price reductions at checkout, including free delivery."""
    challenges: list[Challenge] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "id": "five-coffees-a-week",
                    "counts": 'count(item.category == "coffee" for item in basket.items)',
                    "goal": 5,
                    "window": "calendar_week",
                    "reward": {"points": 100},
                }
            ]
        ],
    )
    """Goals within a limited time."""
    quests: list[Quest] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "id": "breakfast-explorer",
                    "within": "30d",
                    "steps": [
                        {"when": 'any(item.category == "coffee" for item in basket.items)'},
                        {"on": "review"},
                    ],
                    "reward": {"points": 200},
                }
            ]
        ],
    )
    """Series of steps rewarded at the end."""
    badges: list[Badge] = Field(
        default_factory=list, examples=[[{"id": "critic", "on": ["review"], "reward": {"points": 20}}]]
    )
    """Badges customers collect."""
    streaks: list[Streak] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "id": "daily-app",
                    "on": "app_open",
                    "unit": "day",
                    "milestones": [{"length": 7, "reward": {"points": 50}}],
                }
            ]
        ],
    )
    """Consecutive days or weeks of an activity."""
    referral: Referral | None = Field(
        default=None,
        examples=[
            {
                "qualifying": "basket.total >= 80",
                "within": "60d",
                "referrer": {"points": 1000},
                "referee": {"points": 200},
                "limit": {"count": 10, "per": "365d"},
            }
        ],
    )
    """Bring-a-friend rewards."""
    coupons: list[Coupon] = Field(
        default_factory=list,
        examples=[
            [{"id": "lens-15", "percent": 15, "applies_to": 'item.category == "lens"', "valid_for": "30d"}]
        ],
    )
    """Coupon definitions, referred to by rewards, offers and the catalog."""
    offers: list[Offer] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "id": "lens-for-camera-owners",
                    "when": 'any(p.category == "camera" for p in customer.purchases)',
                    "coupon": "lens-15",
                    "notify": {"channel": "push", "template": "lens_offer"},
                }
            ]
        ],
    )
    """Personalized offers."""
    next_best_offer: NextBestOffer | None = Field(
        default=None, examples=[{"by": "priority", "at_most": {"count": 1, "per": "7d"}}]
    )
    """When several offers are eligible, issue only the best; without it, every eligible offer is
    issued."""
    birthday: Birthday | None = Field(
        default=None, examples=[{"window": "around", "days": 7, "reward": {"points": 200}}]
    )
    """A birthday reward, once a year."""
    catalog: list[CatalogItem] = Field(
        default_factory=list,
        examples=[
            [
                {
                    "id": "draw-ticket",
                    "name": "A ticket for the New Year draw",
                    "cost": 100,
                    "reward": {"entries": {"draw": "new-year-draw"}},
                }
            ]
        ],
    )
    """What points can be spent on."""
    draws: list[Draw] = Field(
        default_factory=list,
        examples=[[{"id": "new-year-draw", "closes": "2026-12-31", "winners": 3, "prize": "A 65-inch TV"}]],
    )
    """Prize draws."""
    leaderboards: list[Leaderboard] = Field(
        default_factory=list,
        examples=[[{"id": "monthly", "metric": "points", "window": "calendar_month", "size": 20}]],
    )
    """Rankings of customers."""
    notifications: Notifications = Field(
        default_factory=Notifications,
        examples=[
            {
                "frequency_cap": {"count": 3, "per": "7d"},
                "points_expiring": {"before": "14d", "channel": "push", "template": "beans_expiring"},
            }
        ],
    )
    """Messaging settings."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        if zone_named(value) is None:
            import difflib
            from zoneinfo import available_timezones

            close = difflib.get_close_matches(value, sorted(available_timezones()), n=1, cutoff=0.8)
            advice = f"did you mean {close[0]}?" if close else "use an IANA name such as Europe/Moscow"
            raise ValueError(f"unknown time zone `{shown(value)}`; {advice}")
        return value

    @field_validator("constants")
    @classmethod
    def _constant_names(cls, value: dict[str, object]) -> dict[str, object]:
        import re

        for name in value:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise ValueError(f"constant name `{name}` must be lower_snake_case")
            if name in ("event", "basket", "customer", "item", "true", "false", "null"):
                raise ValueError(f"`{name}` is a built-in name; choose another constant name")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def today(self, moment: dt.datetime) -> dt.date:
        """The program-local date of a moment."""
        return moment.astimezone(self.zone).date()
