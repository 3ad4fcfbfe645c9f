"""The simulate report's charts: each an inline SVG drawn by matplotlib, for `html.render`'s page.

Apart from the page (`html`: its sections and tables) because this is the one part that needs
matplotlib, with its own style, fixed SVG salts and axis formats. The text of the charts is
escaped by matplotlib's SVG writer and math rendering is off (`text.parse_math`), so a `$` in a
rule name stays a dollar sign; importing this module without the `simulate` extra says so.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
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

from rules_engine.simulate.html_text import _e, _version

CHART_WIDTH = 10.5  # inches; the SVGs scale to the page's width (CSS), so this sets the text's size
RULE_LABEL_WIDTH = 40  # characters of a rule name on a chart's axis; the tables show it whole
# Colours that stay apart for people with the common colour-vision deficiencies (Okabe and Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
INCREASE, DECREASE = "#D55E00", "#0072B2"


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
        if min(row["liability"] for _, rows in series for row in rows) >= 0:
            axes.set_ylim(bottom=0)  # a negative liability (points owed, `negative_balance: allow`) is drawn
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


def _cost_per_rule_chart(
    per_rule: Sequence[Mapping[str, Any]], point_value: str | None, currency: str
) -> str:
    """What each rule cost in money: its points at the point value, and its discounts, stacked;
    the discounts alone when no point value is set (points have no price then)."""
    if not per_rule:
        return ""
    value = Decimal(0 if point_value is None else point_value)
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
        series = [("discounts", discounts, points, PALETTE[1])]
        if point_value is not None:
            series.insert(0, ("points", points, [0.0] * len(costs), PALETTE[0]))
        for kind, widths, left, color in series:
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


def _label(name: str) -> str:
    """A name short enough for a chart's axis."""
    name = str(name)
    return name if len(name) <= RULE_LABEL_WIDTH else name[: RULE_LABEL_WIDTH - 1] + "…"


def _months(months: Iterable[str]) -> list[str]:
    return sorted(set(months))
