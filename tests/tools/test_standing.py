"""A customer read between events (tools/standing.py) shows the tier progress the engine reports
for an event at that moment, whatever the event: a review due by then done, an upgrade the metric
reaches made."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from rules_engine.tools.standing import tier_progress
from tests.conftest import ROOT

GOLD = """program: standing
version: 1
timezone: Europe/Paris
currency: EUR
earn: [{id: base, rate: 1 per 1}]
tiers:
  qualify_on: spend
  window: calendar_year
  downgrade: to_qualified
  downgrade_grace: 60d
  levels:
    - {id: member, threshold: 0}
    - {id: gold, threshold: 1500}
"""


def purchase(n: int, at: dt.datetime, price: str) -> dict[str, Any]:
    items = [{"sku": "X", "category": "coffee", "price": price, "qty": 1}]
    return {"id": f"p{n}", "type": "purchase", "customer": "c", "time": at.isoformat(), "items": items}


def app_open(at: dt.datetime) -> dict[str, Any]:
    return {"id": f"look-{at.isoformat()}", "type": "app_open", "customer": "c", "time": at.isoformat()}


def test_a_review_that_drops_a_tier_this_years_spend_already_holds_shows_that_tier() -> None:
    """Gold for 2026 is reviewed on 1 March 2028 on 2027's spend (5.00): member. But 2028's
    2,000.00 reach gold again, which the next event gives at once. Read in between, the customer
    showed `member`, `next: gold`, `needed: 0` (the app said 0 to go to a tier they held)."""
    engine = Engine(load_program_text(GOLD, "standing.yaml"))
    paris = dt.timezone(dt.timedelta(hours=1))
    state = None
    for n, (at, price) in enumerate(
        [
            (dt.datetime(2026, 12, 20, 9, tzinfo=paris), "2000.00"),
            (dt.datetime(2027, 7, 8, 9, tzinfo=paris), "5.00"),
            (dt.datetime(2028, 1, 24, 9, tzinfo=paris), "2000.00"),
        ]
    ):
        state = engine.process(purchase(n, at, price), state).state
    assert state is not None and state.tier == "gold"
    later = dt.datetime(2028, 3, 5, 12, tzinfo=paris)
    shown = tier_progress(engine.program, state, later)
    assert shown is not None and (shown.tier, shown.next, shown.needed) == ("gold", None, None)
    assert shown == engine.process(app_open(later), state).tier_progress


@pytest.mark.parametrize("seed", range(8))
def test_the_standing_is_the_tier_progress_of_an_event_at_that_moment(seed: int) -> None:
    engine = Engine.from_file(ROOT / "programs" / "fashion-house.yaml")
    rnd = random.Random(seed)
    at = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC) + dt.timedelta(days=rnd.randrange(300))
    state: CustomerState | None = None
    for n in range(25):
        at += dt.timedelta(hours=rnd.choice([1, 20, 24 * 20, 24 * 90, 24 * 200]))
        if state is not None:
            assert (
                tier_progress(engine.program, state, at) == engine.process(app_open(at), state).tier_progress
            )
        try:
            state = engine.process(
                purchase(n, at, rnd.choice(["5.00", "50.00", "400.00", "2000.00"])), state
            ).state
        except EventError:
            continue
