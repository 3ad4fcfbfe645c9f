"""Where the tier's running sums start in the whole step's activity (engine/whole/step.py
`_moved`, `WholeState.since_at`): kept from one purchase to the next, so that a long history's step
does not bisect its ~700 activity entries for it; a hint, used only once the entries either side
of it confirm it.

Hypothesis draws an activity (times in order, spends, points, visits), the sums' old and new
starts and a hint — right, one off either way, anywhere, or none — and `_moved` gives what it
gives without a hint: the same sums and the index of the first entry at or after the new start.
Over a customer buying most days for two and a half years (past twice the tier's 365-day window,
where the oldest entries are cut from the head), the hint the step keeps is that index after
every purchase, so the bisection is really skipped.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections import deque
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.engine.whole import step
from rules_engine.engine.whole.step import _moved
from rules_engine.program.validate import load_program_text
from rules_engine.state.compact import ACT_AT
from tests.engine.test_whole_stream import COFFEE, MSK, decided
from tests.engine.two_paths import products

_ENTRIES = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 900), st.integers(0, 40)), max_size=40)


def _activity(entries: list[tuple[int, int, int]]) -> deque[Any]:
    made: deque[Any] = deque()
    at = 1_700_000_000
    for gap, spend, points in entries:
        at += gap
        made.append((at, spend, points, 1, f"e{len(made)}", [], [], None, None))
    return made


@settings(max_examples=400, deadline=None)
@given(
    _ENTRIES,
    st.integers(-2, 200),
    st.integers(0, 200),
    st.sampled_from(["right", "before", "after", "anywhere", "none"]),
    st.integers(-3, 45),
)
def test_a_hint_gives_what_the_bisection_gives(
    entries: list[tuple[int, int, int]], since_after: int, moved_by: int, hint_kind: str, anywhere: int
) -> None:
    activity = _activity(entries)
    since = 1_700_000_000 + since_after
    start = since + moved_by
    totals = (
        sum(e[1] for e in activity if e[ACT_AT] >= since),
        sum(e[2] for e in activity if e[ACT_AT] >= since),
        sum(1 for e in activity if e[ACT_AT] >= since),
    )
    right = bisect_left(activity, since, key=lambda e: e[ACT_AT])
    hint = {"right": right, "before": right - 1, "after": right + 1, "anywhere": anywhere, "none": -1}[
        hint_kind
    ]
    expected = _moved(activity, since, start, totals, 2, -1)
    assert _moved(activity, since, start, totals, 2, hint) == expected
    sums, index = expected
    assert index == bisect_left(activity, start, key=lambda e: e[ACT_AT])
    if sums is not None:  # the sums of the entries from the new start on
        assert sums == (
            sum(e[1] for e in activity if e[ACT_AT] >= start),
            sum(e[2] for e in activity if e[ACT_AT] >= start),
            sum(1 for e in activity if e[ACT_AT] >= start),
        )


def _years() -> list[dict[str, Any]]:
    events = []
    time = dt.datetime(2024, 1, 1, 9, 0, tzinfo=MSK)
    sold = products("coffee-club")
    for number in range(900):
        time += dt.timedelta(hours=23 + number % 5)
        items = [
            {"sku": sku, "category": category, "price": Decimal(f"{120 + 35 * n}.50"), "qty": 1}
            for n, (sku, category) in enumerate(sold[number % 3 : number % 3 + 3])
        ]
        events.append(
            {
                "id": f"d{number}",
                "type": "purchase",
                "time": time.isoformat(),
                "customer": "c",
                "items": items,
            }
        )
    return events


def test_the_step_keeps_where_the_window_starts_at_every_purchase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hint is right at every purchase but the first of a whole state (`WholeState.of`:
    after purchases the step hands to the other paths, here the weeks around the tier's review)."""
    hints: list[tuple[int, int]] = []

    def moved(activity: Any, since: Any, start: Any, totals: Any, decimals: int, hint: int) -> Any:
        hints.append((hint, bisect_left(activity, since, key=lambda e: e[ACT_AT])))
        return _moved(activity, since, start, totals, decimals, hint)

    monkeypatch.setattr(step, "_moved", moved)
    engine = Engine.from_file(COFFEE)
    stream = Stream(engine)
    working = stream.working(None)
    handed, unknown = 0, 0
    for event in _years():
        wholes, asked = stream.wholes, len(hints)
        stream.step(event, working)
        if stream.wholes == wholes:
            handed += 1
            continue
        if asked < len(hints) and hints[-1][0] == -1:
            unknown += 1
            assert handed, "a hint unknown without a new whole state"
            handed = 0
    assert stream.wholes >= 800 and len(hints) >= 800
    assert [(hint, right) for hint, right in hints if hint not in (right, -1)] == []
    assert unknown <= 2


def test_a_window_starting_within_a_second_starts_at_its_microseconds() -> None:
    """The window of a purchase at 10:00:00.7 starts two days before at 10:00:00.7, and a purchase
    at 10:00:00.5 then is out of it. The whole step once took the start's whole second (10:00:00):
    the tier's metric counted that purchase (2048 for 1536, a tier too early) and the sums' start
    lost its microseconds (another state digest)."""
    text = COFFEE.read_text(encoding="utf-8").replace("window: rolling 365d", "window: rolling 2d", 1)
    text = text.replace("  tier_downgrade: {before: 30d, channel: email, template: tier_at_risk}\n", "", 1)
    engine = Engine(load_program_text(text, "coffee-2d.yaml"))
    times = ["01T08:00:00", "01T10:00:00.500000", "02T09:00:00", "03T08:30:00", "03T10:00:00.700000"]
    line = {"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 2}
    events = [
        {"id": f"p{n}", "type": "purchase", "time": f"2026-12-{at}+03:00", "customer": "c", "items": [line]}
        for n, at in enumerate(times)
    ]
    stream = Stream(engine)
    made = decided(stream, engine, events)
    assert all(whole for _, whole in made)
    last = made[-1][0]
    assert last is not None and last.tier_progress is not None
    assert last.tier_progress.metric == Decimal("1536.00")  # p2, p3, p4: p1 left the window
