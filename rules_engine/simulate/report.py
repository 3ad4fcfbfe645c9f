"""A simulation's figures as the report dict (`loyalty-simulate/1`), the contract between the
simulation, `loyalty simulate --json`, its terminal tables and its HTML page
(`schemas/simulate-report.schema.json`).

Money is a decimal string with the currency's exponent ("12.30"), rounded half to even from the
exact amount; points are ints; rates are floats from 0 to 1; months are "YYYY-MM" in the
program's time zone. Liability and breakage are the books' (`rules_engine/tools/accounting.py`,
as `loyalty ledger export` computes them): the liability is every ledger entry added up, the
breakage the part of it expected never to be claimed, at the historical rate expired ÷ (expired
+ redeemed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.program.currencies import MINOR_UNITS
from rules_engine.simulate.kernel import NO_TIER
from rules_engine.simulate.simulation import Simulation
from rules_engine.simulate.tally import ZERO, GoalTally, History, Tally, Versus
from rules_engine.tools.accounting import Books, breakage_rate

REPORT = "loyalty-simulate/1"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TOP_CATEGORIES = 10


class Money:
    """Amounts of one currency as the report writes them."""

    def __init__(self, currency: str) -> None:
        self.quantum = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))

    def __call__(self, amount: Decimal | None) -> str | None:
        return None if amount is None else str(amount.quantize(self.quantum, ROUND_HALF_EVEN))


def points(amount: Decimal) -> int:
    """Points as an int (a program rounds its points; a fraction left is rounded half to even)."""
    return int(amount.to_integral_value(ROUND_HALF_EVEN))


def rate(part: int | Decimal, whole: int | Decimal) -> float:
    return float(Decimal(part) / Decimal(whole)) if whole else 0.0


def build_report(
    simulation: Simulation, *, point_value: Decimal | None = None, gates: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The report dict of a simulation (the module docstring); `point_value` overrides the
    program's `points.value`."""
    base = simulation.engines[0]
    program = base.program
    value = point_value if point_value is not None else program.points.value
    money = Money(program.currency)
    batches = simulation.batches
    zone = base.zone
    history = simulation.history
    report: dict[str, Any] = {
        "report": REPORT,
        "program": _identity(base, simulation.programs[0]),
        "history": {
            "events": batches.events + batches.bad_lines,
            "customers": simulation.customers,
            "from": None if batches.first is None else batches.first.astimezone(zone).date().isoformat(),
            "to": None if batches.last is None else batches.last.astimezone(zone).date().isoformat(),
            "source": simulation.source,
        },
        "currency": program.currency,
        "point_value": None if value is None else str(value),
        **version_figures(simulation, 0, value, money),
        "analytics": analytics(history, money),
        "run": {
            "passes": simulation.passes,
            "settled": simulation.settled,
            "applied": simulation.tallies[0].applied,
            "duplicates": simulation.tallies[0].duplicates,
            "problems": simulation.tallies[0].problems,
            "unknown_referrers": simulation.unknown_referrers[0],
            "problem_samples": [d.to_json() for d in simulation.problems],
        },
        "compare": None,
        "gates": gates or [],
    }
    if len(simulation.engines) == 2:
        other = version_figures(simulation, 1, value, money)
        report["compare"] = {
            "program": _identity(simulation.engines[1], simulation.programs[1]),
            "report": other,
            "diff": diff(report, other),
            "tier_matrix": tier_matrix(simulation, other),
            "per_rule": per_rule_deltas(report["cost"]["per_rule"], other["cost"]["per_rule"]),
            "most_affected": most_affected(simulation.versus),
        }
    return report


def report_json(report: Mapping[str, Any]) -> str:
    """The report as JSON text (its numbers are ints, floats for rates, money as strings)."""
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _identity(engine: Engine, path: str) -> dict[str, Any]:
    text = Path(path).read_bytes()
    return {
        "name": engine.program.program,
        "version": engine.program.version,
        "hash": "sha256:" + hashlib.sha256(text).hexdigest(),
    }


def version_figures(simulation: Simulation, v: int, value: Decimal | None, money: Money) -> dict[str, Any]:
    """cost, monthly, tiers and gamification of one version."""
    tally = simulation.tallies[v]
    engine = simulation.engines[v]
    return {
        "cost": cost(tally, engine, value, money),
        "monthly": monthly(tally, simulation.history, engine, simulation.batches.months(engine.zone), money),
        "tiers": tiers(tally, engine),
        "gamification": gamification(tally, engine),
    }


def books_of(tally: Tally, engine: Engine, value: Decimal | None) -> Books:
    """The simulation's ledger as the books see it (tools/accounting.py), at the history's end."""
    moved = {
        "issued": tally.points["issued"],
        "redeemed": -tally.points["redeemed"],
        "expired": -tally.points["expired"],
        "reversed": -tally.points["reversed"],
        "adjusted": tally.points["adjusted"],
    }
    program = engine.program
    return Books(
        program=program.program,
        currency=program.currency,
        value=value,
        start=None,
        end=None,
        journal=[],
        opening=ZERO,
        moved=moved,
        closing=tally.liability,
        breakage_rate=breakage_rate(tally.points["expired"], tally.points["redeemed"]),
    )


def cost(tally: Tally, engine: Engine, value: Decimal | None, money: Money) -> dict[str, Any]:
    books = books_of(tally, engine, value)
    expected = books.expected_breakage
    breakage = expected if expected is not None else ZERO
    issued_money = books.money(tally.points["issued"])
    rules = [
        {
            "rule": name,
            "mechanic": rule.mechanic,
            "points": points(rule.points),
            "discounts": money(rule.discounts),
            "awards": rule.awards,
            "customers": rule.customers,
        }
        for name, rule in sorted(tally.rules.items())
    ]
    mechanics: dict[str, list[Decimal]] = {}
    for rule in tally.rules.values():
        sums = mechanics.setdefault(rule.mechanic, [ZERO, ZERO])
        sums[0] += rule.points
        sums[1] += rule.discounts
    return {
        "points": {
            **{kind: points(amount) for kind, amount in tally.points.items()},
            "liability": points(tally.liability),
            "breakage": points(breakage),
        },
        "money": {
            "issued": money(issued_money),
            "redeemed": money(books.money(tally.points["redeemed"])),
            "liability": money(books.money(tally.liability)),
            "breakage": money(books.money(breakage)),
            "discounts": money(tally.discounts),
            "cost": money(None if issued_money is None else issued_money + tally.discounts),
        },
        "breakage_rate": None if books.breakage_rate is None else float(books.breakage_rate),
        "per_rule": rules,
        "per_mechanic": [
            {"mechanic": name, "points": points(sums[0]), "discounts": money(sums[1])}
            for name, sums in sorted(mechanics.items())
        ],
    }


def monthly(
    tally: Tally, history: History, engine: Engine, months: Iterable[str], money: Money
) -> list[dict[str, Any]]:
    every = sorted(set(months) | set(tally.months))
    running = ZERO
    rows = []
    for month in every:
        figures = tally.months.get(month)
        running += figures.net if figures is not None else ZERO
        rows.append(
            {
                "month": month,
                "issued": points(figures.issued) if figures else 0,
                "redeemed": points(figures.redeemed) if figures else 0,
                "expired": points(figures.expired) if figures else 0,
                "liability": points(running),
                "spend": money(history.month_spend.get(month, ZERO)),
                "baskets": history.month_baskets.get(month, 0),
                "tiers": _tiers_in_order(figures.tiers if figures else {}, engine),
            }
        )
    return rows


def tier_order(engine: Engine) -> list[str]:
    levels = engine.program.tiers
    return [] if levels is None else [level.id for level in levels.levels]


def _tiers_in_order(counts: Mapping[str, int], engine: Engine) -> dict[str, int]:
    order = tier_order(engine)
    shown = {tier: counts.get(tier, 0) for tier in order}
    shown.update({tier: n for tier, n in sorted(counts.items()) if tier not in shown and tier != NO_TIER})
    return shown


def tiers(tally: Tally, engine: Engine) -> dict[str, Any]:
    spend = sum(tally.tier_spend.values(), ZERO)
    order = tier_order(engine)
    return {
        "order": order,
        "final": _tiers_in_order(tally.final_tiers, engine),
        "moves": {"up": tally.moves_up, "down": tally.moves_down},
        "spend_share": {tier: rate(tally.tier_spend.get(tier, ZERO), spend) for tier in order},
    }


def _goals(goals: Mapping[str, GoalTally], ids: Iterable[str], streak: bool = False) -> list[dict[str, Any]]:
    rows = []
    for name in ids:
        goal = goals.get(name, GoalTally())
        row: dict[str, Any] = {"id": name, "started": goal.started}
        if streak:
            row["longest"] = goal.longest
        row.update({"completed": goal.completed, "rate": rate(goal.completed, goal.started)})
        rows.append(row)
    return rows


def gamification(tally: Tally, engine: Engine) -> dict[str, Any]:
    program = engine.program
    return {
        "challenges": _goals(tally.challenges, [c.id for c in program.challenges]),
        "quests": _goals(tally.quests, [q.id for q in program.quests]),
        "badges": [
            {
                "id": b.id,
                "customers": tally.badges.get(b.id, 0),
                "rate": rate(tally.badges.get(b.id, 0), tally.customers),
            }
            for b in program.badges
        ],
        "streaks": _goals(tally.streaks, [s.id for s in program.streaks], streak=True),
        "offers": {"issued": tally.offers_issued, "used": tally.offers_used},
        "coupons": {"issued": tally.coupons_issued, "used": tally.coupons_used},
    }


def analytics(history: History, money: Money) -> dict[str, Any]:
    categories = sorted(history.categories.items(), key=lambda item: (-item[1], item[0]))[:TOP_CATEGORIES]
    return {
        "average_check": money(history.spend / history.baskets if history.baskets else ZERO),
        "purchase_frequency": rate(history.baskets, history.buyers),
        "repeat_rate": rate(history.repeat_buyers, history.buyers),
        "top_categories": [
            {"category": name, "spend": money(amount), "share": rate(amount, history.spend)}
            for name, amount in categories
        ],
        "returns_share": rate(history.returned, history.spend),
        "by_month": [
            {"month": month, "spend": money(amount), "baskets": history.month_baskets.get(month, 0)}
            for month, amount in sorted(history.month_spend.items())
        ],
        "by_weekday": [
            {
                "weekday": name,
                "spend": money(history.weekday_spend.get(day, ZERO)),
                "baskets": history.weekday_baskets.get(day, 0),
            }
            for day, name in enumerate(WEEKDAYS)
        ],
        "new_customers": history.new,
        "returning_customers": history.returning,
    }


# -- the comparison ---------------------------------------------------------------------------------
def figures(section: Mapping[str, Any]) -> dict[str, int | str | float | None]:
    """Every figure of a version, flat, by dotted name: cost.points.issued, tiers.final.gold, …"""
    flat: dict[str, int | str | float | None] = {}
    cost_ = section["cost"]
    for group in ("points", "money"):
        for name, amount in cost_[group].items():
            flat[f"cost.{group}.{name}"] = amount
    for row in cost_["per_rule"]:
        flat[f"cost.per_rule.{row['rule']}.points"] = row["points"]
    for name, count in section["tiers"]["final"].items():
        flat[f"tiers.final.{name}"] = count
    for name, count in section["tiers"]["moves"].items():
        flat[f"tiers.moves.{name}"] = count
    game = section["gamification"]
    for kind in ("challenges", "quests", "streaks"):
        for row in game[kind]:
            flat[f"gamification.{kind}.{row['id']}.completed"] = row["completed"]
    for row in game["badges"]:
        flat[f"gamification.badges.{row['id']}.customers"] = row["customers"]
    for kind in ("offers", "coupons"):
        for name, count in game[kind].items():
            flat[f"gamification.{kind}.{name}"] = count
    return flat


def _change(base: Any, other: Any) -> tuple[Any, float | None]:
    if base is None or other is None:
        return None, None
    if isinstance(base, str) or isinstance(other, str):
        first, second = Decimal(str(base)), Decimal(str(other))
        delta: Any = str(second - first)
    else:
        first, second = Decimal(base), Decimal(other)
        delta = other - base
    return delta, (float((second - first) / first) if first else None)


def diff(base: Mapping[str, Any], other: Mapping[str, Any]) -> list[dict[str, Any]]:
    first, second = figures(base), figures(other)
    rows = []
    for name in sorted(first.keys() | second.keys(), key=lambda n: (n.count("per_rule"), n)):
        zero: Any = "0" if isinstance(first.get(name, second.get(name)), str) else 0
        one, two = first.get(name, zero), second.get(name, zero)
        delta, change = _change(one, two)
        rows.append({"figure": name, "base": one, "other": two, "delta": delta, "change": change})
    return rows


def tier_matrix(simulation: Simulation, other: Mapping[str, Any]) -> dict[str, Any]:
    versus = simulation.versus
    base_tiers = list(tier_order(simulation.engines[0]))
    other_tiers = list(other["tiers"]["order"])
    counts = versus.matrix if versus is not None else {}
    for a, b in counts:
        if a not in base_tiers:
            base_tiers.append(a)
        if b not in other_tiers:
            other_tiers.append(b)
    return {
        "base_tiers": base_tiers,
        "other_tiers": other_tiers,
        "counts": [[counts.get((a, b), 0) for b in other_tiers] for a in base_tiers],
    }


def per_rule_deltas(base: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first = {row["rule"]: row["points"] for row in base}
    second = {row["rule"]: row["points"] for row in other}
    return [
        {
            "rule": rule,
            "base": first.get(rule, 0),
            "other": second.get(rule, 0),
            "delta": second.get(rule, 0) - first.get(rule, 0),
        }
        for rule in sorted(first.keys() | second.keys())
    ]


def most_affected(versus: Versus | None) -> list[dict[str, Any]]:
    if versus is None:
        return []
    return [
        {"customer": customer, "base": points(a), "other": points(b), "delta": points(b - a)}
        for customer, a, b in versus.top()
    ]
