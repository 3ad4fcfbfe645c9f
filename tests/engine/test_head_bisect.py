"""`head_right` and `head_left` (state/compact.py): the whole step's bisections of a deque of lots or
activities that look near their start first give `bisect_right` and `bisect_left`'s answers, for
every key order, start and value — before, among and after the keys, repeated keys, deques longer
and shorter than the `HEAD` they look among first."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from operator import itemgetter

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.state.compact import HEAD, head_left, head_right

_KEY = itemgetter(0)


@given(
    keys=st.lists(st.integers(0, 60), max_size=3 * HEAD).map(sorted),
    value=st.integers(-1, 61),
    start=st.integers(0, 3 * HEAD),
)
def test_head_bisections_are_the_bisections(keys: list[int], value: int, start: int) -> None:
    items = deque((key, f"item-{n}") for n, key in enumerate(keys))
    lo = min(start, len(items))
    assert head_right(items, value, lo, _KEY) == bisect_right(items, value, lo, key=_KEY)
    assert head_left(items, value, lo, _KEY) == bisect_left(items, value, lo, key=_KEY)


def test_a_long_deque_whose_answer_lies_past_the_head() -> None:
    items = deque((n // 3, n) for n in range(5 * HEAD))
    for value in (-1, 0, HEAD // 3, HEAD, 2 * HEAD, 5 * HEAD):
        for lo in (0, 1, HEAD - 1, HEAD, 3 * HEAD):
            assert head_right(items, value, lo, _KEY) == bisect_right(items, value, lo, key=_KEY)
            assert head_left(items, value, lo, _KEY) == bisect_left(items, value, lo, key=_KEY)
