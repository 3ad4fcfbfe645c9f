"""The program model: one pydantic class per section of a program file.

This is the single source of truth for the file format: `schemas/program.schema.json` is
generated from it, and the loader's data is validated into it. Models are frozen and refuse
unknown fields. Field names are the YAML keys (snake_case, no aliases). Cross-references (a
reward naming a badge, a coupon, a draw) and every expression are checked afterwards, by the
stages `rules_engine.program.validate` runs (`references`, `compile`), which know where in the
file each value came from.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rules_engine.dsl.context import STANDARD_ATTRIBUTES
from rules_engine.dsl.types import TYPE_NAMES, parse_type_name
from rules_engine.errors import shown
from rules_engine.program.types import (
    CURRENCY_PATTERN,
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
    hours: Hours | None = Field(default=None, examples=[{"start": "07:00", "end": "10:00"}])
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
    entries: DrawEntries | None = Field(default=None, examples=[{"draw": "new-year-draw", "count": 2}])
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
    benefits: TierBenefits = Field(
        default_factory=TierBenefits,
        examples=[{"earn_multiplier": 1.5, "free_shipping": True, "perks": ["free syrup"]}],
    )
    """What members get."""


class RemovedTiers(Model):
    """What happens to the members of a tier a new version of the program removed."""

    move_to: Id | None = Field(examples=["silver"])
    """The tier they move to, at their next event (or `advance`); null: no tier."""


class HoldFor(Model):
    """A tier held for a fixed time from the moment it was reached (or last reviewed)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_attribute_docstrings=True, populate_by_name=True
    )

    for_: Duration = Field(alias="for", examples=["365d"])
    """How long: the review is this long after the tier was reached, plus `downgrade_grace`."""


class Tiers(Model):
    """Tiers (levels) customers qualify for by spend, points or visits within a window."""

    qualify_on: Literal["spend", "points", "visits"] = Field(examples=["spend"])
    """The metric that qualifies: money spent, points earned, or number of purchases."""
    window: PeriodWindow = Field(examples=["rolling 365d"])
    """Over what period the metric is counted."""
    levels: list[TierLevel] = Field(
        min_length=1, examples=[[{"id": "green", "threshold": 0}, {"id": "gold", "threshold": 30000}]]
    )
    """The tiers, lowest first; the first usually has threshold 0."""
    downgrade: Literal["one_level", "to_qualified"] = Field(default="one_level", examples=["one_level"])
    """At the end of a period, drop one level at a time, or straight to the level the metric supports."""
    downgrade_grace: Duration | None = Field(default=None, examples=["30d"])
    """Extra time after the period ends before a downgrade happens."""
    removed_tiers: RemovedTiers | None = Field(default=None, examples=[{"move_to": "silver"}])
    """Where customers go who hold a tier this version no longer has (one an earlier version
    had). Without it, a store whose customers hold such a tier refuses the program (RE613)."""
    hold: Literal["rest_of_period", "next_period"] | HoldFor | None = Field(
        default=None, examples=["rest_of_period", {"for": "365d"}]
    )
    """How long a tier is held before its review: until the end of the calendar period it was
    reached in (`rest_of_period`), through the whole next one (`next_period`), or `{for: 365d}`.
    Unset: `next_period` for a calendar window, one window length for a rolling one."""

    @model_validator(mode="after")
    def _move_to_a_level(self) -> Tiers:
        target = self.removed_tiers.move_to if self.removed_tiers is not None else None
        if target is not None and target not in {level.id for level in self.levels}:
            known = ", ".join(level.id for level in self.levels)
            raise ValueError(f"`removed_tiers.move_to` names no tier of `levels`: {target} (tiers: {known})")
        return self

    @model_validator(mode="after")
    def _hold_fits_the_window(self) -> Tiers:
        if self.hold in ("rest_of_period", "next_period") and self.window.kind in ("rolling", "lifetime"):
            raise ValueError(
                f"`hold: {self.hold}` needs a calendar window (calendar_month, calendar_year …), and "
                f"the window is {self.window}: hold the tier for a time instead, e.g. hold: {{for: 365d}}"
            )
        return self


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


# -- gamification -------------------------------------------------------------------------------


class Challenge(Model):
    """A goal within a limited time: counted or summed over the events in a window."""

    id: Id = Field(examples=["five-coffees-a-week"])
    """Stable id."""
    name: str | None = Field(default=None, examples=["Five coffees a week"])
    """Display name."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"], examples=[["purchase"]])
    """Event types that count."""
    when: Condition | None = Field(
        default=None, examples=['any(item.category == "smart_home" for item in basket.items)']
    )
    """Only events for which this holds count."""
    counts: NumberExpr = Field(
        default=1, examples=['count(item.category == "coffee" for item in basket.items)']
    )
    """How much one event adds to the progress; 1 counts events, an expression counts or sums."""
    goal: Points = Field(examples=[5])
    """The progress that completes the challenge."""
    window: PeriodWindow = Field(examples=["calendar_week"])
    """The period progress is counted in; it resets when a new period starts."""
    repeat: Literal["once", "every_window"] = Field(default="once", examples=["every_window"])
    """Whether the challenge can be completed once, or once in every window."""
    active: Schedule | None = Field(default=None, examples=[{"start": "2026-12-01", "end": "2026-12-31"}])
    """When the challenge runs."""
    reward: Reward = Field(examples=[{"points": 100, "badge": "coffee-lover"}])
    """What completing it gives."""


class QuestStep(Model):
    """One step of a quest: an event of a type, for which a condition holds."""

    id: Id | None = Field(default=None, examples=["coffee"])
    """Optional id, shown in progress."""
    on: EventType = Field(default="purchase", examples=["review"])
    """The event type that completes the step."""
    when: Condition | None = Field(
        default=None, examples=['any(item.category == "coffee" for item in basket.items)']
    )
    """The condition the event must meet."""


class Quest(Model):
    """A series of steps, rewarded once at the end."""

    id: Id = Field(examples=["breakfast-explorer"])
    """Stable id."""
    name: str | None = Field(default=None, examples=["Breakfast explorer"])
    """Display name."""
    within: Duration | None = Field(default=None, examples=["30d"])
    """Time limit from the first step; progress resets when it passes."""
    ordered: bool = Field(default=True, examples=[False])
    """Whether the steps must happen in order."""
    steps: list[QuestStep] = Field(
        min_length=1,
        examples=[
            [
                {"id": "coffee", "when": 'any(item.category == "coffee" for item in basket.items)'},
                {"id": "review", "on": "review"},
            ]
        ],
    )
    """The steps."""
    reward: Reward = Field(examples=[{"points": 200, "badge": "explorer"}])
    """What finishing the quest gives."""


class Badge(Model):
    """A badge, given once: automatically by a condition, or as a reward of another mechanic."""

    id: Id = Field(examples=["coffee-lover"])
    """Stable id."""
    name: str | None = Field(default=None, examples=["Coffee lover"])
    """Display name."""
    description: str | None = Field(default=None, examples=["Five coffees in one week"])
    """What it is for."""
    on: list[EventType] = Field(default_factory=list, examples=[["review"]])
    """Event types that can earn it automatically."""
    when: Condition | None = Field(default=None, examples=["len(customer.purchases) == 0"])
    """Condition that earns it automatically."""
    reward: Reward | None = Field(default=None, examples=[{"points": 20}])
    """Something extra given with the badge."""


class StreakMilestone(Model):
    """A streak length that earns a reward."""

    length: Count = Field(examples=[7])
    """Consecutive days or weeks."""
    reward: Reward = Field(examples=[{"points": 50, "badge": "regular"}])
    """What reaching it gives."""


class Streak(Model):
    """Consecutive days or weeks with an event, e.g. opening the app daily."""

    id: Id = Field(examples=["daily-app"])
    """Stable id."""
    name: str | None = Field(default=None, examples=["Open the app every day"])
    """Display name."""
    on: EventType = Field(default="app_open", examples=["app_open"])
    """The event type that keeps the streak going."""
    when: Condition | None = Field(default=None, examples=['event.channel == "app"'])
    """Condition the event must meet."""
    unit: Literal["day", "week"] = Field(default="day", examples=["day"])
    """Days or weeks, in the program's timezone."""
    milestones: list[StreakMilestone] = Field(
        min_length=1, examples=[[{"length": 7, "reward": {"points": 50}}]]
    )
    """Rewards for reaching lengths."""
    repeat: bool = Field(default=False, examples=[True])
    """After the last milestone, start over and earn the milestones again."""


class ReferralFraud(Model):
    """Fraud checks on a referral, made at the friend's qualifying purchase: each refuses both
    sides' rewards, with its reason in the trace. The fingerprints are optional event fields
    (`device`, `payment`, `household`: hashes the caller computes), kept per customer."""

    same_device: bool = Field(default=False, examples=[True])
    """Refuse when the friend used a device the referrer used (an event's `device`)."""
    same_payment: bool = Field(default=False, examples=[True])
    """Refuse when the friend paid with a card or wallet the referrer used (`payment`)."""
    same_household: bool = Field(default=False, examples=[True])
    """Refuse when the friend lives where the referrer does (`household`, an address hash)."""
    velocity: Limit | None = Field(default=None, examples=[{"count": 3, "per": "1d"}])
    """At most this many referrals of one referrer rewarded within the period (N per day):
    more look like a farm of accounts."""


class Referral(Model):
    """Bring a friend: both sides are rewarded once the friend makes a qualifying purchase."""

    qualifying: Condition = Field(examples=["basket.total >= 1000"])
    """The friend's purchase that qualifies."""
    within: Duration | None = Field(default=None, examples=["60d"])
    """The friend must qualify within this long after signing up."""
    referrer: Reward = Field(examples=[{"points": 1000}])
    """What the customer who referred gets."""
    referee: Reward = Field(examples=[{"coupon": "welcome-15"}])
    """What the friend gets."""
    limit: Limit | None = Field(default=None, examples=[{"count": 10, "per": "365d"}])
    """How many referrals one customer can be rewarded for."""
    fraud: ReferralFraud | None = Field(
        default=None, examples=[{"same_device": True, "velocity": {"count": 3, "per": "1d"}}]
    )
    """Fraud checks: a referral that fails one gives neither side anything."""


class Coupon(Model):
    """A coupon definition: what it gives when presented in a purchase."""

    id: Id = Field(examples=["welcome-15"])
    """Stable id."""
    description: str | None = Field(default=None, examples=["15% off your first order"])
    """What the coupon gives, in words."""
    percent: Percent | None = Field(default=None, examples=[15])
    """Percent off."""
    amount: Money | None = Field(default=None, examples=[20])
    """Money off (once per basket, or once per matching line with `applies_to`; `per` says
    otherwise)."""
    per: Literal["line", "unit", "order"] | None = Field(default=None, examples=["unit"])
    """How a fixed `amount` is given: once per matching `line` (the default with `applies_to`),
    once per `unit` of each matching line, or once for the whole `order` (the default without
    `applies_to`), split across the matching lines."""
    free_shipping: bool = Field(default=False, examples=[True])
    """Shipping becomes free."""
    applies_to: ItemCondition | None = Field(default=None, examples=['item.category == "lens"'])
    """Lines the coupon applies to; omit for the whole basket."""
    min_spend: Money | None = Field(default=None, examples=[50])
    """The basket must reach this total for the coupon to apply."""
    valid_for: Duration = Field(examples=["30d"])
    """How long after it is issued the coupon can be used."""
    single_use: bool = Field(default=True, examples=[True])
    """Whether the coupon is used up by one purchase."""

    @model_validator(mode="after")
    def _something(self) -> Coupon:
        if self.percent is None and self.amount is None and not self.free_shipping:
            raise ValueError("a coupon gives percent, amount or free_shipping")
        if self.percent is not None and self.amount is not None:
            raise ValueError("a coupon gives either percent or amount, not both")
        if self.per is not None and self.amount is None:
            raise ValueError("`per` says how a fixed `amount` is given: it goes with `amount`")
        return self


class Offer(Model):
    """A personalized offer: a coupon issued to customers for whom a condition holds."""

    id: Id = Field(examples=["lens-for-camera-owners"])
    """Stable id."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"], examples=[["app_open", "purchase"]])
    """Event types after which the offer is considered."""
    when: Condition = Field(examples=['any(p.category == "camera" for p in customer.purchases)'])
    """Who gets the offer, e.g. camera buyers without a lens."""
    coupon: Id = Field(examples=["lens-15"])
    """The coupon issued, by its id in `coupons`."""
    skip_bought: bool = Field(default=True, examples=[True])
    """Never offer what the customer already bought (lines matched by the coupon's `applies_to`)."""
    limit: Limit | None = Field(default=None, examples=[{"count": 1, "per": "365d"}])
    """How often one customer can receive it; default once."""
    notify: Notify | None = Field(default=None, examples=[{"channel": "push", "template": "lens_offer"}])
    """Tell the customer."""
    active: Schedule | None = Field(default=None, examples=[{"start": "2026-11-01", "end": "2026-12-31"}])
    """When the offer runs."""
    priority: int = Field(default=0, examples=[10])
    """With `next_best_offer`, which offer is chosen first (the highest), or the tie-break of
    equal expected values."""
    expected_value: NumberExpr | None = Field(default=None, examples=["0.15 * 120"])
    """With `next_best_offer: {by: expected_value}`, what the offer is expected to bring, e.g. the
    chance it is used times the margin: an expression on the customer and the event."""


class NextBestOffer(Model):
    """Of the offers a customer may receive after an event, which ones are issued: the best first,
    at most `at_most` over all offers."""

    by: Literal["priority", "expected_value"] = Field(default="priority", examples=["expected_value"])
    """priority: the highest `priority` first; expected_value: the highest `expected_value` first
    (ties by priority, then by order in the file)."""
    at_most: Limit = Field(examples=[{"count": 1, "per": "7d"}])
    """How many offers one customer receives, of all the program's offers, per period."""


class Birthday(Model):
    """A reward on the customer's birthday (`state.profile.birthday`, from a signup or a state),
    once a year, by the date in the program's timezone. Someone born on 29 February celebrates on
    28 February in years that have no 29th."""

    window: Literal["day", "month", "around"] = Field(default="day", examples=["around"])
    """day: on the birthday itself; month: any day of the birthday's month; around: within
    `days` days before or after the birthday."""
    days: int | None = Field(default=None, ge=1, le=180, examples=[7])
    """With `window: around`, how many days before and after the birthday count."""
    on: list[EventType] = Field(default_factory=lambda: ["purchase"], examples=[["purchase", "app_open"]])
    """The event types that can give the reward: the first of them in the window gives it."""
    reward: Reward = Field(examples=[{"points": 200, "coupon": "birthday-gift"}])
    """What the customer receives, once for each birthday."""

    @model_validator(mode="after")
    def _days_with_around(self) -> Birthday:
        if (self.window == "around") != (self.days is not None):
            raise ValueError(
                "`days` goes with `window: around` (within that many days of the birthday), "
                "and `window: around` needs `days`"
            )
        return self


class CatalogItem(Model):
    """Something customers can spend points on."""

    id: Id = Field(examples=["free-latte"])
    """Stable id."""
    name: str = Field(examples=["A free latte"])
    """Display name."""
    cost: Points = Field(examples=[500])
    """Points it costs."""
    reward: Reward | None = Field(default=None, examples=[{"coupon": "free-latte"}])
    """What redeeming gives, e.g. a coupon; omit for a physical item handed over in store."""
    stock: int | None = Field(default=None, ge=0, examples=[100])
    """How many can be redeemed in all, by every customer together; omit for no limit. The store
    counts redemptions (a void gives one back): when all are taken, a redemption is refused
    (RE456). Raise it in a new version to restock."""


class Draw(Model):
    """A closed prize draw: customers collect entries as rewards; winners are drawn when it closes."""

    id: Id = Field(examples=["new-year-draw"])
    """Stable id."""
    name: str | None = Field(default=None, examples=["New Year draw"])
    """Display name."""
    closes: Date = Field(examples=["2026-12-31"])
    """Last day entries count."""
    winners: Count = Field(default=1, examples=[3])
    """How many winners are drawn."""
    prize: str | None = Field(default=None, examples=["A 65-inch TV"])
    """What the winners get, in words."""


class Leaderboard(Model):
    """A ranking of customers by a metric over a period."""

    id: Id = Field(examples=["monthly"])
    """Stable id."""
    metric: Literal["points", "spend", "visits"] = Field(examples=["points"])
    """What customers are ranked by."""
    window: PeriodWindow = Field(examples=["calendar_month"])
    """The period counted."""
    size: Count = Field(default=10, examples=[20])
    """How many places are shown."""


class Reminder(Model):
    """A reminder sent ahead of something happening to the customer."""

    before: Duration = Field(examples=["14d"])
    """How long before."""
    channel: Literal["push", "email", "sms"] = Field(default="email", examples=["push"])
    """How it is sent."""
    template: Id = Field(examples=["beans_expiring"])
    """Message template id."""


class Notifications(Model):
    """How the program talks to customers without pestering them."""

    frequency_cap: Limit | None = Field(default=None, examples=[{"count": 3, "per": "7d"}])
    """At most this many messages per customer per period; a further one waits for the next
    allowed moment within `max_delay`, or is dropped (and traced)."""
    quiet_hours: Hours | None = Field(default=None, examples=[{"start": "21:00", "end": "09:00"}])
    """No message goes out between these times of day (in the customer's time zone when their
    profile has one, else the program's): one due then waits for `end`."""
    max_delay: Duration | None = Field(default=None, examples=["2d"])
    """How long a message over the frequency cap may wait for the next allowed moment; one that
    would wait longer is dropped (and traced). Without it, a message over the cap is dropped."""
    points_expiring: Reminder | None = Field(
        default=None, examples=[{"before": "14d", "channel": "push", "template": "beans_expiring"}]
    )
    """Reminder before points expire."""
    tier_downgrade: Reminder | None = Field(
        default=None, examples=[{"before": "30d", "channel": "email", "template": "tier_at_risk"}]
    )
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
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # `Europe` is a folder of zones
            import difflib
            from zoneinfo import available_timezones

            close = difflib.get_close_matches(value, sorted(available_timezones()), n=1, cutoff=0.8)
            advice = f"did you mean {close[0]}?" if close else "use an IANA name such as Europe/Moscow"
            raise ValueError(f"unknown time zone `{shown(value)}`; {advice}") from None
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
