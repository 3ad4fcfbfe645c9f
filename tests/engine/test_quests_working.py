"""Quests, badges and the points reminder on the step in place, against `process`.

A quest's attempt a step moves on is kept as a `compact.Questing` in the cold state (its model made
by `Working.public()`), its trace words made when read, and an attempt a purchase leaves as it was
is one look-up. Differential (`same_stream`: the same outcome and state JSON event by event, and
`public(fresh=True)`): coffee-club with its quest made of purchase steps only (ordered and in any
order, three days to finish), so attempts start, finish (a reward with a badge) and expire on the step;
a badge earned on a purchase by a condition on the history; lots expiring within the reminder's
reach; and a mechanic after the quests that falls back mid-event. The steps must have taken the
purchases and left `Questing`s in the cold state.
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
from rules_engine.state.compact import Questing
from tests.engine.test_working import COFFEE, same, same_stream

MSK = dt.timezone(dt.timedelta(hours=3))
_QUEST = """    within: 30d
    ordered: false
    steps:
      - id: coffee
        when: any(item.category == "coffee" for item in basket.items)
      - id: pastry
        when: any(item.category == "pastry" for item in basket.items)
      - id: review
        on: review
"""
_PURCHASES_ONLY = """    within: 3d
    ordered: {ordered}
    steps:
      - id: coffee
        when: any(item.category == "coffee" for item in basket.items)
      - id: pastry
        when: any(item.category == "pastry" for item in basket.items)
      - id: beans
        when: any(item.category == "beans" for item in basket.items)
"""
_FIRST_CUP = """  - id: first-cup
    name: First cup
    on: [purchase]
    when: len(customer.purchases) == 0
"""
_THIRD_VISIT = """  - id: first-cup
    name: First cup
    on: [purchase]
    when: len(customer.purchases) >= 12
    reward: {points: 7}
"""
_EXPIRY = "  expire_after: 365d\n"


def _engine(*changes: tuple[str, str]) -> Engine:
    text = COFFEE.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text
        text = text.replace(old, new)
    return Engine(load_program_text(text, "coffee-club.yaml"), secret=b"s")


_LINES = [
    {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 2},
    {"sku": "CROISSANT", "category": "pastry", "price": "150.00", "qty": 1},
    {"sku": "BEANS-1KG", "category": "beans", "price": "1800.00", "qty": 1},
    {"sku": "ESPRESSO", "category": "coffee", "price": "120.00", "qty": 3},
]


def _events(seed: int, count: int, customer: str = "c1") -> list[dict[str, Any]]:
    """Purchases of one or two lines, hours to ten days apart (attempts of a week finish and
    expire), now and then a review or an app open (which `process` decides)."""
    rng = random.Random(seed)
    moment = dt.datetime(2026, 1, 2, 10, 0, tzinfo=MSK)
    events: list[dict[str, Any]] = []
    for number in range(count):
        moment += dt.timedelta(days=rng.choice([0, 1, 1, 2, 3, 10]), hours=rng.randrange(1, 5))
        base = {"id": f"{customer}-e{number}", "customer": customer, "time": moment.isoformat()}
        if rng.random() < 0.05:
            events.append({**base, "type": rng.choice(["review", "app_open"])})
            continue
        events.append({**base, "type": "purchase", "items": rng.sample(_LINES, rng.randint(1, 2))})
    return events


def _customers(seed: int, count: int, each: int) -> list[dict[str, Any]]:
    """`_events` of `count` customers, in time order (a quest is finished once per customer)."""
    events = [e for k in range(count) for e in _events(seed * 100 + k, each, f"c{k}")]
    return sorted(events, key=lambda e: dt.datetime.fromisoformat(e["time"]))


def _questings(engine: Engine, events: list[dict[str, Any]]) -> tuple[int, set[str]]:
    """How many steps left a `Questing` in the cold state, and the quest words the trace said."""
    streaming = Stream(engine)
    workings: dict[str, Any] = {}
    lazy = 0
    words: set[str] = set()
    for event in events:
        working = workings.setdefault(event["customer"], streaming.working(None))
        result = streaming.step(event, working)
        lazy += any(type(attempt) is Questing for attempt in working.cold.quests.values())
        words.update(str(t.reason) for t in result.trace if t.kind == "quest")
    return lazy, words


@pytest.mark.parametrize("ordered", ["false", "true"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quests_of_purchase_steps_start_finish_and_expire_on_the_step_as_process(
    ordered: str, seed: int
) -> None:
    engine = _engine((_QUEST, _PURCHASES_ONLY.format(ordered=ordered)))
    events = _customers(seed, 8, 25)
    taken = same_stream(engine, events)
    purchases = sum(1 for e in events if e["type"] == "purchase")
    assert taken >= purchases * 0.8
    lazy, words = _questings(engine, events)
    assert lazy >= 3  # the steps kept the attempts they moved on compact (until the quest is done)
    assert any("quest complete" in w for w in words), words
    assert any(w.startswith("the time limit of the attempt") for w in words), words  # an attempt expired
    assert any("done " in w for w in words), words  # a step done, the attempt not finished


def test_the_coffee_club_quest_waits_for_its_review_on_the_step_as_process() -> None:
    """coffee-club's own quest: the purchase steps done, the review step open (a purchase leaves
    the attempt as it was), the review through `process`, the attempt finished or expired."""
    engine = _engine()
    events = _events(4, 200)
    taken = same_stream(engine, events)
    assert taken >= sum(1 for e in events if e["type"] == "purchase") * 0.8
    _, words = _questings(engine, events)
    assert any(w.startswith("no open step matched: 2 of 3 steps (coffee, pastry)") for w in words), words


@pytest.mark.parametrize("badge", [_FIRST_CUP, _THIRD_VISIT], ids=["first-cup", "twelfth-line"])
def test_badges_earned_and_held_on_the_step_as_process(badge: str) -> None:
    engine = _engine((_FIRST_CUP, badge), (_QUEST, _PURCHASES_ONLY.format(ordered="false")))
    events = _events(5, 80)
    same_stream(engine, events)
    streaming = Stream(engine)
    working = streaming.working(None)
    earned = 0
    for event in events:
        result = streaming.step(event, working)
        earned += sum(1 for b in result.badges)
    assert (
        earned >= 2
    )  # the automatic badge (or first-cup on the first purchase) and a quest's or challenge's
    assert "first-cup" in working.public().badges


def test_the_points_reminder_on_the_step_reminds_as_process() -> None:
    """Lots that expire in a month: the reminder's reach (14 days) finds them on the step, and its
    one comparison lets the other purchases pass; the same messages and state as `process`."""
    engine = _engine((_EXPIRY, "  expire_after: 30d\n"))
    events = _events(6, 120)
    taken = same_stream(engine, events)
    assert taken >= sum(1 for e in events if e["type"] == "purchase") * 0.8
    streaming = Stream(engine)
    working = streaming.working(None)
    sent = 0
    for event in events:
        sent += sum(1 for n in streaming.step(event, working).notifications if n.template == "beans_expiring")
    assert sent >= 3


def test_a_fallback_after_the_quests_ran_leaves_the_working_state_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stage after the quests that reads what the step keeps compact (made to, every third step):
    the event goes to `process`, and what the quests decided on the step's run is dropped."""
    engine = _engine((_QUEST, _PURCHASES_ONLY.format(ordered="false")))
    generated = engine.generated
    assert generated is not None
    calls = {"n": 0}

    def reads_lots(run: Run) -> None:
        if run.working is None:  # `process`
            return
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise step_views.NeedsLots

    mechanics = list(generated.mechanics)
    at = next(i for i, m in enumerate(mechanics) if "quests" in m.__qualname__)
    monkeypatch.setattr(generated, "mechanics", (*mechanics[: at + 1], reads_lots, *mechanics[at + 1 :]))
    events = _events(7, 90)
    taken = same_stream(engine, events)
    assert 0 < taken < len(events) - 10  # some taken, some fell back after the quests ran
    state = None
    for event in events:
        state = engine.process(event, state).state
    streaming = Stream(engine)
    working = streaming.working(None)
    for event in events:
        streaming.step(event, working)
    assert state is not None
    same(working.public(), state)
