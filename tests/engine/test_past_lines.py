"""The history's lines settle adds at every purchase (`records.past_lines_of`, made from the lines'
field dicts `open_run` read) are the models validation gives: the same fields, the same JSON, the
same fields set, as `past_lines` of the line models and `PastLine(...)` of their values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.events import Line
from rules_engine.state.customer import PastLine
from rules_engine.state.records import past_lines, past_lines_of

LINES = st.lists(
    st.builds(
        Line,
        sku=st.text("ABCXYZ-0123456789", min_size=1, max_size=8),
        category=st.none() | st.sampled_from(["coffee", "pastry", "gift_card"]),
        price=st.decimals(min_value=0, max_value=10_000, places=2),
        qty=st.decimals(min_value=Decimal("0.001"), max_value=50, places=3) | st.integers(1, 9).map(Decimal),
        attributes=st.just({}),
    ),
    max_size=12,
)


@given(LINES, st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_past_lines_of_the_field_dicts_are_the_validated_models(lines: list[Line], day: dt.date) -> None:
    made = past_lines_of([line.__dict__ for line in lines], day, "e1")
    validated = [
        PastLine(sku=line.sku, category=line.category, price=line.price, qty=line.qty, date=day, event="e1")
        for line in lines
    ]
    assert made == validated
    assert made == past_lines(lines, day, "e1")
    assert [m.model_dump_json() for m in made] == [v.model_dump_json() for v in validated]
    assert [m.model_fields_set for m in made] == [v.model_fields_set for v in validated]
    assert all(type(m) is PastLine for m in made)
