"""Bring a friend, both sides: the referee's purchase, then the referrer's reward within the limit."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import referral_code
from rules_engine.engine.outcome import Outcome
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from tests.conftest import ROOT

FASHION = ROOT / "programs" / "fashion-house.yaml"  # referrer 1000 points, referee welcome-15, 10 per 365d


def test_a_replay_rewards_the_referrer_when_the_friend_qualifies(tmp_path: Path) -> None:
    engine = Engine.from_file(FASHION)
    code = referral_code("fashion-house", "anna", b"")
    stream = [
        {
            "id": "a1",
            "type": "purchase",
            "time": "2026-12-01T10:00:00+01:00",
            "customer": "anna",
            "items": [{"sku": "SCARF", "price": "30.00", "qty": 1}],
        },
        {
            "id": "b0",
            "type": "signup",
            "time": "2026-12-02T10:00:00+01:00",
            "customer": "bob",
            "referral_code": code,
        },
        {
            "id": "b1",
            "type": "purchase",
            "time": "2026-12-03T10:00:00+01:00",
            "customer": "bob",
            "items": [{"sku": "COAT", "price": "120.00", "qty": 1}],
        },
    ]
    path = tmp_path / "stream.jsonl"
    path.write_text("\n".join(json.dumps(event) for event in stream) + "\n")
    outcomes: list[Outcome] = []
    result = replay(Loyalty.in_memory(engine), path, lambda _, outcome, __: outcomes.append(outcome))
    assert result.problems == 0 and result.applied == len(outcomes) == 4
    referrer = [o for o in outcomes if o.event == "b1:referrer:bob"]
    assert len(referrer) == 1 and referrer[0].customer == "anna"
    assert [(a.rule, a.points) for a in referrer[0].effects.points] == [("referral:referrer", Decimal(1000))]
    bob = next(o for o in outcomes if o.event == "b1")
    assert [c.coupon for c in bob.effects.coupons_issued] == ["welcome-15"]


def test_the_referrer_limit_is_enforced_from_the_referrers_own_state() -> None:
    engine = Engine.from_file(FASHION)
    at = dt.datetime(2026, 12, 10, 12, tzinfo=dt.UTC)
    state = {
        "customer": "anna",
        "referrals_rewarded": [(at - dt.timedelta(days=n)).isoformat() for n in range(10)],
    }
    event = {
        "id": "r1",
        "type": "referral_reward",
        "time": at.isoformat(),
        "customer": "anna",
        "referee": "zoe",
        "qualifying_event": "z1",
    }
    capped = engine.process(event, state)
    (entry,) = [t for t in capped.trace if t.rule == "referral:referrer"]
    assert (entry.fired, entry.code) == (False, "capped")
    a_year_later = {**event, "id": "r2", "time": (at + dt.timedelta(days=366)).isoformat()}
    paid = engine.process(a_year_later, capped.state)
    assert paid.totals.points == 1000
