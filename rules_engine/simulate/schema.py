"""The simulate report's shape as pydantic models: the source of `schemas/simulate-report.schema.json`
(`make schemas`), which `loyalty simulate --json` output is checked against in the tests.

The report itself is built as plain dicts (`report.py`); these models describe it for other tools
(the HTML page, a CI step reading the gates). Objects admit more fields than listed: either side of
the contract may add one, none may be renamed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Money = str | None
"""A decimal string with the currency's exponent ("12.30"); null when a point has no value."""


class Part(BaseModel):
    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)


class Identity(Part):
    name: str
    """The program's id."""
    version: int | str
    hash: str
    """`sha256:<hex>` of the program file."""


class HistoryInfo(Part):
    events: int
    """Lines of the history (events, and lines that are none)."""
    customers: int
    from_: str | None = Field(alias="from")
    """The first event's date, YYYY-MM-DD, in the program's time zone."""
    to: str | None
    source: str


class CostPoints(Part):
    issued: int
    redeemed: int
    expired: int
    reversed: int
    adjusted: int
    liability: int
    """Points outstanding at the end: every ledger entry added up."""
    breakage: int
    """Points of the liability expected never to be claimed, at the historical rate."""


class CostMoney(Part):
    issued: Money
    redeemed: Money
    liability: Money
    breakage: Money
    discounts: Money
    """Money taken off baskets (always known: it is money)."""


class RuleCost(Part):
    rule: str
    mechanic: str
    points: int
    discounts: Money
    awards: int
    customers: int


class MechanicCost(Part):
    mechanic: str
    points: int
    discounts: Money


class Cost(Part):
    points: CostPoints
    money: CostMoney
    per_rule: list[RuleCost]
    per_mechanic: list[MechanicCost]


class Month(Part):
    month: str
    issued: int
    redeemed: int
    expired: int
    liability: int
    spend: Money
    baskets: int
    tiers: dict[str, int]


class Moves(Part):
    up: int
    down: int


class Tiers(Part):
    order: list[str]
    final: dict[str, int]
    moves: Moves
    spend_share: dict[str, float]


class Goal(Part):
    id: str
    started: int
    completed: int
    rate: float


class Streak(Goal):
    longest: int


class Badge(Part):
    id: str
    customers: int
    rate: float


class IssuedUsed(Part):
    issued: int
    used: int


class Gamification(Part):
    challenges: list[Goal]
    quests: list[Goal]
    badges: list[Badge]
    streaks: list[Streak]
    offers: IssuedUsed
    coupons: IssuedUsed


class Category(Part):
    category: str
    spend: Money
    share: float


class MonthSpend(Part):
    month: str
    spend: Money
    baskets: int


class WeekdaySpend(Part):
    weekday: str
    spend: Money
    baskets: int


class Analytics(Part):
    average_check: Money
    purchase_frequency: float
    repeat_rate: float
    top_categories: list[Category]
    returns_share: float
    by_month: list[MonthSpend]
    by_weekday: list[WeekdaySpend]
    new_customers: int
    returning_customers: int


class VersionFigures(Part):
    cost: Cost
    monthly: list[Month]
    tiers: Tiers
    gamification: Gamification


class DiffRow(Part):
    figure: str
    base: int | float | str | None
    other: int | float | str | None
    delta: int | float | str | None
    change: float | None


class TierMatrix(Part):
    base_tiers: list[str]
    other_tiers: list[str]
    counts: list[list[int]]


class RuleDelta(Part):
    rule: str
    base: int
    other: int
    delta: int


class Affected(Part):
    customer: str
    base: int
    other: int
    delta: int


class Compare(Part):
    program: Identity
    report: VersionFigures
    diff: list[DiffRow]
    tier_matrix: TierMatrix
    per_rule: list[RuleDelta]
    most_affected: list[Affected]


class GateResult(Part):
    gate: str
    value: float | None
    passed: bool


class SimulateReport(VersionFigures):
    """What `loyalty simulate --json` prints (docs/simulate.md, "Reading the report")."""

    report: str = Field(pattern=r"^loyalty-simulate/1$")
    program: Identity
    history: HistoryInfo
    currency: str
    point_value: str | None
    analytics: Analytics
    compare: Compare | None
    gates: list[GateResult]


def report_schema() -> dict[str, Any]:
    from rules_engine.program.schema import published

    schema = SimulateReport.model_json_schema(mode="serialization", by_alias=True)
    return published("simulate-report.schema.json", schema, "Simulate report")
