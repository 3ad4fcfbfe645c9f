"""A limit of "count per period" holds in every period, also for an event dated before times it
was already given at: a late event (`late_events`) or a referrer's reward, which carries the time
of the friend's purchase and so comes late whenever another friend's purchase came first. Only
the times before the event were counted: the later ones, in a period with it, were not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.engine.mechanics.shared import busiest
from rules_engine.program.mechanics import Limit
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)

PROGRAM = """
program: limits
version: 1
timezone: UTC
currency: EUR
points: {value: 0.01}
late_events: {accept_within: 2d}
earn:
  - {id: base, rate: 1 per 1}
coupons:
  - {id: hello, amount: 3, valid_for: 5d}
offers:
  - {id: hello-again, on: [app_open], when: "true", coupon: hello, limit: {count: 1, per: 30d}}
referral:
  qualifying: basket.total >= 10
  referrer: {points: 50}
  referee: {points: 5}
  limit: {count: 1, per: 365d}
"""


def loyalty() -> Loyalty:
    return Loyalty.in_memory(Engine(load_program_text(PROGRAM, "limits.yaml"), secret=b"limits"))


def event(name: str, customer: str, hours: float, kind: str, **fields: Any) -> dict[str, Any]:
    at = (T0 + dt.timedelta(hours=hours)).isoformat()
    return {"id": name, "type": kind, "time": at, "customer": customer, **fields}


def test_a_late_event_gets_no_second_offer_within_the_period() -> None:
    service = loyalty()
    first = service.process(event("o1", "c", 10, "app_open"))
    assert len(first.effects.coupons_issued) == 1
    late = service.process(event("o2", "c", 3, "app_open"))  # 7 hours late: taken
    assert late.effects.coupons_issued == []
    [trace] = [t for t in late.trace if t.rule == "offer:hello-again"]
    assert trace.code == "capped"
    assert len(late.state.coupons) == 1


def test_a_late_event_gets_no_next_best_offer_past_at_most() -> None:
    best = PROGRAM.replace("offers:\n", "next_best_offer: {at_most: {count: 1, per: 7d}}\noffers:\n").replace(
        "limit: {count: 1, per: 30d}", "limit: {count: 9}"
    )
    service = Loyalty.in_memory(Engine(load_program_text(best, "limits.yaml"), secret=b"limits"))
    assert len(service.process(event("o1", "c", 10, "app_open")).effects.coupons_issued) == 1
    late = service.process(event("o2", "c", 3, "app_open"))
    assert late.effects.coupons_issued == []
    [trace] = [t for t in late.trace if t.rule == "offer:hello-again"]
    assert trace.code == "capped" and "1 offer issued already" in trace.reason


def test_a_referrer_is_rewarded_once_per_period_whichever_friend_s_purchase_comes_first() -> None:
    service = loyalty()
    service.process(event("o1", "ref", 0, "app_open"))
    code = referral_code("limits", "ref", b"limits")
    for friend in ("a", "b"):
        service.process(event("s1", friend, 1, "signup", referral_code=code))
    basket = [{"sku": "X", "price": 20, "qty": 1}]
    later = service.handle(event("p1", "b", 5, "purchase", items=basket))  # delivered first
    assert later.referrer is not None and later.referrer.effects.points
    earlier = service.handle(event("p1", "a", 4, "purchase", items=basket))  # its reward comes late
    assert earlier.referrer is not None and earlier.referrer.effects.points == []
    state = service.store.state("ref")
    assert state is not None and sum(lot.points for lot in state.lots) == 50
    assert len(state.referrals_rewarded) == 1


def test_a_referrer_s_late_reward_keeps_every_reward_a_limit_counts_once() -> None:
    program = PROGRAM.replace("limit: {count: 1, per: 365d}", "limit: {count: 3}")
    service = Loyalty.in_memory(Engine(load_program_text(program, "limits.yaml"), secret=b"limits"))
    service.process(event("o1", "ref", 0, "app_open"))
    code = referral_code("limits", "ref", b"limits")
    basket = [{"sku": "X", "price": 20, "qty": 1}]
    for friend, hours in (("a", 6), ("b", 5), ("c", 4)):  # each reward later than the one before
        service.process(event("s1", friend, 1, "signup", referral_code=code))
        service.handle(event("p1", friend, hours, "purchase", items=basket))
    state = service.store.state("ref")
    assert state is not None and sum(lot.points for lot in state.lots) == 150
    assert state.referrals_rewarded == [T0 + dt.timedelta(hours=hours) for hours in (4, 5, 6)]


@settings(max_examples=200, deadline=None)
@given(
    hours=st.lists(st.integers(0, 2000), min_size=1, max_size=12),
    count=st.integers(1, 3),
    per=st.integers(1, 500),
)
def test_times_admitted_by_busiest_never_crowd_a_period(hours: list[int], count: int, per: int) -> None:
    # in any order of arrival, the times let in leave no window of `per` with more than `count`
    limit = Limit(count=count, per=dt.timedelta(hours=per))
    given_at: list[dt.datetime] = []
    for hour in hours:
        moment = T0 + dt.timedelta(hours=hour)
        if busiest(limit, given_at, moment) < count:
            given_at.append(moment)
    for start in given_at:
        inside = [t for t in given_at if start <= t < start + dt.timedelta(hours=per)]
        assert len(inside) <= count


CAPPED = """
program: caps
version: 1
timezone: Europe/Berlin
currency: EUR
points: {value: 0.01}
late_events: {accept_within: 2d}
earn:
  - {id: base, rate: 1 per 1}
  - {id: bonus, when: basket.total >= 50, award: 20, cap: {per_week: 40}}
  - {id: daily, when: basket.total >= 50, award: 5, cap: {per_day: 5, per_month: 100}}
"""
SUNDAY = dt.datetime(2026, 12, 13, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


@pytest.mark.parametrize("explain", [False, True])
def test_a_late_event_counts_against_its_own_period_s_cap_after_a_later_period_began(explain: bool) -> None:
    # The counters kept the current period only: when Monday's purchase began a new week, the
    # week before was forgotten, and a purchase from Sunday evening, taken late, earned its bonus
    # again (60 points in a week capped at 40; a second daily bonus for the same Sunday).
    engine = Engine(load_program_text(CAPPED, "caps.yaml"))
    state = None
    for name, hours in (("p1", 0), ("p2", 1), ("p3", 5), ("p4", 2)):  # p3 Monday 01:00, p4 late
        basket = [{"sku": "X", "price": 60, "qty": 1}]
        at = (SUNDAY + dt.timedelta(hours=hours)).isoformat()
        outcome = engine.process(
            {"id": name, "type": "purchase", "time": at, "customer": "c", "items": basket},
            state,
            explain=explain,
        )
        state = outcome.state
    assert {a.rule: a.points for a in outcome.effects.points} == {"base": 60}
    assert state is not None and state.counters["bonus"]["week:2026-W50"] == 40
