"""Mergeable tallies: what one batch of whole customers adds to a simulation's figures.

A worker replays a batch and returns a `Tally` per program version (and one `History` for what the
events themselves say, whatever the program); the parent adds them up with `merge`. Every field
is a sum, a count or a maximum of exact numbers (Decimal, int), so the order the batches finish in
changes nothing: 1 or N processes give the same figures, digit for digit.

Plain dataclasses of dicts and Counters: they cross the process boundary by pickle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)

POINT_KINDS = ("issued", "redeemed", "expired", "reversed", "adjusted")


def _add(into: dict[str, Decimal], other: dict[str, Decimal]) -> None:
    for key, value in other.items():
        into[key] = into.get(key, ZERO) + value


@dataclass
class RuleTally:
    """What one rule gave: points, money off, how many awards, to how many customers."""

    mechanic: str
    points: Decimal = ZERO
    discounts: Decimal = ZERO
    awards: int = 0
    customers: int = 0

    def merge(self, other: RuleTally) -> None:
        self.points += other.points
        self.discounts += other.discounts
        self.awards += other.awards
        self.customers += other.customers


@dataclass
class MonthTally:
    """One month's ledger movements (by the entries' own times) and the tier of every customer
    seen so far at the month's end."""

    issued: Decimal = ZERO
    redeemed: Decimal = ZERO
    expired: Decimal = ZERO
    net: Decimal = ZERO
    """Every entry of the month added up: the liability's change."""
    tiers: Counter[str] = field(default_factory=Counter)

    def merge(self, other: MonthTally) -> None:
        self.issued += other.issued
        self.redeemed += other.redeemed
        self.expired += other.expired
        self.net += other.net
        self.tiers.update(other.tiers)


@dataclass
class GoalTally:
    """A challenge, quest or streak: customers who started it, who completed it (at least once),
    and the longest run (streaks)."""

    started: int = 0
    completed: int = 0
    longest: int = 0

    def merge(self, other: GoalTally) -> None:
        self.started += other.started
        self.completed += other.completed
        self.longest = max(self.longest, other.longest)


@dataclass
class Tally:
    """One program version's figures over a batch of customers."""

    points: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(POINT_KINDS, ZERO))
    """Ledger points by kind, as the books count them (issued positive, the others positive too)."""
    liability: Decimal = ZERO
    """Every ledger entry added up: points outstanding at the end."""
    discounts: Decimal = ZERO
    rules: dict[str, RuleTally] = field(default_factory=dict)
    months: dict[str, MonthTally] = field(default_factory=dict)
    final_tiers: Counter[str] = field(default_factory=Counter)
    moves_up: int = 0
    moves_down: int = 0
    tier_spend: dict[str, Decimal] = field(default_factory=dict)
    challenges: dict[str, GoalTally] = field(default_factory=dict)
    quests: dict[str, GoalTally] = field(default_factory=dict)
    streaks: dict[str, GoalTally] = field(default_factory=dict)
    badges: Counter[str] = field(default_factory=Counter)
    offers_issued: int = 0
    offers_used: int = 0
    coupons_issued: int = 0
    coupons_used: int = 0
    applied: int = 0
    """Events applied (a referrer's reward counts as one, as in `loyalty run`)."""
    duplicates: int = 0
    problems: int = 0
    customers: int = 0

    def merge(self, other: Tally) -> None:
        _add(self.points, other.points)
        self.liability += other.liability
        self.discounts += other.discounts
        for name, rule in other.rules.items():
            mine = self.rules.setdefault(name, RuleTally(rule.mechanic))
            mine.merge(rule)
        for month, tally in other.months.items():
            self.months.setdefault(month, MonthTally()).merge(tally)
        self.final_tiers.update(other.final_tiers)
        self.moves_up += other.moves_up
        self.moves_down += other.moves_down
        _add(self.tier_spend, other.tier_spend)
        for goals, theirs in (
            (self.challenges, other.challenges),
            (self.quests, other.quests),
            (self.streaks, other.streaks),
        ):
            for key, goal in theirs.items():
                goals.setdefault(key, GoalTally()).merge(goal)
        self.badges.update(other.badges)
        self.offers_issued += other.offers_issued
        self.offers_used += other.offers_used
        self.coupons_issued += other.coupons_issued
        self.coupons_used += other.coupons_used
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.problems += other.problems
        self.customers += other.customers


@dataclass
class History:
    """What the events say whatever the program: spend, baskets, categories, returns, when."""

    events: int = 0
    spend: Decimal = ZERO
    """The purchases' lines at their prices (price × quantity), before any program discount."""
    baskets: int = 0
    returned: Decimal = ZERO
    """Returned lines at the prices they were bought at."""
    buyers: int = 0
    """Customers with at least one purchase."""
    repeat_buyers: int = 0
    """Customers with two purchases or more."""
    returning: int = 0
    """Customers who bought in two months or more."""
    new: int = 0
    """Customers who signed up within the history."""
    categories: dict[str, Decimal] = field(default_factory=dict)
    month_spend: dict[str, Decimal] = field(default_factory=dict)
    month_baskets: Counter[str] = field(default_factory=Counter)
    weekday_spend: dict[int, Decimal] = field(default_factory=dict)
    weekday_baskets: Counter[int] = field(default_factory=Counter)

    def merge(self, other: History) -> None:
        self.events += other.events
        self.spend += other.spend
        self.baskets += other.baskets
        self.returned += other.returned
        self.buyers += other.buyers
        self.repeat_buyers += other.repeat_buyers
        self.returning += other.returning
        self.new += other.new
        _add(self.categories, other.categories)
        _add(self.month_spend, other.month_spend)
        self.month_baskets.update(other.month_baskets)
        for day, amount in other.weekday_spend.items():
            self.weekday_spend[day] = self.weekday_spend.get(day, ZERO) + amount
        self.weekday_baskets.update(other.weekday_baskets)


MOST_AFFECTED = 20
"""Customers listed in a comparison's `most_affected`."""


@dataclass
class Versus:
    """Two versions over one batch: where each customer ends (tier by tier) and the customers whose
    points differ most (kept to `MOST_AFFECTED`, ties broken by customer id)."""

    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    affected: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)

    def add(self, customer: str, base: Decimal, other: Decimal) -> None:
        if base != other:
            self.affected.append((customer, base, other))
            if len(self.affected) > 4 * MOST_AFFECTED:
                self._trim()

    def _trim(self) -> None:
        self.affected.sort(key=lambda row: (-abs(row[2] - row[1]), row[0]))
        del self.affected[MOST_AFFECTED:]

    def merge(self, other: Versus) -> None:
        self.matrix.update(other.matrix)
        self.affected.extend(other.affected)
        self._trim()

    def top(self) -> list[tuple[str, Decimal, Decimal]]:
        self._trim()
        return list(self.affected)
