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
"""

from __future__ import annotations

import html
import io
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

try:
    import matplotlib
    from matplotlib.figure import Figure
except ModuleNotFoundError as missing:  # the `simulate` extra is not installed
    raise ModuleNotFoundError(
        "the HTML report draws its charts with matplotlib, which is not installed; "
        "install it with: pip install 'rules-engine[simulate]'",
        name=missing.name,
    ) from missing

REPORT_FORMAT = "loyalty-simulate/1"
CHART_WIDTH = 10.5  # inches; the SVGs scale to the page's width (CSS), so this sets the text's size
RULE_LABEL_WIDTH = 40  # characters of a rule name on a chart's axis; the tables show it whole
# Colours that stay apart for people with the common colour-vision deficiencies (Okabe and Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
INCREASE, DECREASE = "#D55E00", "#0072B2"

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
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25rem 0.7rem; text-align: left; vertical-align: top; }
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
    meta = (
        f"Program {_e(program['name'])} version {_e(program['version'])} "
        f"(hash <code>{_e(str(program['hash'])[:12])}</code>) replayed over "
        f"{_count(history['events'])} events of {_count(history['customers'])} customers, "
        f"{_e(history['from'])} to {_e(history['to'])}, from {_e(history['source'])}. "
        f"One point is worth {_e(_money(report['point_value'], currency))}."
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


def _tiers(report: Mapping[str, Any]) -> str:
    tiers = report["tiers"]
    order = _tier_order(tiers, report["monthly"])
    final, share = tiers["final"], tiers["spend_share"]
    rows = [(tier, _count(final.get(tier, 0)), _rate(share.get(tier, 0.0))) for tier in order]
    moves = tiers["moves"]
    return (
        '<section id="tiers">\n<h2>Tiers</h2>\n'
        + _tier_chart(report["monthly"], order)
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


# --- The charts ------------------------------------------------------------------------------------


def _liability_chart(report: Mapping[str, Any]) -> str:
    """Points outstanding at the end of each month; with a comparison, the other version's line too."""
    monthly = report["monthly"]
    if not monthly:
        return ""
    series = [(_version(report["program"]), monthly)]
    compare = report.get("compare")
    if compare:
        series.append((_version(compare["program"]), compare["report"]["monthly"]))
    with _chart_style("liability"):
        figure = Figure(figsize=(CHART_WIDTH, 3.6))
        axes = figure.add_subplot()
        months = _months(line["month"] for _, rows in series for line in rows)
        for index, (name, rows) in enumerate(series):
            by_month = {row["month"]: row["liability"] for row in rows}
            xs = [months.index(month) for month in months if month in by_month]
            ys = [by_month[month] for month in months if month in by_month]
            (line,) = axes.plot(xs, ys, marker="o", color=PALETTE[index], label=name)
            line.set_gid(f"liability-series-{index}")
        axes.set_title("Liability over time (points outstanding at the end of each month)")
        axes.set_ylabel("points")
        _month_axis(axes, months)
        axes.yaxis.set_major_formatter(_thousands)
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", frameon=False)
        return _figure(figure, "liability", "Liability over time")


def _tier_chart(monthly: Sequence[Mapping[str, Any]], order: Sequence[str]) -> str:
    """Customers in each tier at the end of each month, stacked in the program's tier order."""
    if not monthly or not order:
        return ""
    with _chart_style("tiers"):
        figure = Figure(figsize=(CHART_WIDTH, 3.6))
        axes = figure.add_subplot()
        months = [row["month"] for row in monthly]
        bottoms = [0] * len(monthly)
        for index, tier in enumerate(order):
            heights = [row["tiers"].get(tier, 0) for row in monthly]
            bars = axes.bar(
                range(len(months)),
                heights,
                bottom=bottoms,
                label=tier,
                color=PALETTE[index % len(PALETTE)],
                width=0.7,
            )
            for month, bar in enumerate(bars):
                bar.set_gid(f"tiers-bar-{index}-{month}")
            bottoms = [bottom + height for bottom, height in zip(bottoms, heights, strict=True)]
        axes.set_title("Tier distribution by month (customers at the end of each month)")
        axes.set_ylabel("customers")
        _month_axis(axes, months)
        axes.yaxis.set_major_formatter(_thousands)
        axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, reverse=True)
        return _figure(figure, "tiers", "Tier distribution over time")


def _cost_per_rule_chart(per_rule: Sequence[Mapping[str, Any]], point_value: str, currency: str) -> str:
    """What each rule cost in money: its points at the point value, and its discounts, stacked."""
    if not per_rule:
        return ""
    value = Decimal(point_value)
    costs = sorted(
        (
            (Decimal(rule["points"]) * value, Decimal(rule["discounts"]), str(rule["rule"]))
            for rule in per_rule
        ),
        key=lambda cost: (-(cost[0] + cost[1]), cost[2]),
    )
    names = [_label(name) for _, _, name in costs]
    points = [float(cost) for cost, _, _ in costs]
    discounts = [float(discount) for _, discount, _ in costs]
    with _chart_style("cost-per-rule"):
        figure = Figure(figsize=(CHART_WIDTH, 1.2 + 0.32 * len(costs)))
        axes = figure.add_subplot()
        positions = range(len(costs))
        for kind, widths, left, color in (
            ("points", points, [0.0] * len(costs), PALETTE[0]),
            ("discounts", discounts, points, PALETTE[1]),
        ):
            bars = axes.barh(
                positions,
                widths,
                left=left,
                color=color,
                height=0.65,
                label=f"points at {point_value} {currency}" if kind == "points" else "discounts",
            )
            for index, bar in enumerate(bars):
                bar.set_gid(f"cost-per-rule-{kind}-{index}")
        axes.set_yticks(list(positions), names)
        axes.invert_yaxis()  # the costliest rule on top
        axes.set_title(f"Cost per rule ({currency})")
        axes.set_xlabel(currency)
        axes.xaxis.set_major_formatter(_thousands)
        axes.legend(loc="lower right", frameon=False)
        return _figure(figure, "cost-per-rule", "Cost per rule")


def _rule_delta_chart(per_rule: Sequence[Mapping[str, Any]], base_name: str, other_name: str) -> str:
    """The change in points per rule, other − base, largest changes on top."""
    if not per_rule:
        return ""
    rows = sorted(per_rule, key=lambda row: (-abs(row["delta"]), str(row["rule"])))
    with _chart_style("rule-deltas"):
        figure = Figure(figsize=(CHART_WIDTH, 1.2 + 0.32 * len(rows)))
        axes = figure.add_subplot()
        deltas = [row["delta"] for row in rows]
        bars = axes.barh(
            range(len(rows)),
            deltas,
            height=0.65,
            color=[INCREASE if delta > 0 else DECREASE for delta in deltas],
        )
        for index, bar in enumerate(bars):
            bar.set_gid(f"rule-delta-{index}")
        axes.axvline(0, color="#333", linewidth=0.8)
        axes.set_yticks(range(len(rows)), [_label(row["rule"]) for row in rows])
        axes.invert_yaxis()
        axes.set_title(f"Per-rule change in points: {_label(other_name)} − {_label(base_name)}")
        axes.set_xlabel("points")
        axes.xaxis.set_major_formatter(_signed_thousands)
        return _figure(figure, "rule-deltas", "Per-rule deltas")


@contextmanager
def _chart_style(name: str) -> Iterator[None]:
    """matplotlib settings for one chart: text as text, no math, ids salted by the chart's name.

    The salt makes the SVG's ids repeatable (no random uuid) and distinct between charts, since
    they all share one HTML document. Warnings about glyphs missing from matplotlib's font are
    silenced: the browser draws the text with its own fonts (`svg.fonttype: none`). rc_context
    changes matplotlib's global settings for the length of the block, so `render` is not meant
    to run in two threads of one process at once (simulate calls it once, at the end).
    """
    with (
        matplotlib.rc_context(
            {
                "svg.fonttype": "none",
                "svg.hashsalt": f"loyalty-simulate-{name}",
                "text.parse_math": False,
                "font.size": 9,
                "axes.spines.top": False,
                "axes.spines.right": False,
                "axes.titlesize": 11,
                "axes.titleweight": "bold",
                "axes.titlelocation": "left",
            }
        ),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="Glyph .* missing from")
        yield


def _figure(figure: Figure, name: str, label: str) -> str:
    """The figure as an inline SVG in a <figure>, with the XML prologue removed."""
    figure.set_gid(f"chart-{name}")
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_e(label)}" ', 1)
    return f'<figure id="figure-{name}">\n{svg}</figure>\n'


def _month_axis(axes: Any, months: Sequence[str]) -> None:
    axes.set_xticks(
        range(len(months)),
        months,
        rotation=45 if len(months) > 8 else 0,
        ha="right" if len(months) > 8 else "center",
    )
    axes.set_xlim(-0.6, len(months) - 0.4)


def _thousands(value: float, _position: object = None) -> str:
    return f"{value:,.0f}"


def _signed_thousands(value: float, _position: object = None) -> str:
    return f"{value:+,.0f}" if value else "0"


# --- Text -------------------------------------------------------------------------------------------


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    caption: str = "",
    escaped: bool = False,
) -> str:
    """An HTML table; cells are escaped here, unless `escaped` says the caller built them as HTML.

    Numbers this module formatted (`_count`, `_money`, `_rate`) are plain text too, so escaping
    them changes nothing; only the caller that adds markup (a coloured verdict) passes `escaped`.
    """
    number = ' class="num"'
    head = "".join(
        f'<th scope="col"{number if column in numeric else ""}>{_e(header)}</th>'
        for column, header in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f"<td{number if column in numeric else ''}>{cell if escaped else _e(cell)}</td>"
            for column, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">none</td></tr>')
    title = f"<caption>{_e(caption)}</caption>\n" if caption else ""
    return (
        f"<table>\n{title}<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody>\n</table>\n"
    )


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _count(value: int) -> str:
    return f"{int(value):,}"


def _signed(value: int) -> str:
    return f"{int(value):+,}" if value else "0"


def _money(amount: str, currency: str) -> str:
    """A decimal string with thousands separators and its currency, exactly as given (no float)."""
    return f"{Decimal(amount):,} {currency}"


def _rate(value: float) -> str:
    return f"{float(value):.1%}"


def _share(part: int, whole: int) -> str:
    return _rate(part / whole) if whole else "—"


def _number(value: float) -> str:
    return f"{float(value):,.2f}"


def _value(value: object, *, signed: bool = False) -> str:
    """A figure of the diff: an int or a money string with separators, exactly; a float to 4 digits."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return _signed(value) if signed else _count(value)
    if isinstance(value, float):
        return f"{value:+,.4g}" if signed else f"{value:,.4g}"
    try:
        amount = Decimal(str(value))  # money: a decimal string, shown exactly
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    return f"{amount:+,}" if signed and amount else f"{amount:,}"


def _change(value: float | None) -> str:
    return "—" if value is None else f"{float(value):+.1%}"


def _change_cell(value: float | None) -> str:
    if value is None or value == 0:
        return _change(value)
    arrow, tone = ("▲", "up") if value > 0 else ("▼", "down")
    return f'<span class="{tone}">{arrow} {_change(value)}</span>'


def _version(program: Mapping[str, Any]) -> str:
    return f"{program['name']} v{program['version']}"


def _label(name: str) -> str:
    """A name short enough for a chart's axis."""
    name = str(name)
    return name if len(name) <= RULE_LABEL_WIDTH else name[: RULE_LABEL_WIDTH - 1] + "…"


def _months(months: Iterable[str]) -> list[str]:
    return sorted(set(months))


def _tier_order(tiers: Mapping[str, Any], monthly: Sequence[Mapping[str, Any]]) -> list[str]:
    """The program's tiers in its order, then any other tier the months name, alphabetically."""
    order = [str(tier) for tier in tiers["order"]]
    extra = {str(tier) for row in monthly for tier in row["tiers"]} | {str(tier) for tier in tiers["final"]}
    return order + sorted(extra - set(order))
