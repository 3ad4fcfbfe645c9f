"""The engagement sections of a program file: challenges, quests, badges, streaks, the referral,
coupons, offers, the birthday reward, the catalog, draws, leaderboards and notifications.

Each is one pydantic class per YAML section, as in `model` (which holds the program itself, its
settings, tiers, earn rules and discounts, and imports these). They are apart because they are
the mechanics `rules_engine.engine.mechanics` runs, each read on its own, and because one module
holding the whole format had grown past what a reader takes in at once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rules_engine.program.parts import Hours, Limit, Model, Notify, Reward, Schedule
from rules_engine.program.types import (
    Condition,
    Count,
    Date,
    Duration,
    EventType,
    Id,
    ItemCondition,
    Money,
    NumberExpr,
    Percent,
    PeriodWindow,
    Points,
)


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
