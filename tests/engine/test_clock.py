"""A customer's clock never moves backwards (engine/clock.py): an event older than the customer's
latest is refused (RE440) and changes nothing, whatever the order events arrive in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.clock import event_order
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState
from tests.store.streams import START, engine

ENGINE = engine()  # points expire after 20 days


def purchase(n: int, hours: float, price: str = "30.00") -> dict[str, Any]:
    return {
        "id": f"p{n}",
        "type": "purchase",
        "time": (START + dt.timedelta(hours=hours)).isoformat(),
        "customer": "ann",
        "items": [{"sku": "MUG", "price": price, "qty": 1}],
    }


def balance(state: CustomerState) -> Decimal:
    return sum((lot.points for lot in state.lots), Decimal(0))


def test_an_event_older_than_the_customers_latest_is_refused_with_both_times() -> None:
    state = ENGINE.process(purchase(1, 48), None).state
    with pytest.raises(EventError) as refused:
        ENGINE.process(purchase(2, 24), state)
    (diagnostic,) = refused.value.diagnostics
    assert diagnostic.code == "RE440" and diagnostic.path == ("time",)
    assert "p2" in diagnostic.message
    assert (START + dt.timedelta(hours=24)).isoformat() in diagnostic.message
    assert (START + dt.timedelta(hours=48)).isoformat() in diagnostic.message


def test_an_event_at_the_same_moment_as_the_latest_is_in_order() -> None:
    state = ENGINE.process(purchase(1, 5), None).state
    assert ENGINE.process(purchase(2, 5), state).state.visits == 2


def test_a_redelivered_old_event_is_still_a_duplicate_not_a_refusal() -> None:
    state = ENGINE.process(purchase(1, 5), None).state
    state = ENGINE.process(purchase(2, 9), state).state
    again = ENGINE.process(purchase(1, 5), state)
    assert again.trace[0].code == "duplicate" and again.state == state


def test_after_a_future_dated_event_correct_events_are_refused_not_applied_back_in_time() -> None:
    """The issue's customer: a typo'd year expired their points; the engine alone cannot know the
    date is wrong (the store's horizon does, tests/store), but it never applies the next, correctly
    dated, event as if time had gone back."""
    state = ENGINE.process(purchase(1, 1), None).state
    typo = ENGINE.process({**purchase(2, 1), "time": "2028-12-01T10:00:00+01:00"}, state).state
    assert typo.last_event_at is not None and typo.last_event_at.year == 2028
    with pytest.raises(EventError) as refused:
        ENGINE.process(purchase(3, 2), typo)
    assert refused.value.code == "RE440"


def test_an_advance_to_a_moment_before_the_latest_event_changes_nothing() -> None:
    state = ENGINE.process(purchase(1, 24 * 30), None).state
    after, changes, _ = ENGINE.advance(state, START)
    assert after == state and changes == []


def test_a_referrers_reward_dated_before_their_latest_event_is_late_but_accepted() -> None:
    state = ENGINE.process(purchase(1, 48), None).state
    reward = parse_event(
        {
            "id": "q1:referrer:bob",
            "type": "referral_reward",
            "customer": "ann",
            "time": (START + dt.timedelta(hours=24)).isoformat(),
            "referee": "bob",
            "qualifying_event": "q1",
        }
    )
    assert event_order(ENGINE.program, state, reward) == "late"
    rewarded = ENGINE.process(reward, state).state
    assert balance(rewarded) == balance(state) + 50
    assert rewarded.last_event_at == state.last_event_at  # the clock does not move back


@settings(max_examples=60, deadline=None)
@given(hours=st.lists(st.integers(0, 24 * 60), min_size=1, max_size=12))
def test_in_any_arrival_order_each_event_is_applied_in_time_order_or_refused(hours: list[int]) -> None:
    """Whatever order a customer's events arrive in: an event is applied only if it is not older
    than every event applied before it (RE440 otherwise, state unchanged), and the state is the one
    the applied events give when sent alone, in order."""
    state: CustomerState | None = None
    applied: list[dict[str, Any]] = []
    for n, hour in enumerate(hours):
        event = purchase(n, hour)
        latest = None if state is None else state.last_event_at
        try:
            state = ENGINE.process(event, state).state
        except EventError as error:
            assert error.code == "RE440"
            assert latest is not None and START + dt.timedelta(hours=hour) < latest
            continue
        assert latest is None or START + dt.timedelta(hours=hour) >= latest
        applied.append(event)
    alone: CustomerState | None = None
    for event in applied:
        alone = ENGINE.process(event, alone).state
    assert alone == state
