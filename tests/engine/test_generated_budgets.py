"""Budgets and `per_rule` / `per_line` rounding on the generated path decide as the stages (issue 13).

A budget is counted across customers by a store: it reads what the rule gave in the event's
period into a `BudgetSnapshot`, the engine decides, and the store adds the event's awards (and
takes back what a return released). `_Budgets` is that store, one per engine, so that a small
budget runs out in the middle of a stream, period after period, on both paths alike. Every
stream here also asserts that the generated function decided its purchases (not a silent fall
back to the stages).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import generated as generated_module
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.generate import unsupported
from rules_engine.engine.reader import parse_event
from rules_engine.engine.run import BudgetSnapshot
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program, load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.random_programs import programs, streams
from tests.engine.two_paths import PROGRAMS

_SLOW = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


class _Budgets:
    """What a store counts of the budgets: points given per (rule, period key), as service.py's
    `_change` adds them."""

    def __init__(self, engine: Engine, spent: dict[tuple[str, str], Decimal] | None = None) -> None:
        self.engine = engine
        self.spent: dict[tuple[str, str], Decimal] = dict(spent or {})

    def decide(self, event: dict[str, Any], state: CustomerState | None) -> tuple[Any, ...]:
        """(outcome JSON, state JSON, the state), or ("refused", its codes, None)."""
        try:
            wanted = self.engine.budget_keys(parse_event(event))
        except EventError:
            wanted = []
        read: dict[str, dict[str, Decimal]] = {}
        for rule, key in wanted:
            if (rule, key) in self.spent:
                read.setdefault(rule, {})[key] = self.spent[rule, key]
        try:
            result = self.engine.process(event, state, budgets=BudgetSnapshot(read))
        except EventError as error:
            return "refused", [d.code for d in error.diagnostics], None
        given = {rule: Decimal(0) for rule, _ in wanted}
        for award in result.awards:
            if award.rule in given:
                given[award.rule] += award.points
        for rule, key in wanted:
            if given[rule]:
                self.spent[rule, key] = self.spent.get((rule, key), Decimal(0)) + given[rule]
        for released in result.budgets_released:
            back = (released.rule, released.period)
            self.spent[back] = self.spent.get(back, Decimal(0)) - released.points
        return result.outcome().model_dump_json(), result.state.model_dump_json(), result.state


def _counted(engine: Engine) -> list[str]:
    """The ids of the events the engine's generated function decides, from now on."""
    assert engine.generated is not None, unsupported(engine.plan)
    calls: list[str] = []
    decide = engine.generated.decide

    def counted(run: Any) -> None:
        calls.append(run.event.id)
        decide(run)

    setattr(engine.generated, "decide", counted)  # noqa: B010
    return calls


def _same(
    fast: Engine, slow: Engine, stream: list[dict[str, Any]], spent: Any = None
) -> tuple[list[str], Any]:
    """Both engines over `stream`, each with its own states and budgets: equal after every event.
    Returns the events the generated function decided, and the outcomes."""
    calls = _counted(fast)
    mine, theirs = _Budgets(fast, spent), _Budgets(slow, spent)
    states: dict[str, Any] = {}
    other: dict[str, Any] = {}
    outcomes = []
    for event in stream:
        customer = event["customer"]
        a = mine.decide(event, states.get(customer))
        b = theirs.decide(event, other.get(customer))
        assert a[:2] == b[:2], event
        assert mine.spent == theirs.spent
        outcomes.append(a[0])
        if a[0] != "refused":
            states[customer], other[customer] = a[2], b[2]
    return calls, outcomes


def _covered(stream: list[dict[str, Any]], outcomes: list[str]) -> bool:
    """A purchase the generated path covers was decided (not refused: a purchase older than the
    customer's latest event by more than the lateness allowed is refused before any path runs)."""
    return any(
        e["type"] == "purchase" and e.get("items") and not e.get("coupons") and outcome != "refused"
        for e, outcome in zip(stream, outcomes, strict=True)
    )


@_SLOW
@given(data=st.data())
def test_random_programs_of_every_rounding_with_budgets_decide_the_same(data: st.DataObject) -> None:
    """Random programs of `per_award`, `per_rule` and `per_line` rounding whose rules may have small
    budgets (of every period) that run out within the stream: the generated path decides every
    covered purchase, and both paths give the same outcomes, states and budget counts."""
    drawn = data.draw(programs(budgets=True), label="program")
    compiled = load_program_text(drawn.text, "random.yaml")
    fast, slow = Engine(compiled, secret=b"s"), Engine(compiled, secret=b"s", generated=False)
    stream = data.draw(streams(drawn, customers=3, events=20), label="stream")
    calls, outcomes = _same(fast, slow, stream)
    if _covered(stream, outcomes):
        assert calls


_ROUNDED = """
program: rounded
version: 1
timezone: UTC
currency: EUR
points: {rounding: ROUNDING, round: MODE}
tiers:
  qualify_on: visits
  window: lifetime
  levels:
    - {id: t0, threshold: 0}
    - {id: t1, threshold: 2, benefits: {earn_multiplier: 1.5}}
earn:
  - {id: third, rate: 1 per 3}
  - {id: seventh, rate: 1 per 7, exclude: item.category == "gift"}
  - {id: each, for_each_item: item.qty >= 2, award: item.price * item.qty / 9}
  - {id: flat, award: 2.5, cap: {per_day: 7}}
  - {id: double, multiply: 2, for_each_item: item.category == "food", budget: {points: 40, period: day}}
  - {id: bonus, multiply: 1.25, cap: {per_event: 3}}
"""


def _purchases(draw: Callable[..., Any], count: int) -> list[dict[str, Any]]:
    stream = []
    for number in range(count):
        items = [
            {
                "sku": f"S{line}",
                "category": draw(st.sampled_from(["food", "gift", "goods"])),
                "price": str(Decimal(draw(st.integers(1, 9999))).scaleb(-2)),
                "qty": draw(st.integers(1, 3)),
            }
            for line in range(draw(st.integers(1, 5)))
        ]
        time = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC) + dt.timedelta(hours=7 * number)
        stream.append(
            {
                "id": f"p{number}",
                "type": "purchase",
                "time": time.isoformat(),
                "customer": f"c{draw(st.integers(1, 2))}",
                "items": items,
            }
        )
    return stream


@pytest.mark.parametrize("mode", ["per_rule", "per_line", "per_award"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_rounding_mode_with_thirds_sevenths_and_multipliers_decides_the_same(
    mode: str, data: st.DataObject
) -> None:
    """Rates whose points fall between whole points on every line, a per-line award of ninths, a
    capped fraction, a multiplier on some lines with a daily budget, a capped one, the tier's:
    where each mode rounds decides every award and line share; both paths alike."""
    rounding = data.draw(st.sampled_from(["floor", "round", "ceil"]), label="rounding")
    compiled = load_program_text(_ROUNDED.replace("ROUNDING", rounding).replace("MODE", mode), "rounded.yaml")
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    source = generated_module.python_source(fast.plan)
    assert {"per_rule": "_line_points(", "per_line": "_lines = ", "per_award": "_ex_n = "}[mode] in source
    stream = _purchases(data.draw, data.draw(st.integers(1, 8), label="events"))
    calls, _ = _same(fast, slow, stream)
    assert calls == [event["id"] for event in stream]


def _fashion_purchase(number: int, qty: int, time: str = "2027-03-10T12:00:00+01:00") -> dict[str, Any]:
    return {
        "id": f"p{number}",
        "type": "purchase",
        "time": time,
        "customer": f"c{number % 3}",
        "items": [
            {
                "sku": "SS27-DRESS",
                "category": "dresses",
                "price": "120.00",
                "qty": qty,
                "attributes": {"collection": "ss27"},
            },
            {"sku": "OLD-SHOE", "category": "shoes", "price": "80.00", "qty": 1},
        ],
    }


def test_fashion_houses_budget_runs_out_on_the_generated_path() -> None:
    """fashion-house's `new-collection` (100 points an item of the new collection, at most 1,000
    an event, 2,000,000 over the program) with 1,250 points of its budget left: the first
    purchase is capped per event, the second gets what the budget has left, the third nothing —
    each traced as the stages trace it, every one decided by the generated function."""
    compiled = load_program(PROGRAMS / "fashion-house.yaml")
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    spent = {("new-collection", "lifetime"): Decimal(2_000_000 - 1_250)}
    stream = [_fashion_purchase(n, qty) for n, qty in enumerate([12, 4, 1])]
    calls, outcomes = _same(fast, slow, stream, spent)
    assert calls == ["p0", "p1", "p2"]
    verdicts = []
    for outcome in outcomes:
        (entry,) = [t for t in _trace(outcome) if t["rule"] == "new-collection"]
        verdicts.append((entry["code"], entry["reason"]))
    assert verdicts == [
        ("capped", "1000 points; per-event cap reached, would have given 1200"),
        ("budget_exhausted", "250 points; budget reached, would have given 400"),
        ("budget_exhausted", "budget reached: would have given 100"),
    ]


def _trace(outcome: str) -> list[dict[str, Any]]:
    import json

    return json.loads(outcome)["trace"]  # type: ignore[no-any-return]


def test_compile_shows_the_budget_and_the_rounding_in_the_generated_code() -> None:
    """`loyalty compile --python` reads what runs: the budget's allowance from the store's count,
    and each mode's rounding."""
    source = generated_module.python_source(Engine.from_file(PROGRAMS / "fashion-house.yaml").plan)
    assert "run.budgets.spent.get('new-collection', _EMPTY)" in source
    assert "_limit = 'budget'" in source and "'budget_exhausted' if _limit == 'budget'" in source
    for mode, words in (("per_rule", "_t = _xn // _xd"), ("per_line", "_rl = [_x // _ld for _x in _ln]")):
        text = _ROUNDED.replace("ROUNDING", "floor").replace("MODE", mode)
        assert words in generated_module.python_source(Engine(load_program_text(text, "r.yaml")).plan)


_PRIMES = (7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59)


@pytest.mark.parametrize("mode", ["per_line", "per_award"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exact_points_over_a_denominator_past_64_bits_decide_the_same(mode: str, data: st.DataObject) -> None:
    """Rates of 1 per 7, 11, … 59 weighed in cents: the lines' exact points need a common
    denominator past 64 bits (100 × 7 × 11 × … × 59 > 2^64), which both paths reduce (the
    generated code calls `_gcd` then); the same points on every line."""
    rules = "\n".join(f"  - {{id: p{p}, rate: 1 per {p}}}" for p in _PRIMES)
    head = f"program: primes\nversion: 1\ntimezone: UTC\ncurrency: EUR\npoints: {{round: {mode}}}\n"
    text = f"{head}earn:\n{rules}\n"
    compiled = load_program_text(text, "primes.yaml")
    fast, slow = Engine(compiled), Engine(compiled, generated=False)
    stream = _purchases(data.draw, data.draw(st.integers(1, 3), label="events"))
    calls, _ = _same(fast, slow, stream)
    assert calls == [event["id"] for event in stream]
    assert math.lcm(100, *_PRIMES) > 1 << 64
