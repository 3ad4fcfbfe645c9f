"""The program model: one pydantic class per section of a program file.

This is the single source of truth for the file format: `schemas/program.schema.json` is
generated from it, and the loader's data is validated into it. Models are frozen and refuse
unknown fields. Field names are the YAML keys (snake_case, no aliases). Cross-references (a
reward naming a badge, a coupon, a draw) and every expression are checked afterwards, by
`rules_engine.program.validate`, which knows where in the file each value came from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rules_engine.dsl.context import STANDARD_ATTRIBUTES
from rules_engine.dsl.types import TYPE_NAMES, parse_type_name
from rules_engine.program.types import (
    Condition,
    Count,
    Date,
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
    PeriodWindow,
    Points,
    TimeOfDay,
    Weekday,
)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


# -- shared pieces ------------------------------------------------------------------------------


class Hours(Model):
    """A daily time range in the program's timezone; `end` is exclusive."""

    start: TimeOfDay = Field(examples=["07:00"])
    """From this time of day (inclusive)."""
    end: TimeOfDay = Field(examples=["10:00"])
    """Until this time of day (exclusive). An end before the start spans midnight."""


class Schedule(Model):
    """When a rule is active, in the program's timezone. Every part given must hold."""

    start: Date | None = Field(default=None, examples=["2026-12-01"])
    """First day the rule applies (inclusive)."""
    end: Date | None = Field(default=None, examples=["2026-12-31"])
    """Last day the rule applies (inclusive)."""
    weekdays: list[Weekday] | None = Field(default=None, examples=[["sat", "sun"]])
    """Days of the week the rule applies."""
    hours: Hours | None = None
    """Hours of the day the rule applies."""

    @model_validator(mode="after")
    def _order(self) -> Schedule:
        if self.start and self.end and self.end < self.start:
            raise ValueError("the schedule ends before it starts; swap `start` and `end`")
        return self


class Cap(Model):
    """Upper limits on the points one rule gives one customer."""

    per_event: Points | None = Field(default=None, examples=[200])
    """At most this many points from one event."""
    per_day: Points | None = Field(default=None, examples=[50])
    """At most this many points per calendar day."""
    per_week: Points | None = Field(default=None, examples=[300])
    """At most this many points per calendar week (Monday to Sunday)."""
    per_month: Points | None = Field(default=None, examples=[1000])
    """At most this many points per calendar month."""
    per_year: Points | None = Field(default=None, examples=[10000])
    """At most this many points per calendar year."""
    lifetime: Points | None = Field(default=None, examples=[500])
    """At most this many points ever."""


class Budget(Model):
    """A program-wide limit on what one rule may give out, across all customers."""

    points: Points = Field(examples=[100000])
    """Points the rule may give out in each period."""
    period: Literal["day", "week", "month", "year", "program"] = Field(default="program", examples=["month"])
    """Over what period the budget is counted; `program` means ever."""


class Limit(Model):
    """How often something may happen: `count` times per `per`."""

    count: Count = Field(examples=[10])
    """The number of times."""
    per: Duration | None = Field(default=None, examples=["365d"])
    """Within this rolling period; omit for ever."""


class DrawEntries(Model):
    """Entries into a prize draw."""

    draw: Id = Field(examples=["winter-draw"])
    """The draw, by its id in `draws`."""
    count: Count = Field(default=1, examples=[1])
    """How many entries."""


class Reward(Model):
    """What a customer receives; any combination of the parts."""

    points: Points | None = Field(default=None, examples=[100])
    """Points credited."""
    badge: Id | None = Field(default=None, examples=["coffee-lover"])
    """A badge, by its id in `badges`."""
    coupon: Id | None = Field(default=None, examples=["welcome-10"])
    """A coupon, by its id in `coupons`."""
    entries: DrawEntries | None = None
    """Entries into a prize draw."""

    @model_validator(mode="after")
    def _not_empty(self) -> Reward:
        if self.points is None and self.badge is None and self.coupon is None and self.entries is None:
            raise ValueError("a reward gives something: points, a badge, a coupon or draw entries")
        return self


class Notify(Model):
    """A message to the customer."""

    channel: Literal["push", "email", "sms"] = Field(examples=["push"])
    """How the message is sent."""
    template: Id = Field(examples=["lens_offer"])
    """The message template, by the id your messaging system knows it by."""


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
    pending: Duration | None = Field(default=None, examples=["14d"])
    """Earned points wait this long before they can be spent (e.g. the return window)."""
    expire_after: Duration | None = Field(default=None, examples=["365d"])
    """Points expire this long after they were earned, oldest first. Omit for never."""
    value: Money = Field(default=Decimal("0"), examples=[0.5])
    """What one point is worth in the program's currency, for the points liability in the books."""
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
    exclude: ItemCondition | None = None
    """Lines that never earn points, e.g. gift cards: item.category == "gift_card"."""


# -- tiers ---------------------------------------------------------------------------------------


class TierBenefits(Model):
    """What members of a tier get."""

    earn_multiplier: Multiplier | None = Field(default=None, examples=[1.5])
    """Points from earn rules are multiplied by this."""
    free_shipping: bool = Field(default=False, examples=[True])
    """Shipping is free on every purchase."""
    discount_percent: Percent | None = Field(default=None, examples=[5])
    """A standing discount on every purchase."""
    perks: list[str] = Field(default_factory=list, examples=[["early access to sales"]])
    """Other privileges, shown to customers but not computed by the engine."""


class TierLevel(Model):
    """One tier and the threshold of the qualifying metric that reaches it."""

    id: Id = Field(examples=["gold"])
    """Stable id, used in expressions as customer.tier."""
    name: str | None = Field(default=None, examples=["Gold"])
    """Display name."""
    threshold: Money = Field(examples=[30000])
    """The qualifying metric (spend, points or visits) at which the tier is reached."""
    benefits: TierBenefits = Field(default_factory=TierBenefits)
    """What members get."""


class Tiers(Model):
    """Tiers (levels) customers qualify for by spend, points or visits within a window."""

    qualify_on: Literal["spend", "points", "visits"] = Field(examples=["spend"])
    """The metric that qualifies: money spent, points earned, or number of purchases."""
    window: PeriodWindow = Field(examples=["rolling 365d"])
    """Over what period the metric is counted."""
    levels: list[TierLevel] = Field(min_length=1)
    """The tiers, lowest first; the first usually has threshold 0."""
    downgrade: Literal["one_level", "to_qualified"] = Field(default="one_level", examples=["one_level"])
    """At the end of a period, drop one level at a time, or straight to the level the metric supports."""
    downgrade_grace: Duration | None = Field(default=None, examples=["30d"])
    """Extra time after the period ends before a downgrade happens."""


# -- earning and discounts -----------------------------------------------------------------------


class EarnRule(Model):
    """A rule that gives points. Exactly one of `rate`, `award` or `multiply` says how many.

    - `rate`: points per amount of the eligible basket (after discounts, on the earning base).
    - `award`: a fixed number or an expression; with `for_each_item`, once per matching line.
    - `multiply`: multiplies the points of the other rules of this event (see docs/programs.md).
    """

    id: Id
    """Stable id; traces, ledgers and caps refer to it."""
    description: str | None = Field(default=None, examples=["1 bean per 100 RUB"])
    """What the rule is for, in words."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"], examples=[["purchase"]])
    """Event types the rule applies to."""
    when: Condition | None = None
    """The rule applies only when this holds."""
    for_each_item: ItemCondition | None = None
    """Makes the rule per line: it applies to every basket line for which this holds."""
    exclude: ItemCondition | None = None
    """Lines that do not count for this rule."""
    rate: EarnRate | None = None
    """Points per amount: "1 per 100" gives 1 point per 100 of eligible spend."""
    award: Annotated[NumberExpr, Expr("number", per_item="for_each_item")] | None = None
    """Points given: a number, or an expression (with `item` in scope for per-line rules)."""
    multiply: Multiplier | None = None
    """Multiplies the points other rules give for the same event."""
    active: list[Schedule] | Schedule | None = None
    """When the rule is active; a list means any of the schedules."""
    cap: Cap | None = None
    """Per-customer limits on the points this rule gives."""
    budget: Budget | None = None
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

    id: Id
    """Stable id."""
    description: str | None = None
    """What the discount is for, in words."""
    when: Condition | None = None
    """The discount applies only when this holds."""
    applies_to: ItemCondition | None = None
    """Lines the discount applies to; omit for the whole basket."""
    percent: Percent | None = None
    """Percent off the price."""
    amount: Money | None = None
    """Money off (once per basket, or once per matching line with `applies_to`)."""
    free_shipping: bool = False
    """Shipping becomes free."""
    active: list[Schedule] | Schedule | None = None
    """When the discount is active."""
    priority: int = 0
    """Higher priority discounts are applied first."""
    group: Id | None = None
    """Exclusive group: of the discounts sharing a group, only the highest-priority one applies."""

    @model_validator(mode="after")
    def _something(self) -> Discount:
        if self.percent is None and self.amount is None and not self.free_shipping:
            raise ValueError("a discount gives percent, amount or free_shipping")
        if self.percent is not None and self.amount is not None:
            raise ValueError("a discount gives either percent or amount, not both")
        return self


# -- gamification -------------------------------------------------------------------------------


class Challenge(Model):
    """A goal within a limited time: counted or summed over the events in a window."""

    id: Id
    """Stable id."""
    name: str | None = None
    """Display name."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"])
    """Event types that count."""
    when: Condition | None = None
    """Only events for which this holds count."""
    counts: NumberExpr = Field(
        default=1, examples=['count(item.category == "coffee" for item in basket.items)']
    )
    """How much one event adds to the progress; 1 counts events, an expression counts or sums."""
    goal: Points = Field(examples=[5])
    """The progress that completes the challenge."""
    window: PeriodWindow = Field(examples=["calendar_week"])
    """The period progress is counted in; it resets when a new period starts."""
    repeat: Literal["once", "every_window"] = "once"
    """Whether the challenge can be completed once, or once in every window."""
    active: Schedule | None = None
    """When the challenge runs."""
    reward: Reward
    """What completing it gives."""


class QuestStep(Model):
    """One step of a quest: an event of a type, for which a condition holds."""

    id: Id | None = None
    """Optional id, shown in progress."""
    on: EventType = Field(default="purchase", examples=["review"])
    """The event type that completes the step."""
    when: Condition | None = None
    """The condition the event must meet."""


class Quest(Model):
    """A series of steps, rewarded once at the end."""

    id: Id
    """Stable id."""
    name: str | None = None
    """Display name."""
    within: Duration | None = Field(default=None, examples=["30d"])
    """Time limit from the first step; progress resets when it passes."""
    ordered: bool = True
    """Whether the steps must happen in order."""
    steps: list[QuestStep] = Field(min_length=1)
    """The steps."""
    reward: Reward
    """What finishing the quest gives."""


class Badge(Model):
    """A badge, given once: automatically by a condition, or as a reward of another mechanic."""

    id: Id
    """Stable id."""
    name: str | None = None
    """Display name."""
    description: str | None = None
    """What it is for."""
    on: list[EventType] = Field(default_factory=list, examples=[["review"]])
    """Event types that can earn it automatically."""
    when: Condition | None = None
    """Condition that earns it automatically."""
    reward: Reward | None = None
    """Something extra given with the badge."""


class StreakMilestone(Model):
    """A streak length that earns a reward."""

    length: Count = Field(examples=[7])
    """Consecutive days or weeks."""
    reward: Reward
    """What reaching it gives."""


class Streak(Model):
    """Consecutive days or weeks with an event, e.g. opening the app daily."""

    id: Id
    """Stable id."""
    name: str | None = None
    """Display name."""
    on: EventType = Field(default="app_open", examples=["app_open"])
    """The event type that keeps the streak going."""
    when: Condition | None = None
    """Condition the event must meet."""
    unit: Literal["day", "week"] = "day"
    """Days or weeks, in the program's timezone."""
    milestones: list[StreakMilestone] = Field(min_length=1)
    """Rewards for reaching lengths."""
    repeat: bool = False
    """After the last milestone, start over and earn the milestones again."""


class Referral(Model):
    """Bring a friend: both sides are rewarded once the friend makes a qualifying purchase."""

    qualifying: Condition = Field(examples=["basket.total >= 1000"])
    """The friend's purchase that qualifies."""
    within: Duration | None = Field(default=None, examples=["60d"])
    """The friend must qualify within this long after signing up."""
    referrer: Reward
    """What the customer who referred gets."""
    referee: Reward
    """What the friend gets."""
    limit: Limit | None = None
    """How many referrals one customer can be rewarded for."""


class Coupon(Model):
    """A coupon definition: what it gives when presented in a purchase."""

    id: Id
    """Stable id."""
    description: str | None = None
    """What the coupon gives, in words."""
    percent: Percent | None = None
    """Percent off."""
    amount: Money | None = None
    """Money off."""
    free_shipping: bool = False
    """Shipping becomes free."""
    applies_to: ItemCondition | None = None
    """Lines the coupon applies to; omit for the whole basket."""
    min_spend: Money | None = None
    """The basket must reach this total for the coupon to apply."""
    valid_for: Duration = Field(examples=["30d"])
    """How long after it is issued the coupon can be used."""
    single_use: bool = True
    """Whether the coupon is used up by one purchase."""

    @model_validator(mode="after")
    def _something(self) -> Coupon:
        if self.percent is None and self.amount is None and not self.free_shipping:
            raise ValueError("a coupon gives percent, amount or free_shipping")
        if self.percent is not None and self.amount is not None:
            raise ValueError("a coupon gives either percent or amount, not both")
        return self


class Offer(Model):
    """A personalized offer: a coupon issued to customers for whom a condition holds."""

    id: Id
    """Stable id."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"])
    """Event types after which the offer is considered."""
    when: Condition
    """Who gets the offer, e.g. camera buyers without a lens."""
    coupon: Id
    """The coupon issued, by its id in `coupons`."""
    skip_bought: bool = Field(default=True)
    """Never offer what the customer already bought (lines matched by the coupon's `applies_to`)."""
    limit: Limit | None = None
    """How often one customer can receive it; default once."""
    notify: Notify | None = None
    """Tell the customer."""
    active: Schedule | None = None
    """When the offer runs."""


class CatalogItem(Model):
    """Something customers can spend points on."""

    id: Id
    """Stable id."""
    name: str
    """Display name."""
    cost: Points = Field(examples=[500])
    """Points it costs."""
    reward: Reward | None = None
    """What redeeming gives, e.g. a coupon; omit for a physical item handed over in store."""
    stock: int | None = Field(default=None, ge=0)
    """How many can be redeemed in all; omit for unlimited."""


class Draw(Model):
    """A closed prize draw: customers collect entries as rewards; winners are drawn when it closes."""

    id: Id
    """Stable id."""
    name: str | None = None
    """Display name."""
    closes: Date
    """Last day entries count."""
    winners: Count = 1
    """How many winners are drawn."""
    prize: str | None = None
    """What the winners get, in words."""


class Leaderboard(Model):
    """A ranking of customers by a metric over a period."""

    id: Id
    """Stable id."""
    metric: Literal["points", "spend", "visits"]
    """What customers are ranked by."""
    window: PeriodWindow
    """The period counted."""
    size: Count = 10
    """How many places are shown."""


class Reminder(Model):
    """A reminder sent ahead of something happening to the customer."""

    before: Duration = Field(examples=["14d"])
    """How long before."""
    channel: Literal["push", "email", "sms"] = "email"
    """How it is sent."""
    template: Id
    """Message template id."""


class Notifications(Model):
    """How the program talks to customers without pestering them."""

    frequency_cap: Limit | None = None
    """At most this many messages per customer per period; further ones are suppressed (and traced)."""
    points_expiring: Reminder | None = None
    """Reminder before points expire."""
    tier_downgrade: Reminder | None = None
    """Reminder before a tier downgrade."""


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
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["RUB"])
    """ISO 4217 currency code."""
    description: str | None = None
    """What the program is, in words."""
    attributes: Attributes = Field(default_factory=Attributes)
    """Custom attributes your data carries, for expressions."""
    constants: dict[str, str | int | Decimal | bool] = Field(
        default_factory=dict, examples=[{"min_spend": 500}]
    )
    """Named values expressions can use, e.g. min_spend."""
    points: PointsSettings = Field(default_factory=PointsSettings)
    """The points currency."""
    earning_base: EarningBase = Field(default_factory=EarningBase)
    """Which money earns points."""
    tiers: Tiers | None = None
    """Tiers and their benefits."""
    earn: list[EarnRule] = Field(default_factory=list)
    """Rules that give points."""
    discounts: list[Discount] = Field(default_factory=list)
    """Price reductions at checkout, including free delivery."""
    challenges: list[Challenge] = Field(default_factory=list)
    """Goals within a limited time."""
    quests: list[Quest] = Field(default_factory=list)
    """Series of steps rewarded at the end."""
    badges: list[Badge] = Field(default_factory=list)
    """Badges customers collect."""
    streaks: list[Streak] = Field(default_factory=list)
    """Consecutive days or weeks of an activity."""
    referral: Referral | None = None
    """Bring-a-friend rewards."""
    coupons: list[Coupon] = Field(default_factory=list)
    """Coupon definitions, referred to by rewards, offers and the catalog."""
    offers: list[Offer] = Field(default_factory=list)
    """Personalized offers."""
    catalog: list[CatalogItem] = Field(default_factory=list)
    """What points can be spent on."""
    draws: list[Draw] = Field(default_factory=list)
    """Prize draws."""
    leaderboards: list[Leaderboard] = Field(default_factory=list)
    """Rankings of customers."""
    notifications: Notifications = Field(default_factory=Notifications)
    """Messaging settings."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone `{value}`; use an IANA name such as Europe/Moscow") from None
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
