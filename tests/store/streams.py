"""A small program and reproducible streams of events for the store tests, and the reference they
are compared with: the pure engine, chained by hand, with no store at all."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.mechanics.referral import REFERRER, referral_code, referrer_event_id
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState

PROGRAM = """
program: store-test
version: 2
timezone: Europe/Berlin
currency: EUR
points: {expire_after: 20d, value: 0.01}
earn:
  - id: base
    rate: 1 per 1
  - id: launch
    description: 10 points for a basket of 20 EUR or more, 60 points in all, for everyone
    when: basket.total >= 20
    award: 10
    budget: {points: 60, period: program}
catalog:
  - id: mug
    name: A mug
    cost: 25
    reward: {coupon: five-off}
coupons:
  - id: five-off
    amount: 5
    valid_for: 30d
referral:
  qualifying: basket.total >= 10
  within: 60d
  referrer: {points: 50}
  referee: {points: 5}
  limit: {count: 3, per: 365d}
"""

START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def engine() -> Engine:
    return Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")


def stream(seed: int, customers: int = 6, events: int = 120) -> list[dict[str, Any]]:
    """Purchases, redemptions (some refused for lack of points) and referral signups, in time order,
    several weeks long so that points expire on the way."""
    pick = random.Random(seed)
    names = [f"c{n}" for n in range(customers)]
    out: list[dict[str, Any]] = []
    time = START
    signed: set[str] = set()
    seen: set[str] = set()
    for n in range(events):
        time += dt.timedelta(hours=pick.randint(1, 12))
        customer = pick.choice(names)
        base = {"id": f"e{seed}-{n}", "time": time.isoformat(), "customer": customer}
        roll = pick.random()
        # a referrer is a customer the store knows: one whose purchase or signup came before
        known = sorted(c for c in seen if c != customer)
        if customer not in signed and n > 3 and roll < 0.3 and known:
            signed.add(customer)
            referrer = pick.choice(known)
            code = referral_code("store-test", referrer, b"store tests")
            out.append({**base, "type": "signup", "referral_code": code})
            seen.add(customer)
        elif roll < 0.15:
            out.append({**base, "type": "redeem", "item": "mug"})
        else:
            lines = [
                {
                    "sku": f"SKU-{pick.randint(1, 9)}",
                    "category": "goods",
                    "price": str(Decimal(pick.randint(150, 2500)) / 100),
                    "qty": pick.randint(1, 3),
                }
                for _ in range(pick.randint(1, 3))
            ]
            out.append({**base, "type": "purchase", "items": lines})
            seen.add(customer)
    return out


def reference(engine: Engine, events: list[dict[str, Any]]) -> dict[str, CustomerState]:
    """Final states from `Engine.process` alone: refused events skipped, the referrer rewarded by
    an event of their own right after the referee's qualifying one, budgets counted here."""
    states: dict[str, CustomerState] = {}
    spent: dict[str, dict[str, Decimal]] = {}
    codes = {referral_code("store-test", f"c{n}", engine.secret): f"c{n}" for n in range(100)}
    from rules_engine.engine.evaluator import BudgetSnapshot

    def apply(event: dict[str, Any]) -> None:
        customer = event["customer"]
        outcome = engine.process(event, states.get(customer), budgets=BudgetSnapshot(spent))
        states[customer] = outcome.state
        for award in outcome.effects.points:
            if award.rule == "launch":
                budget = spent.setdefault("launch", {})
                budget["lifetime"] = budget.get("lifetime", Decimal(0)) + award.points
        for released in outcome.effects.budgets_released:
            budget = spent.setdefault(released.rule, {})
            budget[released.period] = budget.get(released.period, Decimal(0)) - released.points
        if event["type"] != "referral_reward" and any(t.rule == REFERRER and t.fired for t in outcome.trace):
            referrer = codes[outcome.state.referred_with or ""]
            apply(
                {
                    "id": referrer_event_id(customer, outcome.event),
                    "type": "referral_reward",
                    "customer": referrer,
                    "time": outcome.state.referral_qualified_at,
                    "referee": customer,
                    "qualifying_event": outcome.event,
                }
            )

    for event in events:
        try:
            apply(event)
        except EventError:
            continue
    return states
