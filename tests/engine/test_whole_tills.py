"""The whole step on the baskets tills send: prices of any quantum up to the currency's, custom attributes.

A till sends `320` or `180.5` as often as `320.00`, and lines with the attributes a program
declares (coffee-club's `size`). The whole step (engine/whole/) takes those (step.py `takes`), and
declines a price with more decimals than the currency's (`3.200` too) and an attribute the engine
does not take as sent (undeclared, or not text: refused with RE413). Over hypothesis streams of
every kind of event through coffee-club (tests/engine/test_whole_stream.py's), each purchase's
prices redrawn in every quantum and its lines given attributes, declared or not: every event gives
`process`'s answers (`decided`), and the whole step takes exactly the events it takes of the same
stream sent as before (prices with two decimals, no attributes, the refused events left out), less
those it must decline. Programs whose conditions read a custom attribute take it too, and
`loyalty run` on the reader bench's stream prints the same lines with the whole step on and off.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.cli import app
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole.covers import unsupported
from rules_engine.engine.whole.path import WholePath
from rules_engine.program.validate import load_program_text
from rules_engine.store.memory import RunMemoryStore
from tests.conftest import ROOT
from tests.engine.random_programs import Drawn, streams
from tests.engine.test_whole_stream import COFFEE, COFFEE_TEXT, coffee_streams, decided
from tests.engine.two_paths import products

CENT = Decimal("0.01")
# A line's custom attributes: (attributes, taken as sent: the whole step may take the line).
ATTRIBUTES: tuple[tuple[dict[str, Any] | None, bool], ...] = (
    (None, True),
    ({}, True),
    ({"size": "S"}, True),
    ({"size": "L"}, True),
    ({"size": ""}, True),
    ({"size": None}, True),
    ({"colour": "red"}, False),  # undeclared: RE413
    ({"colour": None}, False),  # undeclared, even null: RE413
    ({"size": 3}, False),  # a number for text: RE413
    ({"size": True}, False),
)


class Counting(Stream):
    """A `Stream` that records, event by event, whether the whole step decided it."""

    def __init__(self, engine: Engine, *, whole: bool = True) -> None:
        super().__init__(engine, whole=whole)
        self.took: list[bool] = []

    def step(self, event: Any, working: Any, **options: Any) -> Any:
        before = self.wholes
        try:
            return super().step(event, working, **options)
        finally:
            self.took.append(self.wholes > before)


def _price(price: Decimal, form: str) -> tuple[Any, Decimal]:
    """A drawn two-decimal price in `form`, and the same value with two decimals (its twin's)."""
    if form == "units":
        units = price.to_integral_value(rounding="ROUND_DOWN")
        return int(units), units.quantize(CENT)
    if form == "units as a decimal":
        units = price.to_integral_value(rounding="ROUND_DOWN")
        return units, units.quantize(CENT)
    if form == "normalized":  # `1.2E+3` for 1200: an exponent above 0
        units = price.to_integral_value(rounding="ROUND_DOWN")
        return units.normalize(), units.quantize(CENT)
    if form == "tenths":
        tenths = price.quantize(Decimal("0.1"), rounding="ROUND_DOWN")
        return tenths, tenths.quantize(CENT)
    if form == "thousandths":  # the same value, one decimal too many: declined all the same
        return price.quantize(Decimal("0.001")), price
    return price, price


@st.composite
def tills(draw: st.DrawFn, events: list[dict[str, Any]]) -> tuple[list[Any], list[bool], list[Any]]:
    """`events` as tills send them: each purchase's prices in a drawn quantum, its lines with drawn
    attributes. Returns the events, for each whether the whole step must decline it, and the twin
    stream (the same values with two decimals, no attributes, no event the engine refuses for its
    attributes). A redelivery is sent as its first delivery was."""
    sent: dict[str, tuple[dict[str, Any], bool, dict[str, Any] | None]] = {}
    made: list[Any] = []
    declines: list[bool] = []
    twins: list[Any] = []
    forms = ["cents", "units", "units as a decimal", "normalized", "tenths", "thousandths"]
    for event in events:
        if event["type"] != "purchase":
            made.append(event)
            declines.append(False)
            twins.append(event)
            continue
        if event["id"] not in sent:
            items, twin_items, declined, refused = [], [], False, False
            for item in event["items"]:
                form = draw(st.sampled_from(forms))
                price, twin_price = _price(item["price"], form)
                attributes, plain = draw(st.sampled_from(ATTRIBUTES))
                line = {**item, "price": price}
                if attributes is not None:
                    line["attributes"] = attributes
                items.append(line)
                twin_items.append({**item, "price": twin_price})
                declined = declined or form == "thousandths" or not plain
                refused = refused or not plain
            sent[event["id"]] = (
                {**event, "items": items},
                declined,
                None if refused else {**event, "items": twin_items},
            )
        drawn, declined, twin = sent[event["id"]]
        made.append(dict(drawn))
        declines.append(declined)
        twins.append(None if twin is None else dict(twin))
    return made, declines, twins


def _took_as_the_twin(engine: Engine, made: list[Any], declines: list[bool], twins: list[Any]) -> None:
    """Through both streams against `process`; the whole step took an event of `made` exactly
    when it took its twin and need not decline it."""
    stream = Counting(engine)
    decided(stream, engine, made)
    twin_stream = Counting(engine)
    decided(twin_stream, engine, [twin for twin in twins if twin is not None])
    expected = iter(twin_stream.took)
    for took, declined, twin in zip(stream.took, declines, twins, strict=True):
        if twin is None:  # refused for its attributes: not in the twin stream
            assert not took
            continue
        took_twin = next(expected)
        assert took == (took_twin and not declined)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_prices_of_any_quantum_and_attributes_give_process_answers_and_take_the_whole_step(
    data: st.DataObject,
) -> None:
    engine = Engine.from_file(COFFEE)
    made, declines, twins = data.draw(tills(data.draw(coffee_streams(), label="stream")), label="tills")
    _took_as_the_twin(engine, made, declines, twins)


def test_a_price_with_more_decimals_than_the_currencys_is_declined() -> None:
    """`180.505` RUB: the engine rounds the line's amount half up; the whole step leaves it to it."""
    engine = Engine.from_file(COFFEE)
    stream = Counting(engine)
    line = {"sku": "CROISSANT", "category": "pastry", "qty": 1}
    events = [
        {
            "id": f"p{n}",
            "type": "purchase",
            "time": f"2026-12-0{n + 1}T11:00:00+03:00",
            "customer": "c",
            "items": [
                {**line, "price": price},
                {**line, "sku": "LATTE-L", "category": "coffee", "price": 320},
            ],
        }
        for n, price in enumerate(
            [Decimal("180.5"), Decimal("180.505"), Decimal("180.50"), Decimal("180.500")]
        )
    ]
    decided(stream, engine, events)
    assert stream.took == [True, False, True, False]


SIZED = (  # coffee-club with conditions reading the declared `item.size`
    ('applies_to: item.category == "coffee"', 'applies_to: item.category == "coffee" and item.size != "S"'),
    (
        'for_each_item: item.category == "pastry"',
        'for_each_item: item.category == "pastry" or item.size == "L"',
    ),
    ('counts: count(item.category == "coffee" for', 'counts: count(item.size == "L" for'),
    (
        'when: any(item.category == "pastry" for item in basket.items)',
        'when: any(item.size == "M" for item in basket.items)',
    ),
)


@st.composite
def sized_variants(draw: st.DrawFn) -> str:
    text = COFFEE_TEXT
    for said, instead in SIZED:
        if draw(st.booleans()):
            assert said in text
            text = text.replace(said, instead, 1)
    return text


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_conditions_reading_a_custom_attribute_take_the_whole_step(data: st.DataObject) -> None:
    text = data.draw(sized_variants(), label="program")
    engine = Engine(load_program_text(text, "sized.yaml"))
    assert unsupported(engine.plan) is None
    events = data.draw(
        streams(Drawn(text, "RUB", 2), customers=2, events=16, products=products("coffee-club")),
        label="stream",
    )
    made, declines, _ = data.draw(tills(events), label="tills")
    stream = Counting(engine)
    decided(stream, engine, made)
    for took, declined in zip(stream.took, declines, strict=True):
        assert not (took and declined)
    purchases = [e for e, d in zip(made, declines, strict=True) if e["type"] == "purchase" and not d]
    if len({e["customer"] for e in purchases}) < len(purchases):  # a customer's second purchase
        assert isinstance(stream._whole, WholePath)


@pytest.mark.parametrize(
    "condition",
    [
        'applies_to: item.size < "M"',  # null: false in the engine; not translated
        'applies_to: item.category >= "coffee"',
    ],
)
def test_an_ordering_comparison_of_a_value_that_may_be_null_is_not_covered(condition: str) -> None:
    text = COFFEE_TEXT.replace('applies_to: item.category == "coffee"', condition, 1)
    assert "may be null" in (unsupported(Engine(load_program_text(text, "v.yaml")).plan) or "")


def _bench_stream(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    bench_reader = importlib.import_module("bench_reader")
    lines: list[str] = bench_reader.stream(12, 4)
    return lines


def test_the_bench_stream_through_a_program_reading_the_size_takes_the_whole_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every condition of `SIZED` at once, over the reader bench's purchases (sizes on the coffees,
    none on the rest): each decided by the whole step, each with `process`'s answers."""
    text = COFFEE_TEXT
    for said, instead in SIZED:
        text = text.replace(said, instead, 1)
    engine = Engine(load_program_text(text, "sized.yaml"))
    events = [jsonio.loads(line) for line in _bench_stream(monkeypatch)]
    stream = Counting(engine)
    decided(stream, engine, events)
    assert stream.took == [True] * len(events)


def test_loyalty_run_on_the_bench_stream_prints_the_same_lines_with_the_whole_step_on_and_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/bench_reader.py's stream (integer prices, `180.5`, lines with a `size`): the whole step
    decides its purchases, and `loyalty run` says the same, line by line, as without it."""
    events = tmp_path / "bench.jsonl"
    events.write_text("\n".join(_bench_stream(monkeypatch)) + "\n", encoding="utf-8")
    purchase = WholePath.purchase
    decided_whole: list[bool] = []

    def counted(self: WholePath, event: Any, working: Any) -> Any:
        made = purchase(self, event, working)
        decided_whole.append(made is not None)
        return made

    monkeypatch.setattr(WholePath, "purchase", counted)

    def run(whole: bool) -> str:
        monkeypatch.setattr(RunMemoryStore, "steps_whole", whole)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            app(["run", str(ROOT / "programs" / "coffee-club.yaml"), str(events)], standalone_mode=False)
        return out.getvalue()

    on = run(True)
    assert len(decided_whole) == 48 and all(decided_whole)
    off = run(False)
    assert len(decided_whole) == 48  # the whole step never asked
    assert on.splitlines() == off.splitlines() and len(on.splitlines()) >= 48
