"""The generated function's cap keys remembered by date, its counts and kept lines, as the evaluator.

The generated `decide` remembers each cap period's counter key by the event's local date
(code_writer.cap_key); a cap of one period whose counters hold that period alone makes its count
anew (generate_earning.py, `_count`); a percent's and a per-line award's lines are kept with the
fused pass's truths in one comprehension (generate_lines.Lines.keep, `first`). Here one engine
with its generated path and one without decide the same streams event by event — a small
catalogue whose prices and quantities come with other digits each time (`2`, `2.0`, `2.00`), over
days that cross a week, a month and a year — and the memo is held to the definition it stands
for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine import periods
from rules_engine.engine import code_writer
from rules_engine.engine import generated as generated_module
from rules_engine.engine.evaluator import Engine
from rules_engine.program.validate import load_program_text
from tests.engine.two_paths import same_stream

_CATALOGUE = """\
program: memos
version: 1
timezone: Europe/Moscow
currency: RUB
discounts:
  - id: two-coffees
    applies_to: item.category == "coffee" and item.qty >= 2
    percent: 12.5
earn:
  - id: base
    rate: 1 per 7
  - id: pastry
    for_each_item: item.category == "pastry" or item.sku == "ECLAIR"
    award: 3 * item.qty
    cap: {per_day: 20}
  - id: dear
    for_each_item: item.price * item.qty >= 500
    award: 2
    cap: {per_week: 9, per_day: 4}
  - id: tea
    for_each_item: item.name == "Tea"
    award: 1
    cap: {per_month: 5}
"""

# (sku, name, category, price texts, quantity texts): each line sent with one of its spellings
_LINES = [
    ("LATTE", "Latte", "coffee", ["180", "180.0", "180.00"], ["1", "2", "2.0", "3.00"]),
    ("CROISSANT", "Croissant", "pastry", ["95.50", "95.5"], ["1", "1.0", "2"]),
    ("ECLAIR", None, None, ["120", "120.00"], ["1", "4"]),
    ("TEA", "Tea", "tea", ["250.00", "250"], ["1", "2.00"]),
    ("BEANS", "Beans", "coffee", ["499.99"], ["0.5", "1", "1.5"]),
]


@st.composite
def _stream(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Purchases of two customers from the catalogue, hours to weeks apart from 2026-12-27 (a
    week, a month and a year end among them)."""
    moment = dt.datetime(2026, 12, 27, 8, tzinfo=dt.UTC)
    events = []
    for number in range(draw(st.integers(1, 12), label="events")):
        moment += dt.timedelta(hours=draw(st.sampled_from([0, 1, 5, 20, 30, 24 * 8, 24 * 33])))
        items = []
        for _ in range(draw(st.integers(1, 6), label="lines")):
            sku, name, category, prices, quantities = draw(st.sampled_from(_LINES))
            item: dict[str, Any] = {
                "sku": sku,
                "price": draw(st.sampled_from(prices)),
                "qty": draw(st.sampled_from(quantities)),
            }
            if name is not None:
                item["name"] = name
            if category is not None:
                item["category"] = category
            items.append(item)
        events.append(
            {
                "id": f"p{number}",
                "type": "purchase",
                "time": moment.isoformat(),
                "customer": draw(st.sampled_from(["c1", "c2"])),
                "items": items,
            }
        )
    return events


def test_the_catalogue_programs_cap_keys_are_remembered() -> None:
    """Each cap period has its memo, and a percent's lines are kept in one comprehension."""
    engine = Engine(load_program_text(_CATALOGUE, "memos.yaml"))
    assert engine.generated is not None
    source = generated_module.python_source(engine.plan)
    assert "if _lt0[_i] and _rm[_i] > 0]" in source
    assert "_memo_per_day" in source and "_memo_per_week" in source and "_memo_per_month" in source


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams=st.lists(_stream(), min_size=1, max_size=3))
def test_streams_with_remembered_lines_and_cap_keys_decide_as_the_evaluator(
    streams: list[list[dict[str, Any]]],
) -> None:
    """Several streams through the same engines: the memo filled by one is read by the next."""
    compiled = load_program_text(_CATALOGUE, "memos.yaml")
    fast = Engine(compiled, secret=b"s")
    slow = Engine(compiled, secret=b"s", generated=False)
    for stream in streams:
        same_stream(fast, slow, stream)


def test_a_cap_periods_key_remembered_by_date_is_the_periods_own() -> None:
    """`code_writer.cap_key` gives `periods.cap_period_key` of the event's local date for every
    period, through the year's end, and keeps giving it after its memo was emptied when full."""

    class _Run:
        def __init__(self, day: dt.date) -> None:
            self.local = dt.datetime.combine(day, dt.time(12))
            self.period_keys: dict[str, str] = {}

    for period in periods.CAPS:
        memo: dict[Any, str] = {}
        for offset in range(code_writer._KEYS_KEPT + 40):
            day = dt.date(2026, 12, 20) + dt.timedelta(days=offset)
            key = code_writer.cap_key(_Run(day), period, memo)
            assert key == periods.cap_period_key(period, day)
            assert memo[day] == key
            assert len(memo) <= code_writer._KEYS_KEPT
