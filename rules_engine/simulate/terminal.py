"""The simulate report as rich tables on a terminal (`loyalty simulate` without `--json`).

Reads only the report dict (`report.py`), as the HTML page does, so what a person sees and what
`--json` prints are the same figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for n, name in enumerate(columns):
        table.add_column(name, justify="left" if n == 0 else "right")
    return table


def _num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _change(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def print_report(console: Console, report: Mapping[str, Any]) -> None:
    """Every part of the report as a table, the comparison and the gates last."""
    program, history, currency = report["program"], report["history"], report["currency"]
    # an empty history has no span; without a point value, points have no money figure
    span = f"{history['from']} to {history['to']}; " if history["from"] is not None else ""
    value = report["point_value"]
    worth = (
        f"a point is worth {value} {currency}"
        if value is not None
        else "no point value set (points.value or --point-value)"
    )
    console.print(
        f"[bold]{program['name']}[/bold] v{program['version']} over {history['source']}: "
        f"{history['events']:,} events, {history['customers']:,} customers, {span}{worth}"
    )
    other = report["compare"]
    versions = [("", report)] + ([("other", other["report"])] if other else [])
    cost = _table(
        "Cost",
        "figure",
        *(
            f"v{program['version']}" if not name else f"v{other['program']['version']}"
            for name, _ in versions
        ),
    )
    for name in ("issued", "redeemed", "expired", "reversed", "liability", "breakage"):
        cost.add_row(f"points {name}", *(_num(v["cost"]["points"][name]) for _, v in versions))
    for name in ("issued", "redeemed", "liability", "breakage", "discounts", "cost"):
        cost.add_row(f"{currency} {name}", *(_num(v["cost"]["money"].get(name)) for _, v in versions))
    console.print(cost)
    rules = _table("Cost per rule", "rule", "mechanic", "points", "discounts", "awards", "customers")
    for row in report["cost"]["per_rule"]:
        rules.add_row(
            row["rule"],
            row["mechanic"],
            _num(row["points"]),
            row["discounts"],
            _num(row["awards"]),
            _num(row["customers"]),
        )
    console.print(rules)
    tiers = report["tiers"]
    months = _table(
        "Month by month",
        "month",
        "issued",
        "redeemed",
        "expired",
        "liability",
        "spend",
        "baskets",
        *tiers["order"],
    )
    for row in report["monthly"]:
        months.add_row(
            row["month"],
            *(_num(row[k]) for k in ("issued", "redeemed", "expired", "liability")),
            row["spend"],
            _num(row["baskets"]),
            *(_num(row["tiers"].get(t, 0)) for t in tiers["order"]),
        )
    console.print(months)
    if tiers["order"]:
        table = _table("Tiers at the end", "tier", "customers", "share of spend")
        for tier in tiers["order"]:
            table.add_row(tier, _num(tiers["final"].get(tier, 0)), _num(tiers["spend_share"].get(tier, 0.0)))
        table.caption = f"moves: {tiers['moves']['up']} up, {tiers['moves']['down']} down"
        console.print(table)
    game = report["gamification"]
    goals = _table("Gamification", "what", "started", "completed", "rate")
    for kind in ("challenges", "quests", "streaks"):
        for row in game[kind]:
            goals.add_row(
                f"{kind[:-1]} {row['id']}", _num(row["started"]), _num(row["completed"]), _num(row["rate"])
            )
    for row in game["badges"]:
        goals.add_row(f"badge {row['id']}", "", _num(row["customers"]), _num(row["rate"]))
    for kind in ("offers", "coupons"):
        goals.add_row(f"{kind} issued / used", _num(game[kind]["issued"]), _num(game[kind]["used"]), "")
    console.print(goals)
    data = report["analytics"]
    table = _table("The history", "figure", "value")
    table.add_row("average check", f"{data['average_check']} {currency}")
    table.add_row("purchases per buyer", f"{data['purchase_frequency']:.2f}")
    table.add_row("repeat rate", _num(data["repeat_rate"]))
    table.add_row("returns (share of spend)", _num(data["returns_share"]))
    table.add_row("new customers (signed up)", _num(data["new_customers"]))
    table.add_row("returning customers (2+ months)", _num(data["returning_customers"]))
    for row in data["top_categories"][:5]:
        table.add_row(f"category {row['category']}", f"{row['spend']} {currency} ({row['share']:.1%})")
    for row in data["by_weekday"]:
        table.add_row(f"{row['weekday']}", f"{row['spend']} {currency}, {row['baskets']:,} baskets")
    console.print(table)
    if other:
        diff = _table(
            f"v{program['version']} → v{other['program']['version']}: what changes",
            "figure",
            "base",
            "other",
            "delta",
            "change",
        )
        for row in other["diff"]:
            if row["delta"] not in (0, "0", "0.00", None):
                diff.add_row(
                    row["figure"],
                    _num(row["base"]),
                    _num(row["other"]),
                    _num(row["delta"]),
                    _change(row["change"]),
                )
        console.print(diff)
        matrix = other["tier_matrix"]
        table = _table("Where customers end (rows: base, columns: other)", "tier", *matrix["other_tiers"])
        for tier, counts in zip(matrix["base_tiers"], matrix["counts"], strict=True):
            table.add_row(tier, *(_num(n) for n in counts))
        console.print(table)
        affected = _table("Customers most affected (points earned)", "customer", "base", "other", "delta")
        for row in other["most_affected"][:10]:
            affected.add_row(row["customer"], _num(row["base"]), _num(row["other"]), f"{row['delta']:+,}")
        console.print(affected)
    if report["gates"]:
        table = _table("Gates", "gate", "measured", "result")
        for gate in report["gates"]:
            value = "–" if gate["value"] is None else f"{gate['value']:,.4g}"
            table.add_row(gate["gate"], value, "passed" if gate["passed"] else "[bold red]FAILED[/bold red]")
        console.print(table)
