"""Tiers over time: upgrade at once (benefits from the next event), downgrade only at review."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

HEADER = "program: t\nversion: 1\ntimezone: Europe/Paris\ncurrency: EUR\n"


def engine(tiers: str) -> Engine:
    body = "earn: [{id: base, rate: 1 per 1}]\n" + textwrap.dedent(tiers)
    return Engine(load_program_text(HEADER + body, "t.yaml"))


def buy(e: Engine, event_id: str, time: str, amount: str, state: CustomerState | None) -> Outcome:
    event: dict[str, Any] = {
        "id": event_id,
        "type": "purchase",
        "time": time,
        "customer": "c1",
        "items": [{"sku": "X", "price": Decimal(amount), "qty": 1}],
    }
    return e.process(event, state)


CALENDAR = """\
tiers:
  qualify_on: spend
  window: calendar_year
  downgrade: one_level
  downgrade_grace: 30d
  levels:
    - {id: member, threshold: 0}
    - {id: silver, threshold: 500, benefits: {earn_multiplier: 2}}
    - {id: gold, threshold: 1500, benefits: {earn_multiplier: 3}}
"""


def test_upgrade_at_once_and_benefits_from_the_next_event() -> None:
    e = engine(CALENDAR)
    first = buy(e, "p1", "2026-03-01T12:00:00+01:00", "600.00", None)
    assert [(c.old, c.new) for c in first.effects.tier_changes] == [(None, "silver")]
    assert first.totals.points == 600  # the silver ×2 is not on the purchase that reached silver
    assert first.tier_progress is not None
    assert (first.tier_progress.next, first.tier_progress.needed) == ("gold", Decimal("900.00"))
    second = buy(e, "p2", "2026-03-02T12:00:00+01:00", "100.00", first.state)
    assert second.totals.points == 200  # ×2 now
    assert second.state.tier == "silver"


def test_no_downgrade_before_the_review_one_level_at_a_time_after_it() -> None:
    e = engine(CALENDAR)
    state = buy(e, "p1", "2026-03-01T12:00:00+01:00", "2000.00", None).state
    assert state.tier == "gold"
    # reached in 2026: held through 2027; reviewed on 2028-01-01 + 30 days, on 2027's spend
    quiet = buy(e, "p2", "2027-06-01T12:00:00+02:00", "10.00", state)
    assert quiet.state.tier == "gold" and quiet.effects.tier_changes == []
    before_review = buy(e, "p3", "2028-01-30T12:00:00+01:00", "10.00", quiet.state)
    assert before_review.state.tier == "gold"
    review = buy(e, "p4", "2028-01-31T12:00:00+01:00", "10.00", before_review.state)
    assert [(c.old, c.new) for c in review.effects.tier_changes] == [("gold", "silver")]
    assert "below 1500" in review.effects.tier_changes[0].reason


def test_straight_to_the_qualified_level_when_the_program_says_so() -> None:
    e = engine(CALENDAR.replace("downgrade: one_level", "downgrade: to_qualified"))
    state = buy(e, "p1", "2026-03-01T12:00:00+01:00", "2000.00", None).state
    state = buy(e, "p2", "2027-06-01T12:00:00+02:00", "10.00", state).state
    review = buy(e, "p3", "2028-02-15T12:00:00+01:00", "10.00", state)
    assert [(c.old, c.new) for c in review.effects.tier_changes] == [("gold", "member")]


def test_rolling_window_and_visits() -> None:
    e = engine("""\
        tiers:
          qualify_on: visits
          window: rolling 30d
          levels: [{id: regular, threshold: 3}]
        """)
    state: CustomerState | None = None
    for n, day in enumerate(["01", "10", "25"]):
        outcome = buy(e, f"p{n}", f"2026-12-{day}T12:00:00+01:00", "1.00", state)
        state = outcome.state
    assert state is not None and state.tier == "regular"
    # the first visit left the window: 2 visits in the last 30 days, but no review yet
    later = buy(e, "p9", "2027-01-15T12:00:00+01:00", "1.00", state)
    assert later.state.tier == "regular"
    assert later.tier_progress is not None and later.tier_progress.metric == 2
    # review: reached on Dec 25, held for one window (30 days): from Jan 24 the metric decides
    reviewed = buy(e, "p10", "2027-02-01T12:00:00+01:00", "1.00", later.state)
    assert [(c.old, c.new) for c in reviewed.effects.tier_changes] == [("regular", None)]


def test_a_return_takes_back_the_tier_progress_the_lines_gave() -> None:
    e = engine(CALENDAR)
    bought = buy(e, "p1", "2026-03-01T12:00:00+01:00", "400.00", None)
    back = e.process(
        {
            "id": "r1",
            "type": "return",
            "time": "2026-03-05T12:00:00+01:00",
            "customer": "c1",
            "purchase": "p1",
            "items": [{"sku": "X", "qty": 1}],
        },
        bought.state,
    )
    later = buy(e, "p2", "2026-03-10T12:00:00+01:00", "200.00", back.state)
    # 400 returned: 200 spent in 2026 so far, silver (500) not reached
    assert later.tier_progress is not None and later.tier_progress.metric == Decimal("200.00")
    assert later.state.tier == "member"


def test_advance_applies_a_due_review_without_an_event() -> None:
    import datetime as dt

    from rules_engine.engine.outcome import TierChange

    e = engine(CALENDAR)
    state = buy(e, "p1", "2026-03-01T12:00:00+01:00", "2000.00", None).state
    early, nothing, _ = e.advance(state, dt.datetime(2027, 12, 31, tzinfo=dt.UTC))
    assert early.tier == "gold" and [c for c in nothing if isinstance(c, TierChange)] == []
    after, changes, _ = e.advance(state, dt.datetime(2028, 2, 1, tzinfo=dt.UTC))
    moves = [c for c in changes if isinstance(c, TierChange)]
    assert [(m.old, m.new) for m in moves] == [("gold", "silver")]
    assert after.tier == "silver"


def test_a_reminder_before_a_downgrade_is_sent_once() -> None:
    e = engine(
        CALENDAR + "notifications:\n  frequency_cap: {count: 5, per: 7d}\n"
        "  tier_downgrade: {before: 30d, channel: email, template: tier_at_risk}\n"
    )
    state = buy(e, "p1", "2026-03-01T12:00:00+01:00", "2000.00", None).state
    state = buy(e, "p2", "2027-06-01T12:00:00+02:00", "10.00", state).state  # 2027: far below gold
    quiet = buy(e, "p3", "2027-12-20T12:00:00+01:00", "10.00", state)  # review on 2028-01-31: > 30 days
    assert quiet.effects.notifications == []
    warned = buy(e, "p4", "2028-01-10T12:00:00+01:00", "10.00", quiet.state)
    assert [(n.channel, n.template) for n in warned.effects.notifications] == [("email", "tier_at_risk")]
    again = buy(e, "p5", "2028-01-15T12:00:00+01:00", "10.00", warned.state)
    assert again.effects.notifications == []
