"""The simulate report's words and numbers as HTML: tables, escaping, counts, money, rates and
changes, for the page's sections (`html`) and the charts' titles (`charts`).

Apart from both because both use it: every string of the report goes through `_e` (html.escape)
before it reaches the page.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any


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


def _money(amount: str | None, currency: str) -> str:
    """A decimal string with thousands separators and its currency, exactly as given (no float);
    a dash for none (a points figure in money when no point value is set)."""
    return "—" if amount is None else f"{Decimal(amount):,} {currency}"


def _rate(value: float) -> str:
    return f"{float(value):.1%}"


def _share(part: int, whole: int) -> str:
    return _rate(part / whole) if whole else "—"


def _number(value: float) -> str:
    return f"{float(value):,.2f}"


def _value(value: object, *, signed: bool = False) -> str:
    """A figure of the diff: an int or a money string with separators, exactly; a float to 4 digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
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


def _tier_order(tiers: Mapping[str, Any], monthly: Sequence[Mapping[str, Any]]) -> list[str]:
    """The program's tiers in its order, then any other tier the months name, alphabetically."""
    order = [str(tier) for tier in tiers["order"]]
    extra = {str(tier) for row in monthly for tier in row["tiers"]} | {str(tier) for tier in tiers["final"]}
    return order + sorted(extra - set(order))
