"""The stages decide money on integers (issue 12, item 1): held to the decimal stages they replaced.

`pricing.take_off` cuts a percent or an amount off the lines in the currency's minor units and
`earning.earning_base` takes tax and points paid off in them; the tiers add a purchase's spend
in them (`money.money_sum`); the decimals they record must be
the ones the decimal stages recorded (tests/engine/decimal_stages.py keeps those as the oracle):
the same values and exponents — what the JSON shows. Drawn where the conversion's edges are:
currencies of 0, 2 and 3 decimals, prices of every digit count, odd quantities (1.5, 0.333),
free lines, percents of many digits, amounts written with fewer or more decimals than the
currency has, half-way cuts; then whole random programs and streams through `Engine.process`
with the explanation on, once on the integer stages and once on the decimal ones.

One difference is deliberate: an amount off written with more decimals than the currency has
(`5.000` EUR) left the decimal stage's `run.remaining` at that finer exponent, and the earning
base read from it (`earning_base: 9.000`), where the generated path kept the currency's
(`9.00`); the integer stage keeps the currency's exponent, so both paths now agree. The caps
stay decimal: their points need not be whole (the last test).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from decimal import Decimal
from fractions import Fraction
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules_engine.engine import earning, pricing, returns
from rules_engine.engine import points as points_stage
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.events import Line, Purchase
from rules_engine.engine.mechanics import tiers
from rules_engine.engine.money import ONE, half_up, money_sum, part_of, round_money, round_points
from rules_engine.engine.points import _points_for
from rules_engine.engine.run import BudgetSnapshot, Run, open_run
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine import decimal_stages
from tests.engine.random_programs import programs, streams

CURRENCIES = {"EUR": 2, "JPY": 0, "KWD": 3}
TIME = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)


def _engine(currency: str, include_tax: bool, exclude: bool) -> Engine:
    text = (
        f"program: t\nversion: 1\ntimezone: UTC\ncurrency: {currency}\n"
        f"earning_base: {{include_tax: {str(include_tax).lower()}"
        + (', exclude: item.category == "gift"' if exclude else "")
        + "}\n"
        'discounts:\n  - {id: d, percent: 10, applies_to: item.category == "a"}\n'
    )
    return Engine(load_program_text(text, "t.yaml"), secret=b"s", generated=False)


@st.composite
def _money(draw: st.DrawFn, decimals: int, most: int = 10**9) -> Decimal:
    """Whole minor units of the currency, of any digit count (0 too), at its exponent or coarser."""
    units = draw(st.one_of(st.integers(0, 1000), st.integers(0, most)))
    value = Decimal(units).scaleb(-decimals)
    if draw(st.booleans()):  # as sent: `320` for 320.00, `1.5` for 1.500
        value = value.normalize() if value else Decimal(0)
    return value


_QUANTITIES = st.one_of(
    st.integers(1, 12).map(Decimal),
    st.sampled_from([Decimal("1.5"), Decimal("0.333"), Decimal("2.25"), Decimal("0.001"), Decimal("7.0")]),
)


@st.composite
def _percent(draw: st.DrawFn) -> Decimal:
    """A percent in (0, 100], of up to 30 digits (12.5, 33.33, 33.333333…, 0.0001)."""
    places = draw(st.integers(0, 28))
    units = draw(st.integers(1, 100 * 10**places))
    return Decimal(units).scaleb(-places)


@st.composite
def _amount_off(draw: st.DrawFn, decimals: int) -> Decimal:
    """An amount off of whole minor units, written with any number of decimals (`5`, `5.00`, `5.000`)."""
    value = draw(_money(decimals, 10**6))
    return value.quantize(Decimal(1).scaleb(-draw(st.integers(0, decimals + 2))))


@st.composite
def _purchases(draw: st.DrawFn) -> tuple[str, Purchase, bool, bool]:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    decimals = CURRENCIES[currency]
    lines = [
        Line(
            sku=f"S{n}",
            category=draw(st.sampled_from(["a", "b", "gift"])),
            price=draw(_money(decimals)),
            qty=draw(_QUANTITIES),
        )
        for n in range(draw(st.integers(1, 5)))
    ]
    tax = draw(st.one_of(st.just(Decimal(0)), _money(decimals, 10**5)))
    paid = draw(st.one_of(st.just(Decimal(0)), _money(decimals, 10**5)))
    event = Purchase(id="p", time=TIME, customer="c", items=lines, tax=tax, paid_with_points=paid)
    return currency, event, draw(st.booleans()), draw(st.booleans())


def _line(price: str, qty: str = "1") -> Line:
    return Line(sku="S", category="a", price=Decimal(price), qty=Decimal(qty))


def _open(engine: Engine, event: Purchase) -> Run:
    state = CustomerState(customer="c")
    return open_run(engine.plan, b"s", event, state, False, BudgetSnapshot(), [])


def _written(values: Any) -> Any:
    """Decimals as the JSON writes them (value and exponent), through tuples and lists."""
    if isinstance(values, Decimal):
        return str(values)
    if isinstance(values, tuple | list):
        return [_written(v) for v in values]
    return values


def _discounts(run: Run) -> list[Any]:
    return [(d.rule, str(d.amount), _written(d.lines)) for d in run.effects_discounts]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    drawn=_purchases(),
    offers=st.lists(
        st.tuples(
            st.sampled_from(["percent", "line", "unit", "order"]),
            st.booleans(),
            st.data(),
        ),
        min_size=1,
        max_size=3,
    ),
)
@example(  # half way: 10 % of 0.05 is 0.005, half up to 0.01
    drawn=("EUR", Purchase(id="p", time=TIME, customer="c", items=[_line("0.05")]), False, False),
    offers=[("percent", False, None)],
)
def test_integer_cuts_and_base_are_the_decimal_ones(
    drawn: tuple[str, Purchase, bool, bool], offers: list[tuple[str, bool, Any]]
) -> None:
    currency, event, include_tax, exclude = drawn
    engine = _engine(currency, include_tax, exclude)
    try:
        ints, decimals = _open(engine, event), _open(engine, event)
    except EventError:
        return  # a price × quantity finer than the currency is refused (RE410) before any stage
    applies = engine.plan.discounts[0].applies_to
    fine = True  # every amount off written no finer than the currency
    for number, (kind, on_some, data) in enumerate(offers):
        percent = amount = per = None
        if kind == "percent":
            percent = Decimal(10) if data is None else data.draw(_percent(), label="percent")
        else:
            amount = data.draw(_amount_off(CURRENCIES[currency]), label="amount")
            fine = fine and amount.as_tuple().exponent >= -CURRENCIES[currency]
            per = kind
        where = applies if on_some else None
        taken = pricing.take_off(ints, f"d{number}", percent, amount, where, per)
        expected = decimal_stages.take_off(decimals, f"d{number}", percent, amount, where, per)
        # by value; and as written unless an amount finer than the currency came before (above)
        assert taken == expected
        assert [(d.rule, d.amount, d.lines) for d in ints.effects_discounts] == [
            (d.rule, d.amount, d.lines) for d in decimals.effects_discounts
        ]
        assert ints.remaining == decimals.remaining
        if fine:
            assert str(taken) == str(expected)
            assert _discounts(ints) == _discounts(decimals)
            assert _written(ints.remaining) == _written(decimals.remaining)
        exponent = engine.plan.quantum.as_tuple().exponent
        assert all(r.as_tuple().exponent == exponent for r in ints.remaining)
    base = earning.earning_base(ints)
    expected_base = decimal_stages.earning_base(decimals)
    assert base == expected_base
    if fine:
        assert _written(base) == _written(expected_base)


def _decided(engine: Engine, stream: list[dict[str, Any]]) -> list[Any]:
    """Each event's outcome and state as JSON, explained (the stages, not the generated path)."""
    states: dict[str, CustomerState | None] = {}
    out: list[Any] = []
    for event in stream:
        customer = event["customer"]
        try:
            result = engine.process(event, states.get(customer), explain=True)
        except EventError as error:
            out.append([d.code for d in error.diagnostics])
            continue
        states[customer] = result.state
        out.append((result.outcome().model_dump_json(), result.state.model_dump_json()))
    return out


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_decide_the_same_on_integers(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    stream = data.draw(streams(drawn), label="stream")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"s", generated=False)
    on_integers = _decided(engine, stream)
    with (
        mock.patch.object(pricing, "take_off", decimal_stages.take_off),
        mock.patch.object(earning, "earning_base", decimal_stages.earning_base),
        mock.patch.object(returns, "part_of", decimal_stages.part_of),
        mock.patch.object(points_stage, "part_of", decimal_stages.part_of),
        mock.patch.object(tiers, "money_sum", decimal_stages.money_sum),
    ):
        on_decimals = _decided(engine, stream)
    assert on_integers == on_decimals


_POINTS = st.one_of(st.integers(0, 10**6).map(Decimal), st.decimals("0", "100000", places=2))
_QTY = st.one_of(
    st.integers(1, 50).map(Decimal),
    st.sampled_from([Decimal("0.5"), Decimal("1.5"), Decimal("0.333"), Decimal("2.25"), Decimal("0.001")]),
)


@settings(max_examples=500, deadline=None)
@given(points=_POINTS, qty=_QTY, data=st.data(), rounding=st.sampled_from(["floor", "round", "ceil"]))
def test_a_returned_part_of_points_is_the_decimal_one(
    points: Decimal, qty: Decimal, data: st.DataObject, rounding: str
) -> None:
    """What a returned part of a line gives back (returns.apply, points.refund): on the ratios now,
    `round_points(points × returned / qty)` before."""
    # a returned quantity as an event gives it: at most 9 digits (events.QTY_DIGITS), at most qty
    returned = min(qty, data.draw(st.integers(0, 10**6)) * Decimal("0.001"))
    assert Decimal(part_of(points, returned, qty, rounding)) == round_points(
        points * returned / qty, rounding
    )


@settings(max_examples=300, deadline=None)
@given(
    paid=_money(2, 10**7),
    value=st.sampled_from([Decimal("0.01"), Decimal("0.25"), Decimal("1"), Decimal("3")]),
)
def test_points_tendered_are_the_decimal_ones(paid: Decimal, value: Decimal) -> None:
    """Points paying for a purchase (points.tender): whole points, or refused, as the decimal check."""
    whole = _points_for(paid, value)
    if (paid / value) % 1:
        assert whole is None
    else:
        assert whole is not None and str(Decimal(whole)) == str((paid / value).quantize(ONE))


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.tuples(_money(2, 10**6), st.integers(1, 9).map(Decimal), st.integers(0, 9)), min_size=1, max_size=5
    )
)
# 0.01 × 2/6 + 0.06 × 2/9 + 0.01 × 5/6 = 0.025 exactly, 0.03; the decimal quotients' sum 0.0249…9, 0.02
@example(
    lines=[
        (Decimal("0.01"), Decimal(6), 2),
        (Decimal("0.06"), Decimal(9), 2),
        (Decimal("0.01"), Decimal(6), 5),
    ]
)
def test_a_return_takes_back_the_spend_of_its_lines_as_the_decimal_sum(
    lines: list[tuple[Decimal, Decimal, int]],
) -> None:
    """The tier spend a return takes back (returns._take_back_progress): each returned line's price
    share, summed exactly and rounded half up to the cent; before, decimal quotients summed. The
    two agree wherever the decimal quotients were exact; where they were not (a third of a cent),
    their sum could fall just under a half cent that the exact sum reaches, and the exact one is
    the right one."""
    spend_decimal = Decimal(0)
    spend = Fraction(0)
    with decimal.localcontext() as context:
        context.clear_flags()
        for paid, qty, back in lines:
            returned = min(Decimal(back), qty)
            spend_decimal += paid * returned / qty
            spend += Fraction(paid) * Fraction(returned) / Fraction(qty)
        exact = not context.flags[decimal.Inexact]
    quantum = Decimal("0.01")
    units = half_up(spend.numerator * 100, spend.denominator)
    assert units == math.floor(spend * 100 + Fraction(1, 2))  # half up, on the exact sum
    if exact:
        assert str(-(units * quantum)) == str(-round_money(spend_decimal, quantum))


@pytest.mark.parametrize("per", ["order", "line"])
def test_an_amount_written_finer_than_the_currency_decides_the_same_on_both_paths(per: str) -> None:
    """`5.000` EUR off, then 10 %: the cut is the amount as written, what is left of the line stays
    at the currency's exponent on both paths (the decimal stage left it at 3 decimals: an earning
    base of `9.000` where the generated path said `9.00`)."""
    text = (
        'program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\nearn:\n  - {id: r, rate: "1 per 1"}\n'
        f"discounts:\n  - {{id: a, amount: 5.000, per: {per}}}\n  - {{id: b, percent: 10}}\n"
    )
    compiled = load_program_text(text, "t.yaml")
    event = {
        "id": "p1",
        "type": "purchase",
        "time": "2026-12-01T10:00:00Z",
        "customer": "c",
        "items": [{"sku": "A", "price": Decimal("15.00"), "qty": 1}],
    }
    fast = Engine(compiled, secret=b"s").process(event)
    slow = Engine(compiled, secret=b"s", generated=False).process(event)
    assert fast.outcome().model_dump_json() == slow.outcome().model_dump_json()
    outcome = slow.outcome()
    assert [str(d.amount) for d in outcome.effects.discounts] == ["5.000", "1.00"]
    assert str(outcome.totals.earning_base) == "9.00"  # what is left of the line, 15.00 − 5.000 − 1.00
    assert str(outcome.totals.to_pay) == "9.000"  # the basket less the discounts as written


@settings(max_examples=400, deadline=None)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    units=st.lists(st.one_of(st.integers(0, 1000), st.integers(0, 10**24)), min_size=1, max_size=12),
)
def test_the_tier_spend_is_the_decimal_sum(currency: str, units: list[int]) -> None:
    """A purchase's tier spend as the stages decide it (tiers.record_activity): the minor units of
    what is left of its lines added as ints, the decimal sum before — the same value and exponent,
    lines of up to 24 digits (events.py's bound), free lines (0.00) among them."""
    quantum = Decimal(1).scaleb(-CURRENCIES[currency])
    remaining = [u * quantum for u in units]  # as the stages keep them: at the currency's exponent
    assert str(money_sum(remaining, quantum)) == str(decimal_stages.money_sum(remaining, quantum))


def test_a_purchase_records_its_spend_at_the_currency_exponent() -> None:
    """The spend the activity, its running sums and the tier progress show: 12.50 + 0.00 + 7.50 on
    every path (the stages on ints, the generated path and the step in place on the decimal sum),
    the free line (100 % off) counted as 0.00; two such purchases reach silver at 40.00, 10.00
    short of gold."""
    text = (
        "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"
        'discounts:\n  - {id: free, percent: 100, applies_to: item.sku == "F"}\n'
        "tiers:\n  qualify_on: spend\n  window: lifetime\n"
        "  levels:\n    - {id: silver, threshold: 40}\n    - {id: gold, threshold: 50}\n"
    )
    compiled = load_program_text(text, "t.yaml")
    items = [
        {"sku": "A", "price": Decimal("12.50"), "qty": 1},
        {"sku": "F", "price": Decimal("3.00"), "qty": 1},
        {"sku": "B", "price": Decimal("2.50"), "qty": 3},
    ]
    events = [
        {
            "id": f"p{n}",
            "type": "purchase",
            "time": f"2026-12-0{n}T10:00:00Z",
            "customer": "c",
            "items": items,
        }
        for n in (1, 2)
    ]
    engine = Engine(compiled, secret=b"s")
    explaining = Engine(compiled, secret=b"s", generated=False)
    stream = Stream(engine, whole=False)  # the step in place (tiers_working: minor units on tuples)
    working = stream.working(None)
    fast = slow = None
    for event in events:
        stepped = stream.step(event, working)
        fast = engine.process(event, None if fast is None else fast.state)
        slow = explaining.process(event, None if slow is None else slow.state)
    assert stream.taken == 1  # the second purchase was decided in place
    assert fast is not None and slow is not None
    for result in (fast, slow, stepped):
        state = result.state
        assert [str(a.spend) for a in state.activity] == ["20.00", "20.00"]
        assert state.activity_sums is not None and str(state.activity_sums.spend) == "40.00"
        assert state.tier == "silver"
        progress = result.outcome().tier_progress
        assert progress is not None and str(progress.metric) == "40.00"
        assert str(progress.needed) == "10.00"


def test_caps_stay_decimal_as_their_points_need_not_be_whole() -> None:
    """Why the caps are not decided on ints (docs/engine.md, "The stages on integers"): a cap of
    2.5 points per event gives 2.5 points, and a day's cap of 4 then 1.5, leaving the counter at
    `4.0` — the same points, counters and JSON on both paths."""
    text = (
        "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"
        'earn:\n  - {id: r, rate: "1 per 1", cap: {per_event: 2.5, per_day: 4}}\n'
    )
    compiled = load_program_text(text, "t.yaml")
    events = [
        {
            "id": f"p{n}",
            "type": "purchase",
            "time": f"2026-12-01T1{n}:00:00Z",
            "customer": "c",
            "items": [{"sku": "A", "price": Decimal("10.00"), "qty": 1}],
        }
        for n in (1, 2)
    ]
    for generated in (True, False):
        engine = Engine(compiled, secret=b"s", generated=generated)
        state: CustomerState | None = None
        given = []
        for event in events:
            result = engine.process(event, state)
            state = result.state
            given.append([str(award.points) for award in result.outcome().effects.points])
        assert given == [["2.5"], ["1.5"]]
        assert state is not None and {k: str(v) for k, v in state.counters["r"].items()} == {
            "day:2026-12-01": "4.0"
        }
