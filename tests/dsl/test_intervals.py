"""Interval analysis never claims too much: whatever input a condition holds for, the analysis
covers it, so a condition it calls contradictory is false for every input (issue 16)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.dsl.expression import compile_condition
from rules_engine.dsl.intervals import cases, holds_for

# A few values, shared by the conditions and the data, so that boundaries are hit often.
NUMBERS = [0, 5, Decimal("5.5"), 10, 50, 100]
TEXTS = ["app", "web", "store"]
NUMBER_PATHS = {"basket.total": ("basket", "total"), "basket.shipping": ("basket", "shipping")}
TEXT_PATHS = {"event.channel": ("event", "channel")}


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        path = draw(st.sampled_from(sorted(NUMBER_PATHS)))
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        value = draw(st.sampled_from(NUMBERS))
        if draw(st.integers(0, 5)) == 0:
            return f"{path} {draw(st.sampled_from(['==', '!=']))} null"
        if draw(st.integers(0, 5)) == 0:
            listed = draw(st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3))
            return f"{path} {draw(st.sampled_from(['in', 'not in']))} [{', '.join(map(str, listed))}]"
        return f"{value} {op} {path}" if draw(st.booleans()) else f"{path} {op} {value}"
    path = draw(st.sampled_from(sorted(TEXT_PATHS)))
    op = draw(st.sampled_from(["==", "!=", "in", "not in"]))
    if op in ("in", "not in"):
        listed = draw(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=2))
        return f"{path} {op} [{', '.join(f'{chr(34)}{t}{chr(34)}' for t in listed)}]"
    return f'{path} {op} "{draw(st.sampled_from(TEXTS))}"'


def conditions(depth: int = 3) -> st.SearchStrategy[str]:
    return st.recursive(
        comparisons(),
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda c: f"not {c}"),
        ),
        max_leaves=6,
    )


DATA = st.fixed_dictionaries(
    {
        "basket.total": st.sampled_from(NUMBERS),
        "basket.shipping": st.none() | st.sampled_from(NUMBERS),
        "event.channel": st.none() | st.sampled_from(TEXTS),
    }
)


def _context(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "basket": {"total": values["basket.total"], "shipping": values["basket.shipping"]},
        "event": {
            "id": "e",
            "type": "purchase",
            "time": "2026-12-05T09:15:00+03:00",
            "channel": values["event.channel"],
        },
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions(), st.lists(DATA, min_size=1, max_size=8))
def test_the_analysis_covers_every_input_a_condition_holds_for(
    text: str, inputs: list[dict[str, Any]]
) -> None:
    expression = compile_condition(text)
    found = cases(expression.tree, expression.constants)
    negated = cases(expression.tree, expression.constants, negate=True)
    for values in inputs:
        holds = expression.evaluate(_context(values)) is True
        paths = {NUMBER_PATHS.get(name) or TEXT_PATHS[name]: value for name, value in values.items()}
        if holds:
            assert holds_for(found, paths), (text, values, found)
        else:
            assert holds_for(negated, paths), (text, values, negated)
        if not found:  # called contradictory: false for every input
            assert not holds


def test_contradictions_are_found() -> None:
    for text in [
        "basket.total > 100 and basket.total < 50",
        "basket.total >= 10 and not (basket.total > 5)",
        'event.channel == "app" and event.channel in ["web", "store"]',
        "basket.shipping == null and basket.shipping > 0",
        "len(customer.purchases) > 3 and len(customer.purchases) < 2",
        'event.date >= date("2026-12-01") and event.date < date("2026-11-01")',
        "basket.total > min_spend and basket.total < 100",
    ]:
        expression = compile_condition(text, constants={"min_spend": 500})
        assert cases(expression.tree, expression.constants) == (), text


def test_what_can_hold_is_not_called_contradictory() -> None:
    for text in [
        "basket.total >= 5 and basket.total <= 5",
        "basket.total > 100 or basket.total < 50",
        "not (basket.shipping > 0) and basket.shipping <= 0 or basket.shipping == null",
        'event.channel != "app" and event.channel == null',
        "any(i.price > 5 for i in basket.items) and any(i.price < 2 for i in basket.items)",
    ]:
        expression = compile_condition(text)
        assert cases(expression.tree, expression.constants) != (), text
