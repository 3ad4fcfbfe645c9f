"""Backdated events: `late_events: {accept_within: 7d}` (issue 16, item 7).

After an event on 10 April, a purchase dated 1 February was applied and its points sat in the
balance already past their expiry. Now an event older than the customer's latest one is applied
at its own time when the program takes it (within `accept_within`), its points expiring and
becoming available when they would have; otherwise it is refused, saying how late it is."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from tests.engine.books import balanced

HEADER = "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"


def engine(late: str = "") -> Engine:
    body = f"""\
    points: {{pending: 2d, expire_after: 3d}}
    earn: [{{id: base, rate: 1 per 1}}]
    {late}
    """
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"))


def purchase(event_id: str, time: str, amount: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": time,
        "customer": "c1",
        "items": [{"sku": "X", "price": Decimal(amount), "qty": 1}],
    }


LATEST = "2027-04-10T12:00:00Z"


def test_by_default_a_late_event_is_refused_saying_how_late() -> None:
    e = engine()
    state = e.process(purchase("p1", LATEST, "50.00")).state
    with pytest.raises(EventError) as refused:
        e.process(purchase("p0", "2027-04-05T09:30:00Z", "120.00"), state)
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE440"
    assert (
        "event p0: its time 2027-04-05T09:30:00+00:00 is 5d2h30m before customer c1's latest"
        in problem.message
    )
    assert "the program takes no late events" in problem.message
    assert "late_events: {accept_within: 7d}" in (problem.hint or "")


def test_a_late_event_within_the_window_is_applied_at_its_own_time() -> None:
    e = engine("late_events: {accept_within: 7d}")
    first = e.process(purchase("p1", LATEST, "50.00"))
    state = first.state
    late = e.process(purchase("p0", "2027-04-05T12:00:00Z", "120.00"), state)
    assert late.totals.points == 120
    # earned on 5 April: available on the 7th, expired on the 8th, before the customer's clock
    changes = [(c.kind, c.lot, c.points, c.at.date().isoformat()) for c in late.effects.points_changes]
    assert changes == [("available", "p0/base", 120, "2027-04-07"), ("expire", "p0/base", 120, "2027-04-08")]
    after = late.state
    assert after.last_event_at == dt.datetime(2027, 4, 10, 12, tzinfo=dt.UTC)  # the clock stays
    moment = dt.datetime(2027, 4, 10, 12, tzinfo=dt.UTC)
    assert (after.available(moment), after.pending(moment)) == (0, 50)  # p1's 50 still pending
    assert [(x.kind, x.points) for x in late.new_ledger_entries] == [("earn", 120), ("expire", -120)]
    assert balanced(after, [*first.ledger, *late.ledger])
    # the next event finds nothing more to do for p0
    following = e.process(purchase("p2", "2027-04-13T12:00:00Z", "1.00"), after)
    assert [c.lot for c in following.effects.points_changes if c.lot.startswith("p0")] == []


def test_a_late_event_still_inside_its_points_life_keeps_them() -> None:
    e = engine("late_events: {accept_within: 7d}")
    state = e.process(purchase("p1", LATEST, "50.00")).state
    late = e.process(purchase("p0", "2027-04-09T12:00:00Z", "10.00"), state)
    assert [(c.kind, c.lot) for c in late.effects.points_changes] == []  # pending until the 11th
    moment = dt.datetime(2027, 4, 10, 12, tzinfo=dt.UTC)
    assert late.state.pending(moment) == 60


def test_beyond_the_window_a_late_event_is_refused_and_changes_nothing() -> None:
    e = engine("late_events: {accept_within: 7d}")
    state = e.process(purchase("p1", LATEST, "50.00")).state
    with pytest.raises(EventError) as refused:
        e.process(purchase("p0", "2027-02-01T12:00:00Z", "120.00"), state)
    (problem,) = refused.value.diagnostics
    assert problem.code == "RE440" and "p0" in problem.message
    assert "is 68d before" in problem.message and "late_events.accept_within (7d)" in problem.message
    # at the edge: exactly 7 days late is accepted
    assert e.process(purchase("p0", "2027-04-03T12:00:00Z", "1.00"), state).totals.points == 1


def test_a_referrers_reward_delivered_after_its_expiry_expires_in_its_own_outcome() -> None:
    """Always taken late (a reward owed is never lost); its points expire when they would have."""
    from tests.store.streams import engine as referral_engine

    e = referral_engine()  # referrer 50 points, expire_after 20d
    bought = {"sku": "M", "price": "5.00", "qty": 1}
    first = e.process(
        {
            "id": "a1",
            "type": "purchase",
            "time": "2027-03-01T12:00:00+01:00",
            "customer": "ann",
            "items": [bought],
        }
    )
    state = first.state
    reward = {
        "id": "rr",
        "type": "referral_reward",
        "time": "2027-01-01T12:00:00+01:00",
        "customer": "ann",
        "referee": "bob",
        "qualifying_event": "b1",
    }
    late = e.process(reward, state)
    assert [(a.rule, a.points) for a in late.effects.points] == [("referral:referrer", 50)]
    changes = [(c.kind, c.points, c.at.date().isoformat()) for c in late.effects.points_changes]
    assert changes == [("expire", 50, "2027-01-21")]
    assert balanced(late.state, [*first.ledger, *late.ledger])


@settings(max_examples=40, deadline=None)
@given(
    hours=st.lists(st.integers(min_value=0, max_value=7 * 24), min_size=2, max_size=6, unique=True),
    order=st.randoms(use_true_random=False),
)
def test_purchases_taken_late_end_as_they_would_have_in_order(hours: list[int], order: Any) -> None:
    """Within the window, the order of arrival changes no lot: each purchase's points are earned,
    become available and expire at their own moments (points live 3 days, wait 2)."""
    e = engine("late_events: {accept_within: 7d}")
    start = dt.datetime(2027, 4, 1, tzinfo=dt.UTC)
    events = [
        purchase(f"p{h}", (start + dt.timedelta(hours=h)).isoformat(), f"{h % 13 + 1}.00") for h in hours
    ]
    arrived = list(events)
    order.shuffle(arrived)

    def final(sequence: list[dict[str, Any]]) -> Any:
        state, books = None, []
        for event in sequence:
            result = e.process(event, state)
            state = result.state
            books += result.ledger
        assert state is not None and balanced(state, books)
        end = start + dt.timedelta(hours=max(hours))
        lots = sorted((lot.id, lot.points, lot.expires_at) for lot in state.lots if lot.points)
        return lots, state.available(end), state.pending(end)

    assert final(arrived) == final(sorted(events, key=lambda event: event["time"]))
