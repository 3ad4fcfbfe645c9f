"""The tiers section of a program file: the levels, what each gives, and how a tier is held,
reviewed and moved from when a new version removes it.

Apart from `model` (which holds the program and imports these) because tiers are one mechanic
with their own rules (`rules_engine.engine.mechanics.tiers` runs them), read on their own.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from rules_engine.program.parts import Model
from rules_engine.program.types import Duration, Id, Money, Multiplier, Percent, PeriodWindow


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
