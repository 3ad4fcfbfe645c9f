"""`--fail-if` gates: a simulation that fails a CI job when a figure moves too far.

The grammar, one gate per `--fail-if`:

    gate    := figure operator value
    figure  := a short name (cost, issued, redeemed, expired, reversed, liability, breakage,
               discounts) or any figure of the comparison's diff, dotted (cost.points.issued,
               tiers.final.gold, cost.per_rule.base.points)
    operator:= >  >=  <  <=  ==  !=
    value   := a number, signed or not, with % or without: +5%  -2.5%  1000  0

With `--compare`, a gate reads the change from the base program to the other: in percent of the
base with `%` ("cost > +5%": the cost grew by more than 5 %), as a difference without it
("liability > 100000": the liability grew by more than 100,000 points). Without `--compare`, a
gate reads the figure itself ("liability > 5000000"), and a `%` has nothing to be a percent of.
A gate *fails* when its condition holds; the command then exits 1 after printing the report.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rules_engine.errors import Diagnostic

SHORT = {
    "cost": "cost.money.cost",
    "issued": "cost.points.issued",
    "redeemed": "cost.points.redeemed",
    "expired": "cost.points.expired",
    "reversed": "cost.points.reversed",
    "liability": "cost.points.liability",
    "breakage": "cost.points.breakage",
    "discounts": "cost.money.discounts",
}
"""The short figure names a gate may use, and the figure each stands for."""

_OPERATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_GATE = re.compile(r"^\s*([A-Za-z_][\w.\-:]*)\s*(>=|<=|==|!=|>|<)\s*([+-]?\d+(?:\.\d+)?)\s*(%?)\s*$")


class GateError(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass(frozen=True)
class Gate:
    text: str
    figure: str
    """The full dotted name."""
    operator: str
    value: Decimal
    percent: bool


def parse_gate(text: str, *, compare: bool) -> Gate:
    """A gate from its text.

    Raises:
        GateError: RE711 not a gate; RE713 a percent without `--compare`.
    """
    found = _GATE.match(text)
    if found is None:
        raise GateError(
            Diagnostic(
                "RE711",
                f"--fail-if {text!r}: not a gate",
                hint='write FIGURE OPERATOR VALUE, e.g. "cost > +5%" or "liability >= 100000"',
            )
        )
    name, op, number, percent = found.groups()
    if percent and not compare:
        raise GateError(
            Diagnostic(
                "RE713",
                f"--fail-if {text!r}: a percent gate needs --compare (a change from one version to another)",
                hint="add --compare OTHER.yaml, or gate on the figure itself without %",
            )
        )
    try:
        value = Decimal(number)
    except InvalidOperation:  # the pattern admits only numbers; kept for the type checker
        raise GateError(Diagnostic("RE711", f"--fail-if {text!r}: {number} is not a number")) from None
    return Gate(text.strip(), SHORT.get(name, name), op, value, bool(percent))


def check_gates(gates: list[Gate], report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each gate's measured value and whether it passed (its condition does not hold).

    Raises:
        GateError: RE712 a gate names a figure the report does not have.
    """
    from rules_engine.simulate.report import figures

    compare = report.get("compare")
    base = figures(report)
    rows: dict[str, Mapping[str, Any]] = {}
    if compare is not None:
        rows = {row["figure"]: row for row in compare["diff"]}
    results = []
    for gate in gates:
        if gate.figure not in base and gate.figure not in rows:
            known = ", ".join(sorted(SHORT))
            raise GateError(
                Diagnostic(
                    "RE712",
                    f"--fail-if {gate.text!r}: no figure {gate.figure!r} in the report",
                    hint=f"use one of {known}, or a dotted figure of the diff (cost.points.issued)",
                )
            )
        measured = _measured(gate, base, rows, compare is not None)
        passed = measured is not None and not _OPERATORS[gate.operator](measured, gate.value)
        results.append({"gate": gate.text, "value": _number(measured), "passed": passed})
    return results


def _measured(
    gate: Gate, base: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]], compare: bool
) -> Decimal | None:
    """What the gate compares: the figure, its change, or its change in percent (None when the
    figure has no value, e.g. money without a point value; a percent of a zero base is ±infinity
    unless nothing changed)."""
    if not compare:
        figure = base.get(gate.figure)
        return None if figure is None else Decimal(str(figure))
    row = rows.get(gate.figure)
    if row is None or row["delta"] is None:
        return None
    delta = Decimal(str(row["delta"]))
    if not gate.percent:
        return delta
    first = Decimal(str(row["base"]))
    if first == 0:
        return Decimal(0) if delta == 0 else Decimal("Infinity") * (1 if delta > 0 else -1)
    return delta / abs(first) * 100


def _number(measured: Decimal | None) -> float | None:
    """The measured value for JSON: None when unknown or infinite (a percent of nothing)."""
    return None if measured is None or not measured.is_finite() else float(measured)
