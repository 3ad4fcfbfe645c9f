"""Random streams of the support desk's operations mixed with a customer's events — purchases,
returns, redemptions, app opens, late events, adjustments, voids, redeliveries, erasures —
through two stores that decide differently (memory; SQLite with working states, decided in place),
checked after every step against what the desk promises (docs/service.md, docs/stores.md):

- both stores answer the same and keep the same state, and an event's outcome is
  `Engine.process`'s from the state before it;
- every customer's balance is the sum of their ledger rows, and the books reconcile;
- a refused operation changes nothing; an event delivered again answers its original outcome and
  changes nothing; an erasure leaves the liability as it was and the id in no ledger row;
- voiding a customer's latest event leaves their points, tier, visits, badges, coupons and quests
  as if it had never come (time passed to the void's moment).
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import RulesEngineError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import open_store
from rules_engine.tools.accounting import books
from rules_engine.tools.adjustments import Adjustment
from rules_engine.tools.voids import Void
from tests.conftest import ROOT

# the coffee club with points that live 20 days, pending 2, and events taken up to 3 days late
PROGRAM = (ROOT / "programs" / "coffee-club.yaml").read_text().replace("pending: 14d", "pending: 2d")
PROGRAM = PROGRAM.replace("expire_after: 365d", "expire_after: 20d") + "\nlate_events: {accept_within: 3d}\n"
ENGINE = Engine(load_program_text(PROGRAM, "coffee-club.yaml"), secret=b"desk streams")
T0 = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
HOURS = [0, 1, 2, 5, 13, 30, 80, 200]
SAME_AFTER_A_VOID = ["tier", "visits", "badges", "coupons", "pending_lots"]


def operation(pick: random.Random, n: int, customer: str, at: dt.datetime, done: list[dict[str, Any]]) -> Any:
    """The n-th operation of a stream: an event (a dict), an `Adjustment`, a `Void`, a redelivery
    of an earlier event (a tuple) or an erasure (the customer's id)."""
    base = {"id": f"e{n}", "time": at.isoformat(), "customer": customer}
    bought = [event for event in done if event["type"] == "purchase"]
    roll = pick.random()
    if roll < 0.35:
        kinds = [
            ("LATTE-L", "coffee"),
            ("CROISSANT", "pastry"),
            ("BEANS-1KG", "beans"),
            ("GIFT", "gift_card"),
        ]
        items = []
        for sku, category in pick.sample(kinds, pick.randint(1, 3)):
            price = Decimal(pick.randint(50, 4000))
            items.append({"sku": sku, "category": category, "price": price, "qty": pick.randint(1, 3)})
        return {**base, "type": "purchase", "items": items}
    if roll < 0.45 and bought:
        purchase = pick.choice(bought)
        items = [{"sku": i["sku"], "qty": pick.randint(1, i["qty"])} for i in purchase["items"]]
        return {
            **base,
            "type": "return",
            "purchase": purchase["id"],
            "items": items[: pick.randint(1, len(items))],
        }
    if roll < 0.52:
        return {**base, "type": "redeem", "item": "free-latte"}
    if roll < 0.57:
        return {**base, "type": pick.choice(["review", "app_open"])}
    if roll < 0.67:
        points = Decimal(pick.choice([5, 50, 400, -3, -40, -500]))
        return Adjustment(id=f"a{n}", customer=customer, points=points, reason="r", operator="olga", at=at)
    if roll < 0.82 and done:
        voided = pick.choice(done[-4:])["id"]
        return Void(id=f"v{n}", customer=customer, voided=voided, reason="oops", operator="olga", at=at)
    if roll < 0.92 and done:
        return (pick.choice(done),)
    return customer if 0.92 <= roll < 0.94 else {**base, "type": "app_open"}


def apply(loyalty: Loyalty, asked: Any) -> Any:
    """What a store answered: the outcome (without state) or the desk's record, or the codes of
    the refusal."""
    try:
        if isinstance(asked, dict):
            handled = loyalty.handle(asked)
            return handled.duplicate, handled.outcome.model_dump(mode="json", exclude={"state"})
        if isinstance(asked, tuple):
            return apply(loyalty, asked[0])
        if isinstance(asked, Adjustment):
            return loyalty.adjust(asked)
        if isinstance(asked, Void):
            return loyalty.void(asked)
        return loyalty.erase(asked, operator="olga", at=T0).points
    except RulesEngineError as refused:
        return sorted({d.code for d in refused.diagnostics})


def balance(state: CustomerState) -> Decimal:
    return sum((lot.points for lot in state.lots), Decimal(0))


def lots(state: CustomerState) -> list[tuple[str, Decimal, dt.datetime | None]]:
    return sorted((lot.id, lot.points, lot.expires_at) for lot in state.lots if lot.points)


def quests(state: CustomerState, at: dt.datetime) -> dict[str, Any]:
    """The attempts under way at `at` (a void leaves an empty one where the event started it; an
    attempt whose 30 days are over is none)."""
    return {
        quest: attempt
        for quest, attempt in state.quests.items()
        if attempt.started_at is not None and at < attempt.started_at + dt.timedelta(days=30)
    }


def check_books(loyalty: Loyalty) -> Decimal:
    """Every balance is the customer's ledger rows' sum, the books reconcile; the liability."""
    rows = list(loyalty.store.ledger())
    states = dict(loyalty.store.states())
    for customer, state in states.items():
        assert sum((row.entry.points for row in rows if row.customer == customer), Decimal(0)) == balance(
            state
        )
    kept = books(ENGINE.program, rows, balances=sum(map(balance, states.values()), Decimal(0)))
    assert kept.reconciles
    return kept.closing


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), steps=st.integers(20, 45))
def test_desk_operations_keep_the_stores_the_engine_and_the_books_agreeing(seed: int, steps: int) -> None:
    pick = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        stores = [
            open_store("memory:", "coffee-club"),
            open_store(f"sqlite:///{Path(folder) / 'w.db'}?working=1", "coffee-club"),
        ]
        services = [Loyalty(ENGINE, store, horizon=None) for store in stores]
        memory = services[0].store
        clock: dict[str, dt.datetime] = {}
        done: dict[str, list[dict[str, Any]]] = {}
        answered: dict[str, Any] = {}
        latest: dict[str, str | None] = {}
        before_event: dict[str, CustomerState | None] = {}
        for n in range(steps):
            customer = pick.choice(["k0", "k1", "k2"])
            at = clock.get(customer, T0) + dt.timedelta(hours=pick.choice(HOURS))
            if pick.random() < 0.1:
                at -= dt.timedelta(hours=pick.choice([1, 20, 60, 100]))  # late, taken or refused
            asked = operation(pick, n, customer, at, done.setdefault(customer, []))
            before = memory.state(customer)
            liability = check_books(services[0])
            answers = [apply(loyalty, asked) for loyalty in services]
            assert answers[0] == answers[1], (n, asked)
            answer = answers[0]
            after = memory.state(customer)
            assert stores[1].state(customer) == after
            assert check_books(services[1]) == check_books(services[0])
            if isinstance(answer, list) or isinstance(asked, tuple):  # refused, or delivered again
                assert after == before
            if isinstance(asked, tuple):
                assert answer == (True, answered[asked[0]["id"]])
            elif isinstance(asked, dict) and not isinstance(answer, list):
                duplicate, outcome = answer
                alone = ENGINE.process(asked, before)
                assert not duplicate and alone.state == after
                assert alone.model_dump(mode="json", exclude={"state"}) == outcome
                answered[asked["id"]] = outcome
                done[customer].append(asked)
                before_event[asked["id"]] = before
            elif isinstance(asked, str) and not isinstance(answer, list):  # erased
                assert check_books(services[0]) == liability
                assert not any(row.customer == customer for row in memory.ledger())
                done[customer], clock[customer] = [], T0
            elif (
                isinstance(asked, Void)
                and not isinstance(answer, list)
                and latest.get(customer) == asked.voided
                and asked.at >= clock[customer]  # (a void dated before it keeps what it expired)
            ):
                # both states as time leaves them at the void's moment; points given back to lots
                # that expired since expire with the void: its lots are those already
                never, _, _ = ENGINE.advance(before_event[asked.voided], asked.at)  # type: ignore[arg-type]
                assert after is not None
                voided, _, _ = ENGINE.advance(after, asked.at)
                assert lots(after) == lots(voided) == lots(never)
                assert quests(voided, asked.at) == quests(never, asked.at)
                for field in SAME_AFTER_A_VOID:
                    assert getattr(voided, field) == getattr(never, field), field
            if not isinstance(answer, list) and not isinstance(asked, tuple | str):
                clock[customer] = max(clock.get(customer, T0), at)
                latest[customer] = asked["id"] if isinstance(asked, dict) else None
        for store in stores:
            store.close()
