"""The simulate report as one HTML page that a marketer can mail around.

Input: the report dict that `rules_engine.simulate` builds and `loyalty simulate --json` prints
(`"report": "loyalty-simulate/1"`, its shape in docs/simulate.md). Output: `render(report)`, one
HTML document as text, self-contained: its CSS is inline, every chart is an inline SVG drawn by
matplotlib, there is no script at all, and nothing is fetched when it is viewed. A
Content-Security-Policy that allows only inline styles and `data:` images tells the browser so
too: a string that slipped through escaping could still neither run nor phone home.

Every string of the report is escaped: rule, tier, challenge and category names come from
marketers' YAML, customer ids and the history's source from data. In the tables `html.escape`
does it; in the charts matplotlib's SVG writer escapes the text it writes, and math rendering is
off (`text.parse_math`), so a `$` in a rule name stays a dollar sign.

matplotlib comes with the `simulate` extra (`pip install 'rules-engine[simulate]'`); without it,
importing this module says so.

The output is a function of the report alone: matplotlib writes no date, and its SVG ids are
hashed from a fixed salt per chart (`svg.hashsalt`) rather than random, so the same report gives
the same bytes, and the ids of two charts on one page never collide.

This module holds the page and its sections; the charts are `charts`' (the part that needs
matplotlib), the escaping, tables and number formats `html_text`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rules_engine.simulate.charts import (
    _cost_per_rule_chart,
    _liability_chart,
    _rule_delta_chart,
    _tier_chart,
)
from rules_engine.simulate.html_text import (
    _change,
    _change_cell,
    _count,
    _e,
    _money,
    _number,
    _rate,
    _share,
    _signed,
    _table,
    _tier_order,
    _value,
    _version,
)

REPORT_FORMAT = "loyalty-simulate/1"

# The browser may use nothing but what the page carries: no script, no fetch, no font download.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 68rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.92rem; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.7rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f4f4f6; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.passed { color: #1a7f37; font-weight: bold; }
.failed { color: #c62828; font-weight: bold; }
.up { color: #b34700; }
.down { color: #005a8c; }
.tables { display: flex; flex-wrap: wrap; gap: 0 2.5rem; align-items: flex-start; }
figure { margin: 1rem 0 1.6rem; break-inside: avoid; }
figure svg { width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
td.matrix { text-align: right; min-width: 3rem; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
"""


def render(report: Mapping[str, Any]) -> str:
    """The whole page for one simulate report (with its comparison when `report["compare"]` is set)."""
    program = report["program"]
    title = f"{program['name']} v{program['version']} — simulated cost and analytics"
    currency = str(report["currency"])
    compare = report.get("compare")
    sections = [
        _summary(report),
        _gates(report.get("gates") or []),
        _cost(report, currency),
        _tiers(report),
        _gamification(report["gamification"]),
        _analytics(report["analytics"], currency),
    ]
    if compare:
        sections.append(_compare(report, compare, currency))
    body = "\n".join(section for section in sections if section)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="loyalty simulate ({REPORT_FORMAT})">\n'
        f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


# --- The sections ----------------------------------------------------------------------------------


def _summary(report: Mapping[str, Any]) -> str:
    program, history = report["program"], report["history"]
    cost, currency = report["cost"], str(report["currency"])
    span = f"{_e(history['from'])} to {_e(history['to'])}, " if history["from"] is not None else ""
    worth = (
        "No point value is set (the program's <code>points.value</code> or <code>--point-value</code>): "
        "points have no money figures."
        if report["point_value"] is None
        else f"One point is worth {_e(_money(report['point_value'], currency))}."
    )
    meta = (
        f"Program {_e(program['name'])} version {_e(program['version'])} "
        f"(hash <code>{_e(str(program['hash'])[:12])}</code>) replayed over "
        f"{_count(history['events'])} events of {_count(history['customers'])} customers, "
        f"{span}from {_e(history['source'])}. {worth}"
    )
    money, points = cost["money"], cost["points"]
    rows = [
        ("Points issued", _count(points["issued"]), _money(money["issued"], currency)),
        ("Points redeemed", _count(points["redeemed"]), _money(money["redeemed"], currency)),
        ("Liability at the end", _count(points["liability"]), _money(money["liability"], currency)),
        ("Breakage", _count(points["breakage"]), _money(money["breakage"], currency)),
        ("Discounts given", "", _money(money["discounts"], currency)),
    ]
    return (
        f'<section id="summary">\n<p class="meta">{meta}</p>\n<h2>Headline figures</h2>\n'
        + _table(("", "points", currency), rows, numeric=(1, 2), caption="What the program costs")
        + "</section>"
    )


def _gates(gates: Sequence[Mapping[str, Any]]) -> str:
    if not gates:
        return ""
    rows = []
    for gate in gates:
        passed = bool(gate["passed"])
        value = gate["value"]
        shown = _change(value) if "%" in str(gate["gate"]) else _number(value)
        verdict = '<span class="passed">passed</span>' if passed else '<span class="failed">FAILED</span>'
        rows.append((_e(gate["gate"]), shown, verdict))
    return (
        '<section id="gates">\n<h2>Gates</h2>\n'
        + _table(("gate", "value", "result"), rows, numeric=(1,), escaped=True)
        + "</section>"
    )


def _cost(report: Mapping[str, Any], currency: str) -> str:
    cost = report["cost"]
    points, money = cost["points"], cost["money"]
    point_rows = [(name, _count(points[name])) for name in points]
    money_rows = [(name, _money(money[name], currency)) for name in money]
    per_rule = cost["per_rule"]
    rule_rows = [
        (
            rule["rule"],
            rule["mechanic"],
            _count(rule["points"]),
            _money(rule["discounts"], currency),
            _count(rule["awards"]),
            _count(rule["customers"]),
        )
        for rule in per_rule
    ]
    mechanic_rows = [
        (row["mechanic"], _count(row["points"]), _money(row["discounts"], currency))
        for row in cost["per_mechanic"]
    ]
    return (
        '<section id="cost">\n<h2>Cost</h2>\n<div class="tables">\n'
        + _table(("points", ""), point_rows, numeric=(1,), caption="In points")
        + _table(("money", currency), money_rows, numeric=(1,), caption="In money")
        + "</div>\n"
        + _liability_chart(report)
        + _points_by_month(report)
        + _cost_per_rule_chart(per_rule, report["point_value"], currency)
        + _table(
            ("rule", "mechanic", "points", "discounts", "awards", "customers reached"),
            rule_rows,
            numeric=(2, 3, 4, 5),
            caption="Per rule",
        )
        + _table(("mechanic", "points", "discounts"), mechanic_rows, numeric=(1, 2), caption="Per mechanic")
        + "</section>"
    )


def _points_by_month(report: Mapping[str, Any]) -> str:
    """The liability chart's figures exactly, with what moved them each month (the terminal's
    "Month by month"); with a comparison, the other version's liability beside them."""
    monthly = report["monthly"]
    if not monthly:
        return ""
    headers = ["month", "issued", "redeemed", "expired", "liability"]
    rows = [[row["month"], *(_count(row[name]) for name in headers[1:])] for row in monthly]
    compare = report.get("compare")
    if compare:
        other = {row["month"]: row["liability"] for row in compare["report"]["monthly"]}
        headers[-1] = f"liability, {_version(report['program'])}"
        headers.append(f"liability, {_version(compare['program'])}")
        for cells, row in zip(rows, monthly, strict=True):
            cells.append(_count(other[row["month"]]) if row["month"] in other else "—")
    return _table(headers, rows, numeric=range(1, len(headers)), caption="Points by month")


def _tiers(report: Mapping[str, Any]) -> str:
    tiers = report["tiers"]
    order = _tier_order(tiers, report["monthly"])
    final, share = tiers["final"], tiers["spend_share"]
    rows = [(tier, _count(final.get(tier, 0)), _rate(share.get(tier, 0.0))) for tier in order]
    moves = tiers["moves"]
    return (
        '<section id="tiers">\n<h2>Tiers</h2>\n'
        + _tier_chart(report["monthly"], order)
        + _tiers_by_month(report["monthly"], order)
        + '<div class="tables">\n'
        + _table(("tier", "customers at the end", "share of spend"), rows, numeric=(1, 2), caption="Tiers")
        + _table(
            ("moves", "customers"),
            [("up", _count(moves["up"])), ("down", _count(moves["down"]))],
            numeric=(1,),
            caption="Tier moves",
        )
        + "</div>\n</section>"
    )


def _tiers_by_month(monthly: Sequence[Mapping[str, Any]], order: Sequence[str]) -> str:
    """The tier chart's figures exactly: customers in each tier at the end of each month."""
    if not monthly or not order:
        return ""
    rows = [(row["month"], *(_count(row["tiers"].get(tier, 0)) for tier in order)) for row in monthly]
    return _table(
        ("month", *order), rows, numeric=range(1, len(order) + 1), caption="Customers by tier, month by month"
    )


def _gamification(game: Mapping[str, Any]) -> str:
    parts = ['<section id="gamification">\n<h2>Gamification</h2>\n<div class="tables">\n']
    for kind in ("challenges", "quests"):
        rows = [
            (row["id"], _count(row["started"]), _count(row["completed"]), _rate(row["rate"]))
            for row in game[kind]
        ]
        if rows:
            parts.append(
                _table(
                    (kind[:-1], "started", "completed", "rate"), rows, numeric=(1, 2, 3), caption=kind.title()
                )
            )
    badges = [(row["id"], _count(row["customers"]), _rate(row["rate"])) for row in game["badges"]]
    if badges:
        parts.append(_table(("badge", "customers", "rate"), badges, numeric=(1, 2), caption="Badges"))
    streaks = [
        (
            row["id"],
            _count(row["started"]),
            _count(row["longest"]),
            _count(row["completed"]),
            _rate(row["rate"]),
        )
        for row in game["streaks"]
    ]
    if streaks:
        parts.append(
            _table(
                ("streak", "started", "longest", "completed", "rate"),
                streaks,
                numeric=(1, 2, 3, 4),
                caption="Streaks",
            )
        )
    used = [
        (
            kind,
            _count(game[kind]["issued"]),
            _count(game[kind]["used"]),
            _share(game[kind]["used"], game[kind]["issued"]),
        )
        for kind in ("offers", "coupons")
    ]
    parts.append(
        _table(("", "issued", "used", "used share"), used, numeric=(1, 2, 3), caption="Offers and coupons")
    )
    parts.append("</div>\n</section>")
    return "".join(parts)


def _analytics(analytics: Mapping[str, Any], currency: str) -> str:
    figures = [
        ("Average check", _money(analytics["average_check"], currency)),
        ("Purchase frequency (baskets per customer)", _number(analytics["purchase_frequency"])),
        ("Repeat rate", _rate(analytics["repeat_rate"])),
        ("Share of returns", _rate(analytics["returns_share"])),
        ("New customers", _count(analytics["new_customers"])),
        ("Returning customers", _count(analytics["returning_customers"])),
    ]
    categories = [
        (row["category"], _money(row["spend"], currency), _rate(row["share"]))
        for row in analytics["top_categories"]
    ]
    months = [
        (row["month"], _money(row["spend"], currency), _count(row["baskets"]))
        for row in analytics["by_month"]
    ]
    weekdays = [
        (row["weekday"], _money(row["spend"], currency), _count(row["baskets"]))
        for row in analytics["by_weekday"]
    ]
    return (
        '<section id="analytics">\n<h2>Analytics</h2>\n<div class="tables">\n'
        + _table(("figure", ""), figures, numeric=(1,), caption="Customers and baskets")
        + _table(("category", "spend", "share"), categories, numeric=(1, 2), caption="Top categories")
        + _table(("month", "spend", "baskets"), months, numeric=(1, 2), caption="By month")
        + _table(("weekday", "spend", "baskets"), weekdays, numeric=(1, 2), caption="By weekday")
        + "</div>\n</section>"
    )


def _compare(report: Mapping[str, Any], compare: Mapping[str, Any], currency: str) -> str:
    base, other = report["program"], compare["program"]
    base_name, other_name = _version(base), _version(other)
    figures = []
    for row in compare["diff"]:
        figures.append(
            (
                _e(row["figure"]),
                _e(_value(row["base"])),
                _e(_value(row["other"])),
                _e(_value(row["delta"], signed=True)),
                _change_cell(row["change"]),
            )
        )
    rules = [
        (row["rule"], _count(row["base"]), _count(row["other"]), _signed(row["delta"]))
        for row in compare["per_rule"]
    ]
    customers = [
        (row["customer"], _count(row["base"]), _count(row["other"]), _signed(row["delta"]))
        for row in compare["most_affected"]
    ]
    return (
        '<section id="compare">\n'
        f"<h2>Comparison: {_e(base_name)} (base) against {_e(other_name)} (other)</h2>\n"
        '<p class="meta">Both versions replayed over the same history in one pass. Deltas are other − base; '
        f"money in {_e(currency)}.</p>\n"
        + _table(
            ("figure", "base", "other", "delta", "change"),
            figures,
            numeric=(1, 2, 3, 4),
            escaped=True,
            caption="Every figure",
        )
        + _tier_matrix(compare["tier_matrix"], base_name, other_name)
        + _rule_delta_chart(compare["per_rule"], base_name, other_name)
        + _table(
            ("rule", "base points", "other points", "delta"), rules, numeric=(1, 2, 3), caption="Per rule"
        )
        + _table(
            ("customer", "base points", "other points", "delta"),
            customers,
            numeric=(1, 2, 3),
            caption="The customers most affected",
        )
        + "</section>"
    )


def _tier_matrix(matrix: Mapping[str, Any], base_name: str, other_name: str) -> str:
    """Customers by their tier at the end under each version: rows base, columns other."""
    counts: Sequence[Sequence[int]] = matrix["counts"]
    largest = max((count for row in counts for count in row), default=0) or 1
    head = "".join(f'<th scope="col" class="num">{_e(tier)}</th>' for tier in matrix["other_tiers"])
    rows = []
    for tier, row in zip(matrix["base_tiers"], counts, strict=True):
        cells = "".join(
            # The shade is a number this module computed, never report text.
            f'<td class="matrix" style="background: rgba(0, 114, 178, {0.08 + 0.6 * count / largest:.3f})">'
            f"{_count(count)}</td>"
            for count in row
        )
        rows.append(f'<tr><th scope="row">{_e(tier)}</th>{cells}</tr>')
    return (
        '<table id="tier-matrix">\n'
        f"<caption>Tier at the end: {_e(base_name)} (rows) against {_e(other_name)} (columns)</caption>\n"
        f"<thead><tr><th></th>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
    )
