"""The integer rounding (engine/rounding.py) against the rational one it replaced, and the integer
split against the decimal one: differential, over random awards in every mode.

`Rounding` keeps an award's exact points per line as numerators over one common denominator,
never reduced, and splits shares by whole weights (`split_points`). The reference below is the
earlier implementation, on `Fraction`s in lowest terms, splitting the decimal weights with
`split`. Both are driven exactly as `earning.award` drives them (total, the cap's cut, shares,
given out) over sequences of rates, awards and multipliers; every total and every share must be
the same decimal (value and exponent: the JSON), in every mode and rounding.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import earning
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.money import ONE, round_points, split, split_points
from rules_engine.engine.rounding import Rounding, rate_ratio, scaled
from rules_engine.program.validate import load_program_text

ZERO = Decimal(0)
Step = tuple[str, Decimal, tuple[int, int] | None, Decimal | None, list[bool] | None]
Awarded = tuple[Decimal, list[Decimal] | None]


def _round(value: Fraction, rounding: str) -> int:
    if rounding == "floor":
        return math.floor(value)
    if rounding == "ceil":
        return math.ceil(value)
    return math.floor(value + Fraction(1, 2))


class Reference:
    """The rounding as it was before the integers: `Fraction`s and decimal weights."""

    def __init__(self, mode: str, rounding: str, slots: int, track: bool) -> None:
        self.mode, self.rounding, self.track = mode, rounding, track or mode == "per_line"
        self.x = Fraction(0)
        self.exact = Fraction(0)
        self.given = 0
        self.line_exact = [Fraction(0)] * slots
        self.line_given = [0] * slots
        self.base = [Fraction(0)] * slots
        self.parts: list[Fraction] = []
        self.lines: list[int] = []

    def total(
        self,
        weights: list[Decimal],
        exact: Decimal,
        ratio: tuple[int, int] | None,
        factor: Decimal | None,
        selected: list[bool] | None,
    ) -> Decimal:
        if self.mode == "per_rule":
            return round_points(exact, self.rounding)
        if not self.track:
            self.x = Fraction(sum(weights, ZERO)) * Fraction(*ratio) if ratio is not None else Fraction(exact)
            return Decimal(_round(self.exact + self.x, self.rounding) - self.given).quantize(ONE)
        if selected is not None:
            bonus = Fraction(factor if factor is not None else ZERO)
            parts = [b * bonus if keep else Fraction(0) for b, keep in zip(self.base, selected, strict=True)]
        elif ratio is not None:
            parts = [Fraction(w) * Fraction(*ratio) for w in weights]
        else:
            weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
            if weight_sum:
                parts = [Fraction(exact) * Fraction(w) / weight_sum for w in weights]
            else:
                parts = [Fraction(0)] * len(weights)
                parts[0] = Fraction(exact)
        self.parts = parts
        self.x = sum(parts, Fraction(0))
        if self.mode == "per_award":
            return Decimal(_round(self.exact + self.x, self.rounding) - self.given).quantize(ONE)
        self.lines = [
            _round(e + x, self.rounding) - g
            for e, x, g in zip(self.line_exact, parts, self.line_given, strict=True)
        ]
        return Decimal(sum(self.lines)).quantize(ONE)

    def shares(
        self, granted: Decimal, total: Decimal, weights: list[Decimal], factor: Decimal | None, bonus: bool
    ) -> list[Decimal]:
        if self.mode == "per_line":
            if granted == total:
                return [Decimal(p) for p in self.lines]
            return split(granted, [Decimal(p) for p in self.lines], ONE)
        if self.track and bonus and any(self.parts):
            common = math.lcm(*(p.denominator for p in self.parts))
            weights = [Decimal(p.numerator * (common // p.denominator)) for p in self.parts]
            factor = None
        return split(granted, weights, ONE, factor)

    def given_out(self, granted: Decimal, total: Decimal, shares: list[Decimal], multiplier: bool) -> None:
        if self.mode == "per_rule":
            return
        cut = granted != total
        parts = self.parts
        if self.track and not multiplier:
            if cut:
                parts = [Fraction(int(s)) for s in shares] if shares else [Fraction(0)] * len(self.base)
            self.base = [b + x for b, x in zip(self.base, parts, strict=True)]
        if self.mode == "per_award":
            self.given += int(granted)
            self.exact = Fraction(self.given) if cut else self.exact + self.x
            return
        if cut:
            given = [g + int(s) for g, s in zip(self.line_given, shares or [ZERO] * len(parts), strict=True)]
            self.line_given = given
            self.line_exact = [Fraction(g) for g in given]
            return
        self.line_given = [g + p for g, p in zip(self.line_given, self.lines, strict=True)]
        self.line_exact = [e + x for e, x in zip(self.line_exact, self.parts, strict=True)]


def _award(
    rounding: Rounding | Reference, step: Step, weights: list[Decimal], cap: Decimal | None
) -> Awarded:
    """What `earning.award` does with a `Rounding`: total, the cap's cut, shares, given out."""
    _, exact, ratio, factor, selected = step
    bonus = selected is not None
    total = rounding.total(weights, exact, ratio, factor, selected)
    if total <= 0:
        rounding.given_out(ZERO, total, [], bonus)
        return total, None
    granted = total if cap is None else min(total, cap)
    if granted <= 0:
        rounding.given_out(ZERO, total, [], bonus)
        return total, None
    shares = rounding.shares(granted, total, weights, factor, bonus)
    rounding.given_out(granted, total, shares, bonus)
    return total, shares


money = st.decimals(min_value=0, max_value=5000, places=2, allow_nan=False, allow_infinity=False)
whole = st.integers(min_value=0, max_value=300).map(Decimal)
rates = st.sampled_from([(1, 1), (1, 3), (1, 100), (2, 7), (5, 1)])
multipliers = st.sampled_from(["1.5", "2", "1.25", "3", "1.1"]).map(Decimal)
caps = st.none() | st.integers(min_value=0, max_value=60).map(Decimal) | st.just(Decimal("10.0"))


@st.composite
def events(draw: st.DrawFn) -> tuple[int, list[Any]]:
    lines = draw(st.integers(min_value=1, max_value=6))
    slots = lines + 1
    steps: list[Any] = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        kind = draw(st.sampled_from(["rate", "award", "per_line_award", "bonus"]))
        cap = draw(caps)
        if kind == "rate":
            weights = [*draw(st.lists(money, min_size=lines, max_size=lines)), draw(money)]
            points, per = draw(rates)
            ratio = rate_ratio(Decimal(points), Decimal(per))
            exact = sum(weights, ZERO) * points / per
            steps.append(((kind, exact, ratio, None, None), weights, cap))
        elif kind == "award":
            weights = [*draw(st.lists(money, min_size=lines, max_size=lines)), ZERO]
            exact = draw(whole | money)
            steps.append(((kind, exact, None, None, None), weights, cap))
        elif kind == "per_line_award":
            weights = [*draw(st.lists(whole, min_size=lines, max_size=lines)), ZERO]
            steps.append(((kind, sum(weights, ZERO), None, ONE, None), weights, cap))
        else:
            factor = draw(multipliers) - 1
            selected = draw(st.lists(st.booleans(), min_size=slots, max_size=slots))
            steps.append((("bonus", factor, None, factor, selected), None, cap))
    return slots, steps


@settings(max_examples=400, deadline=None)
@given(
    events(),
    st.sampled_from(["per_rule", "per_award", "per_line"]),
    st.sampled_from(["floor", "round", "ceil"]),
    st.booleans(),
)
def test_integer_rounding_decides_as_the_rational_one(
    event: tuple[int, list[Any]], mode: str, how: str, track: bool
) -> None:
    slots, steps = event
    new, old = Rounding(mode, how, slots, track), Reference(mode, how, slots, track)
    given_per_line = [ZERO] * slots  # what the rules before a multiplier gave each line, as `earn` keeps it
    for (kind, exact, ratio, factor, selected), weights, cap in steps:
        if kind == "bonus":  # a multiplier weighs the points given so far
            weights = [p if keep else ZERO for p, keep in zip(given_per_line, selected, strict=True)]
            exact = sum(weights, ZERO) * factor
        step = (kind, exact, ratio, factor, selected)
        got = _award(new, step, weights, cap)
        expected = _award(old, step, weights, cap)
        assert str(got) == str(expected), (kind, weights, exact, cap)
        if kind != "bonus" and got[1]:
            given_per_line = [g + s for g, s in zip(given_per_line, got[1], strict=True)]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=-500, max_value=5000),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=1000),
)
def test_split_points_is_split_on_the_same_weights_scaled(total: int, weights: list[int], scale: int) -> None:
    """Whole weights, scaled alike by any factor, split as `split` splits them as decimals."""
    points = Decimal(total)
    expected = split(points, [Decimal(w) for w in weights], ONE)
    assert str(split_points(points, weights)) == str(expected)
    assert str(split_points(points, [w * scale for w in weights])) == str(expected)


@settings(max_examples=300, deadline=None)
@given(events(), st.sampled_from(["floor", "round", "ceil"]))
def test_without_a_multiplier_keeping_each_lines_points_changes_nothing(
    event: tuple[int, list[Any]], how: str
) -> None:
    """`earn` keeps each line's exact points only when a multiplier may come (`may_multiply`): for
    awards without one, `per_award` must decide the same either way."""
    slots, steps = event
    lean, tracked = Rounding("per_award", how, slots, False), Rounding("per_award", how, slots, True)
    for step, weights, cap in steps:
        if step[0] == "bonus":
            continue
        assert str(_award(lean, step, weights, cap)) == str(_award(tracked, step, weights, cap))


MULTIPLIED = load_program_text(
    """\
program: t
version: 1
timezone: Europe/Moscow
currency: RUB
points: {rounding: round}
tiers:
  qualify_on: spend
  window: lifetime
  levels:
    - {id: green, threshold: 0}
    - {id: gold, threshold: 3000, benefits: {earn_multiplier: 1.5}}
earn:
  - {id: base, rate: 1 per 30}
  - id: tuesday
    multiply: 2
    when: event.time.weekday == "tue"
    active: {start: 2026-12-01, end: 2026-12-31}
  - {id: pastry, multiply: 1.25, for_each_item: item.category == "pastry", when: basket.total >= 500}
  - {id: bonus, award: 7, when: basket.total >= 100}
  - {id: per-pastry, award: 2 * item.qty, for_each_item: item.category == "pastry"}
""",
    "t.yaml",
)

lines = st.tuples(
    st.sampled_from(["coffee", "pastry", "beans"]),
    st.decimals(min_value="0.01", max_value="900", places=2),
    st.integers(min_value=1, max_value=4),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(lines, min_size=1, max_size=5), st.integers(min_value=0, max_value=40)), max_size=6
    )
)
def test_the_engine_decides_the_same_whether_or_not_a_multiplier_was_expected(
    purchases: list[tuple[list[tuple[str, Decimal, int]], int]],
) -> None:
    """`may_multiply` only spares `Rounding` the per-line bookkeeping: with it forced on, every
    outcome (points, shares, trace, state) is the same, across Tuesdays of December and not, gold
    and not, pastry and not."""
    engine = Engine(MULTIPLIED)
    start = dt.datetime(2026, 11, 28, 9, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    lean = tracked = None
    original = earning.may_multiply
    moment = start
    for n, (basket, hours) in enumerate(purchases):
        moment += dt.timedelta(hours=hours + 1)
        event = {
            "id": f"e{n}",
            "type": "purchase",
            "time": moment.isoformat(),
            "customer": "c1",
            "items": [
                {"sku": f"S{i}", "category": c, "price": str(p), "qty": q}
                for i, (c, p, q) in enumerate(basket)
            ],
        }
        first = engine.process(event, lean)
        try:
            earning.may_multiply = lambda run: True  # type: ignore[assignment]
            second = engine.process(event, tracked)
        finally:
            earning.may_multiply = original
        assert first.model_dump_json() == second.model_dump_json()
        lean, tracked = first.state, second.state


@settings(max_examples=300, deadline=None)
@given(
    events(),
    st.sampled_from(["per_award", "per_line"]),
    st.sampled_from(["floor", "round", "ceil"]),
    st.booleans(),
    st.integers(min_value=1, max_value=1000),
)
def test_weights_given_scaled_decide_as_weights_scaled_by_the_rounding(
    event: tuple[int, list[Any]], mode: str, how: str, track: bool, scale: int
) -> None:
    """`earn` scales the earning base to integers once per event and hands a rate or award those
    (`units`), over any common denominator: every total and share is the same as the rounding's
    own scaling of the decimal weights gives."""
    slots, steps = event
    given_units, own = Rounding(mode, how, slots, track), Rounding(mode, how, slots, track)
    for (kind, exact, ratio, factor, selected), weights, cap in steps:
        if kind == "bonus":
            continue
        numerators, denominator = scaled(weights)
        units = ([n * scale for n in numerators], denominator * scale)
        bonus = selected is not None
        got = given_units.total(weights, exact, ratio, factor, selected, units)
        expected = own.total(weights, exact, ratio, factor, selected)
        assert str(got) == str(expected), (kind, weights, exact)
        granted = got if cap is None else min(got, cap)
        if granted <= 0:
            given_units.given_out(ZERO, got, [], bonus)
            own.given_out(ZERO, expected, [], bonus)
            continue
        shares = given_units.shares(granted, got, weights, factor, bonus)
        assert str(shares) == str(own.shares(granted, expected, weights, factor, bonus))
        given_units.given_out(granted, got, shares, bonus)
        own.given_out(granted, expected, shares, bonus)
