"""A challenge's progress on the step in place (`state.compact.Counting`): the records of what each
purchase added are made when first read, and everything read of the state is what `process` gives.

Differential: one customer's purchases, with returns between them (decided by `process` on the
public state, so they take back what the lazily made records say), through `Stream.step` and
through `process` (`same_stream`: the same outcome and state JSON event by event, and
`public(fresh=True)`), in coffee-club with its challenge counting lines (a week's coffees), summing
money over a month, and over a lifetime with a goal never reached (more purchases than a `Counting`
links before it makes its records). The steps must have left `Counting`s in the cold state.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.program.validate import load_program_text
from rules_engine.state.compact import COUNTING_CHAINED, Counting, minor_of, minus_money, money_of, plus_money
from tests.engine.test_working import COFFEE, same, same_stream

MSK = dt.timezone(dt.timedelta(hours=3))
_CHALLENGE = """    counts: count(item.category == "coffee" for item in basket.items)
    goal: 5
    window: calendar_week
"""
_SUM = """    counts: sum(item.price * item.qty for item in basket.items if item.category == "beans")
    goal: 5000
    window: calendar_month
"""
_LIFETIME = """    counts: count(item.category == "coffee" for item in basket.items)
    goal: 100000
    window: lifetime
"""


def _engine(challenge: str) -> Engine:
    text = COFFEE.read_text(encoding="utf-8")
    assert _CHALLENGE in text
    return Engine(load_program_text(text.replace(_CHALLENGE, challenge), "coffee-club.yaml"), secret=b"s")


_LINES = [
    {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2},
    {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
    {"sku": "BEANS-1KG", "category": "beans", "price": "1800.00", "qty": 1},
    {"sku": "ESPRESSO", "category": "coffee", "price": "120.00", "qty": 3},
]


def _events(seed: int, count: int) -> list[dict[str, Any]]:
    """Purchases a day or two apart, a return of a recent one now and then."""
    rng = random.Random(seed)
    moment = dt.datetime(2026, 1, 2, 10, 0, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    purchases: list[dict[str, Any]] = []
    for number in range(count):
        moment += dt.timedelta(days=rng.choice([0, 1, 1, 2]), hours=rng.randrange(1, 5))
        base = {"id": f"e{number}", "customer": "c1", "time": moment.isoformat()}
        if purchases and rng.random() < 0.08:
            bought = rng.choice(purchases[-6:])
            line = rng.choice(bought["items"])
            events.append({**base, "type": "return", "purchase": bought["id"],
                           "items": [{"sku": line["sku"], "qty": 1}]})  # fmt: skip
            continue
        event = {**base, "type": "purchase", "items": rng.sample(_LINES, rng.randint(1, len(_LINES)))}
        events.append(event)
        purchases.append(event)
    return events


@pytest.mark.parametrize(
    "challenge", [_CHALLENGE, _SUM, _LIFETIME], ids=["week-count", "month-sum", "lifetime"]
)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_challenge_counted_on_the_step_is_what_process_counts(challenge: str, seed: int) -> None:
    engine = _engine(challenge)
    events = _events(seed, 2 * COUNTING_CHAINED + 20)
    taken = same_stream(engine, events)
    purchases = sum(1 for e in events if e["type"] == "purchase")
    assert taken >= purchases * 0.8
    streaming = Stream(engine, whole=False)  # the step in place leaves `Counting`s
    working = streaming.working(None)
    lazy = 0
    for event in events:
        streaming.step(event, working)
        lazy += any(isinstance(p, Counting) for p in working.cold.challenges.values())
    assert lazy >= purchases * 0.7  # the steps left their progress as `Counting`s
    state = None
    for event in events:
        state = engine.process(event, state).state
    assert state is not None
    same(working.public(), state)
    assert state.challenges  # and something was counted


def test_a_counting_makes_its_records_once_in_the_order_they_were_counted() -> None:
    """`counted` made from a chain of purchases: the base records first, each purchase's record
    made once, in order; a purchase that added nothing records nothing; the chain is cut after
    `COUNTING_CHAINED` links (its records made then)."""
    calls: list[str] = []

    def record(name: str) -> str:
        calls.append(name)
        return f"record of {name}"

    base = {"e0": "record of e0"}
    first = Counting("2026-W01", Decimal(1), [], base, ("e1", record, ("e1",)))
    second = Counting("2026-W01", Decimal(1), [], first, None)
    third = Counting("2026-W01", Decimal(2), [], second, ("e3", record, ("e3",)))
    assert calls == []
    assert list(third.counted.items()) == [
        ("e0", "record of e0"),
        ("e1", "record of e1"),
        ("e3", "record of e3"),
    ]
    assert third.counted is third.counted and calls == ["e1", "e3"]
    assert first.counted == {"e0": "record of e0", "e1": "record of e1"} and calls == ["e1", "e3", "e1"]
    assert base == {"e0": "record of e0"}  # never changed in place
    chain: Any = {}
    for number in range(COUNTING_CHAINED + 1):
        chain = Counting("lifetime", Decimal(number), [], chain, (f"e{number}", record, (f"e{number}",)))
    assert chain._counted is not None  # made when the chain reached its length


_DECIMALS = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False)


def _money_like(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and -6 <= exponent <= 2


_AMOUNTS = _DECIMALS.filter(_money_like)


@settings(max_examples=300, deadline=None)
@given(a=_AMOUNTS, b=_AMOUNTS, decimals=st.sampled_from([0, 2, 3]))
def test_money_as_the_tuples_hold_it_adds_as_the_decimals_do(a: Decimal, b: Decimal, decimals: int) -> None:
    """The activity's money in minor units where exact (`compact.minor_of`): a sum or a difference
    of two is the decimals' own, its exponent too (what the tiers on the working state rely on)."""
    x, y = minor_of(a, decimals), minor_of(b, decimals)
    for made, expected in ((plus_money(x, y, decimals), a + b), (minus_money(x, y, decimals), a - b)):
        back = money_of(made, decimals)
        assert back == expected and back.as_tuple().exponent == expected.as_tuple().exponent
        assert str(back) == str(expected)
