"""What time does between events is applied at its own moment, whether or not `advance` ran.

Issue 16, item 1: a tier review due before a purchase was done at the end of the purchase (after
pricing), so the purchase was priced with the tier it was about to lose, unless `advance` had run
first; and `tier_since` became the event's moment, so rolling reviews drifted.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome, PointsChange, TierChange
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

HEADER = "program: t\nversion: 1\ntimezone: Europe/Paris\ncurrency: EUR\n"


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + textwrap.dedent(body), "t.yaml"))


def purchase(event_id: str, time: dt.datetime, amount: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": time.isoformat(),
        "customer": "c1",
        "items": [{"sku": "X", "category": "coffee", "price": Decimal(amount), "qty": 1}],
    }


SILVER = """\
earn: [{id: base, rate: 1 per 1}]
tiers:
  qualify_on: spend
  window: calendar_year
  downgrade_grace: 30d
  levels:
    - {id: member, threshold: 0}
    - {id: silver, threshold: 500, benefits: {discount_percent: 10}}
"""
PARIS = dt.timezone(dt.timedelta(hours=1))


def test_a_due_review_is_done_before_the_event_that_follows_it() -> None:
    e = engine(SILVER)
    state = e.process(purchase("p1", dt.datetime(2026, 3, 1, 12, tzinfo=PARIS), "600.00")).state
    assert state.tier == "silver"  # reached in 2026, held through 2027, reviewed on 2028-01-31
    late = dt.datetime(2028, 2, 5, 12, tzinfo=PARIS)
    without = e.process(purchase("p2", late, "10.00"), state)
    advanced, moves, _ = e.advance(state, dt.datetime(2028, 2, 1, tzinfo=PARIS))
    with_advance = e.process(purchase("p2", late, "10.00"), advanced)
    for outcome in (without, with_advance):
        assert outcome.totals.points == 10 and outcome.effects.discounts == []  # member's, not silver's
        assert outcome.state.tier == "member"
        # the holding period starts at the review's due date, not at whichever came later
        assert outcome.state.tier_since == dt.datetime(2028, 1, 31, tzinfo=PARIS)
    assert [(c.old, c.new) for c in without.effects.tier_changes] == [("silver", "member")]
    assert [(c.old, c.new) for c in moves if isinstance(c, TierChange)] == [("silver", "member")]
    assert without.trace[0].rule == "tier:member"  # decided first, before the discounts


def test_rolling_reviews_follow_each_other_from_their_due_dates() -> None:
    e = engine("""\
        earn: [{id: base, rate: 1 per 1}]
        tiers:
          qualify_on: visits
          window: rolling 30d
          levels: [{id: a, threshold: 0}, {id: b, threshold: 1}]
        """)
    start = dt.datetime(2026, 1, 1, 12, tzinfo=PARIS)
    state = e.process(purchase("p1", start, "1.00")).state
    assert (state.tier, state.tier_since) == ("b", start)
    # reviews due on Jan 31 (1 visit in the window: kept), Mar 2 (none: down to a)
    later = e.process(purchase("p2", start + dt.timedelta(days=70), "1.00"), state)
    assert [(c.old, c.new) for c in later.effects.tier_changes] == [("b", "a"), ("a", "b")]
    assert "review on 2026-03-02" in later.effects.tier_changes[0].reason


# -- the differential property: the same events, with and without `advance` in between ----------

EVERYTHING = """\
earn:
  - {id: base, rate: 1 per 1}
points: {pending: 2d, expire_after: 20d}
tiers:
  qualify_on: spend
  window: rolling 15d
  downgrade: one_level
  levels:
    - {id: member, threshold: 0}
    - {id: silver, threshold: 50, benefits: {discount_percent: 10}}
    - {id: gold, threshold: 120, benefits: {earn_multiplier: 2, discount_percent: 20}}
quests:
  - id: two-visits
    within: 6d
    steps:
      - {id: first, when: basket.total >= 1}
      - {id: second, when: basket.total >= 1}
    reward: {points: 7}
notifications:
  frequency_cap: {count: 3, per: 2d}
  points_expiring: {before: 4d, channel: push, template: expiring}
  tier_downgrade: {before: 5d, channel: email, template: at_risk}
"""
CALENDAR = EVERYTHING.replace("window: rolling 15d", "window: calendar_month\n  downgrade_grace: 3d")
# the holds of issue 16, item 11: the rest of the month, and a time of its own
REST_OF_MONTH = CALENDAR.replace("downgrade_grace: 3d", "downgrade_grace: 3d\n  hold: rest_of_period")
HELD_FOR = EVERYTHING.replace("window: rolling 15d", "window: rolling 15d\n  hold: {for: 9d}")


def _decisions(outcome: Outcome) -> dict[str, Any]:
    """What an event decided: everything but the names of the ledger entries of expiry."""
    return {
        "points": [(a.rule, a.points) for a in outcome.effects.points],
        "discounts": [(d.rule, d.amount) for d in outcome.effects.discounts],
        "totals": outcome.totals,
        "notifications": [(n.channel, n.template) for n in outcome.effects.notifications],
        "progress": outcome.tier_progress,
        "tier": (outcome.state.tier, outcome.state.tier_since),
        "quests": outcome.state.quests,
        "balance": outcome.state.available(outcome.state.last_event_at or dt.datetime.min),
    }


def _changes(changes: list[PointsChange | TierChange]) -> list[Any]:
    return sorted(
        (c.kind, c.lot, c.points) if isinstance(c, PointsChange) else ("tier", c.old, c.new, c.reason)
        for c in changes
    )


# A step: hours since the previous event, the purchase amount, and where (as a fraction of the
# gap) an `advance` runs before it, if one does.
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=24 * 40),
        st.sampled_from(["5.00", "20.00", "60.00", "130.00"]),
        st.none() | st.fractions(min_value=0, max_value=1),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.sampled_from([EVERYTHING, CALENDAR, REST_OF_MONTH, HELD_FOR]), steps=steps)
def test_advance_changes_no_outcome(program: str, steps: list[tuple[int, str, Any]]) -> None:
    e = engine(program)
    plain: CustomerState | None = None
    housekept: CustomerState | None = None
    moment = dt.datetime(2026, 1, 1, 9, tzinfo=PARIS)
    for n, (hours, amount, advance_at) in enumerate(steps):
        previous, moment = moment, moment + dt.timedelta(hours=hours)
        event = purchase(f"p{n}", moment, amount)
        advanced: list[PointsChange | TierChange] = []
        if advance_at is not None and housekept is not None:
            housekept, advanced, _ = e.advance(housekept, previous + (moment - previous) * float(advance_at))
        one, two = e.process(event, plain), e.process(event, housekept)
        assert _decisions(one) == _decisions(two)
        time_did = [*one.effects.points_changes, *one.effects.tier_changes]
        also = [*advanced, *two.effects.points_changes, *two.effects.tier_changes]
        assert _changes(time_did) == _changes(also)
        plain, housekept = one.state, two.state
