"""A chain of steps' purchase histories (`state.purchases.Bought`) is cut as `process` cuts at
every event, also when program versions with different keeps (`points.expire_after`, a return
window) take turns: the chain's latest cutoff, not only the latest purchase's keep.

Found by tests/store/test_carried.py: a version that keeps 20 days stepping after one that keeps 3
kept lines that `process`, cutting at every event, had left out (`older_purchases`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.state.purchases import Bought, kept
from rules_engine.state.records import past_lines

START = dt.date(2026, 12, 1)
KEEPS = st.sampled_from([None, dt.timedelta(days=3), dt.timedelta(days=20), dt.timedelta(0)])


def _items(n: int, count: int) -> list[Any]:
    return [
        SimpleNamespace(sku=f"S{n}-{k}", category=None, price=Decimal(1), qty=Decimal(1))
        for k in range(count)
    ]


@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 3), KEEPS),  # days since the last, lines, keep
        min_size=1,
        max_size=25,
    )
)
def test_a_chain_is_cut_as_a_cut_at_every_purchase(purchases: list[tuple[int, int, Any]]) -> None:
    day = START
    every: Any = []  # cut at every purchase, as settle does on `process`
    older = None
    chain: Any = []  # the step's chain, cut once when read
    for n, (gap, count, keep) in enumerate(purchases):
        day += dt.timedelta(days=gap)
        items = _items(n, count)
        every, older = kept(every, past_lines(items, day, f"e{n}"), older, day, keep)
        chain = Bought(chain, items, day, f"e{n}", keep)
    lines, left_out = chain.kept(None)
    assert [(line.sku, line.date) for line in lines] == [(line.sku, line.date) for line in every]
    assert left_out == older
