"""Tiers on the working state (mechanics/tiers_working.py): a step decides a purchase's activity, sums
and tier on the working state's tuples, and everything read of it is what `Engine.process` gives.

Differential: streams of one customer's purchases through `Stream.step` and through `process`
(`same_stream`: the same outcome and state JSON event by event, `public(fresh=True)` too) in
coffee-club with its tier window changed to every kind (rolling, calendar months and years held
for the rest of the period, lifetime), qualifying on spend, points and visits, with a leaderboard
whose window keeps the activity longer; the steps must have decided the tiers on the working state
(the cold state reads the activity through the deque's view). Then what the step promises: a
review and the downgrade reminder read the sums made from the tuples (no fallback), and a mechanic
that falls back after the tiers decided leaves the working state as it was.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from rules_engine.engine import step_views
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.run import Run
from rules_engine.engine.stream import Stream
from rules_engine.program.validate import load_program_text
from rules_engine.state.compact import ActivityView
from tests.engine.test_working import COFFEE, same, same_stream

MSK = dt.timezone(dt.timedelta(hours=3))
_TIERS = """tiers:
  qualify_on: spend
  window: rolling 365d
  downgrade: one_level
  downgrade_grace: 30d
"""


def _program(tiers: str, board: str | None = None) -> Engine:
    text = COFFEE.read_text(encoding="utf-8")
    assert _TIERS in text
    text = text.replace(_TIERS, tiers)
    if board is not None:
        text += f"\nleaderboards:\n  - {{id: board, metric: visits, window: {board}}}\n"
    return Engine(load_program_text(text, "coffee-club.yaml"), secret=b"s")


def _purchases(seed: int, count: int, gap: tuple[int, int] = (1, 9)) -> list[dict[str, Any]]:
    """One customer's purchases, `gap` days apart (give or take hours), big and small: the metric
    crosses the thresholds both ways, entries leave the windows, reviews come due."""
    rng = random.Random(seed)
    moment = dt.datetime(2025, 1, 3, 9, 0, tzinfo=MSK)
    events = []
    for number in range(count):
        moment += dt.timedelta(
            days=rng.randint(*gap), hours=rng.randrange(-5, 6), seconds=rng.choice([0, 0, 7])
        )
        price = rng.choice(["120.00", "320.00", "1800.00", "9500.50", "15000.00"])
        items = [{"sku": "X", "category": rng.choice(["coffee", "beans"]), "price": price, "qty": 1}]
        events.append({"id": f"e{number}", "customer": "c1", "time": moment.isoformat(), "type": "purchase",
                       "items": items})  # fmt: skip
    return events


_MONTH_POINTS = _TIERS.replace("spend", "points").replace("rolling 365d", "calendar_month")
_YEAR_VISITS = _TIERS.replace("spend", "visits").replace("rolling 365d", "calendar_year")
_WINDOWS = [
    pytest.param(_TIERS, None, id="rolling-spend"),
    pytest.param(_TIERS.replace("rolling 365d", "rolling 60d"), "calendar_month", id="rolling-60d-board"),
    pytest.param(_MONTH_POINTS + "  hold: rest_of_period\n", None, id="calendar-month-points"),
    pytest.param(_YEAR_VISITS, "rolling 90d", id="calendar-year-visits"),
    pytest.param(_TIERS.replace("rolling 365d", "lifetime"), None, id="lifetime"),
]


@pytest.mark.parametrize(("tiers", "board"), _WINDOWS)
@pytest.mark.parametrize("seed", [1, 2])
def test_tiers_decided_on_the_working_state_are_those_of_process(
    tiers: str, board: str | None, seed: int
) -> None:
    engine = _program(tiers, board)
    events = _purchases(seed, 90)
    taken = same_stream(engine, events)
    assert taken >= len(events) - 2  # the first goes to `process`
    streaming = Stream(engine, whole=False)  # the step in place (engine/step.py)
    working = streaming.working(None)
    changes = 0
    for event in events:
        changes += len(streaming.step(event, working).tier_changes)
    assert isinstance(working.cold.activity, ActivityView)  # the tiers moved the working state
    expected = None
    for event in events:
        expected = engine.process(event, expected.state if expected is not None else None)
    assert expected is not None
    same(working.public(), expected.state)
    assert working.sums_model() == expected.state.activity_sums
    assert changes  # a tier was reached (and, with reviews, lost)


def test_reviews_and_the_downgrade_reminder_read_the_sums_without_falling_back() -> None:
    """Gold reached, then purchases a week apart, small: the downgrade reminder comes within its 30
    days before the review, then the review drops the tier; every step after the first is taken."""
    engine = _program(_TIERS)
    moment = dt.datetime(2025, 1, 3, 12, 0, tzinfo=MSK)
    events = []
    for number in range(70):
        price = "40000.00" if number == 1 else "120.00"
        events.append({"id": f"e{number}", "customer": "c1", "time": moment.isoformat(), "type": "purchase",
                       "items": [{"sku": "X", "category": "coffee", "price": price, "qty": 1}]})  # fmt: skip
        moment += dt.timedelta(days=6)
    streaming = Stream(engine, whole=False)  # the step in place (engine/step.py)
    working = streaming.working(None)
    state = None
    seen: set[str] = set()
    for event in events:
        expected = engine.process(event, state)
        result = streaming.step(event, working)
        assert result.outcome().model_dump_json() == expected.outcome().model_dump_json(), event
        same(working.public(), expected.state)
        state = expected.state
        seen.update(n.template for n in result.notifications)
        seen.update(f"tier:{c.new}" for c in result.tier_changes)
    assert streaming.taken == len(events) - 1
    assert {"tier_at_risk", "tier:gold", "tier:green"} <= seen, seen


def test_a_fallback_after_the_tiers_decided_leaves_the_working_state_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stage after the tiers that reads what the step keeps compact (here: made to, every third
    event): the event goes to `process`, and the tiers' decision on the working state is dropped."""
    engine = _program(_TIERS)
    generated = engine.generated
    assert generated is not None
    calls = {"n": 0}

    def reads_lots(run: Run) -> None:
        if run.working is None:  # `process` (the generated path runs the same mechanics)
            return
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise step_views.NeedsLots

    monkeypatch.setattr(generated, "mechanics", (*generated.mechanics, reads_lots))
    events = _purchases(3, 40)
    taken = same_stream(engine, events, whole=False)  # the step in place's fallback
    assert 0 < taken < len(events) - 10  # some taken, some fell back after the tiers ran
