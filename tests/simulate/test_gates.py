"""The `--fail-if` grammar: any text is a gate or a usage error with its code, never a crash; a
gate reads the figure (or its change with --compare) and fails exactly when its condition holds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine.simulate.gates import SHORT, GateError, check_gates, parse_gate


@given(st.text(max_size=40), st.booleans())
def test_any_text_is_a_gate_or_a_usage_error(text: str, compare: bool) -> None:
    try:
        gate = parse_gate(text, compare=compare)
    except GateError as error:
        assert error.diagnostic.code in ("RE711", "RE713")
    else:
        assert gate.operator in (">", ">=", "<", "<=", "==", "!=")
        assert gate.value.is_finite()


@given(
    st.sampled_from(sorted(SHORT)),
    st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
    st.decimals(min_value=-1000, max_value=1000, places=2),
    st.booleans(),
)
def test_a_well_formed_gate_parses_back(name: str, op: str, value: Decimal, percent: bool) -> None:
    text = f"{name} {op} {value:+}{'%' if percent else ''}"
    gate = parse_gate(text, compare=True)
    assert (gate.figure, gate.operator, gate.value, gate.percent) == (SHORT[name], op, value, percent)


def _report(base: int, other: int | None) -> dict[str, Any]:
    def section(issued: int) -> dict[str, Any]:
        return {
            "cost": {"points": {"issued": issued}, "money": {"cost": None}, "per_rule": []},
            "tiers": {"final": {}, "moves": {}},
            "gamification": {
                "challenges": [],
                "quests": [],
                "streaks": [],
                "badges": [],
                "offers": {},
                "coupons": {},
            },
        }

    report = section(base)
    report["compare"] = None
    if other is not None:
        delta = other - base
        report["compare"] = {
            "diff": [
                {
                    "figure": "cost.points.issued",
                    "base": base,
                    "other": other,
                    "delta": delta,
                    "change": None,
                },
                {"figure": "cost.money.cost", "base": None, "other": None, "delta": None, "change": None},
            ]
        }
    return report


@pytest.mark.parametrize(
    ("gate", "base", "other", "value", "passed"),
    [
        ("issued > +5%", 100, 106, 6.0, False),
        ("issued > +5%", 100, 105, 5.0, True),
        ("issued < -10%", 100, 85, -15.0, False),
        ("issued > 3", 100, 104, 4.0, False),
        ("issued > 0%", 0, 10, None, False),
        ("issued == 0%", 0, 0, 0.0, False),
        ("issued > 150", 100, None, 100.0, True),
        ("cost > +5%", 100, 120, None, False),
    ],
)
def test_a_gate_fails_when_its_condition_holds(
    gate: str, base: int, other: int | None, value: float | None, passed: bool
) -> None:
    (result,) = check_gates([parse_gate(gate, compare=other is not None)], _report(base, other))
    assert result == {"gate": gate, "value": value, "passed": passed}


def test_a_figure_the_report_lacks() -> None:
    with pytest.raises(GateError) as raised:
        check_gates([parse_gate("tiers.final.diamond > 0", compare=False)], _report(1, None))
    assert raised.value.diagnostic.code == "RE712"
