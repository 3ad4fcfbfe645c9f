"""The pieces every section of a program file shares: the frozen base model, schedules, caps,
budgets, limits, rewards and messages.

Earn rules, discounts, challenges, offers and the rest all build on these, so they sit below
`model` (the program and its earning sections), `tiers` and `mechanics` (the engagement
sections): each imports them without importing the others.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules_engine.program.types import Count, Date, Duration, Id, Points, TimeOfDay, Weekday


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


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
