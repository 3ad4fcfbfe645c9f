"""A customer's points across events: pending, available, expiry, redemption, the ledger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState, LedgerEntry
from tests.conftest import ROOT
from tests.engine.books import balanced

COFFEE = Engine.from_file(ROOT / "programs" / "coffee-club.yaml", secret=b"test-secret")


def purchase(event_id: str, time: str, price: str = "1000.00") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "purchase",
        "time": time,
        "customer": "c1",
        "items": [{"sku": "BEANS-1KG", "category": "beans", "price": Decimal(price), "qty": 1}],
    }


def redeem(event_id: str, time: str, item: str = "free-latte") -> dict[str, Any]:
    return {"id": event_id, "type": "redeem", "time": time, "customer": "c1", "item": item}


def test_points_are_pending_then_available_and_the_change_is_reported() -> None:
    first = COFFEE.process(purchase("p1", "2026-11-02T12:00:00+03:00"))  # 10 beans, pending for 14 days
    assert first.state.pending(first.state.lots[0].earned_at) == first.totals.points
    later = COFFEE.process(purchase("p2", "2026-11-20T12:00:00+03:00"), first.state)
    kinds = [(c.kind, c.lot) for c in later.effects.points_changes]
    assert ("available", "p1/base") in kinds
    assert balanced(later.state, [*first.ledger, *later.ledger])


def test_points_expire_oldest_first_and_the_ledger_says_so() -> None:
    first = COFFEE.process(purchase("p1", "2025-11-03T12:00:00+03:00"))
    second = COFFEE.process(purchase("p2", "2026-06-01T12:00:00+03:00"), first.state)
    year_later = COFFEE.process(purchase("p3", "2026-11-10T12:00:00+03:00"), second.state)
    expired = [c for c in year_later.effects.points_changes if c.kind == "expire"]
    assert [c.lot for c in expired] == ["p1/base"]
    assert [lot.event for lot in year_later.state.lots] == ["p2", "p3"]
    (entry,) = [e for e in year_later.ledger if e.kind == "expire"]
    assert (entry.lot, entry.points, entry.event) == ("p1/base", -first.totals.points, "p3")
    assert balanced(year_later.state, [*first.ledger, *second.ledger, *year_later.ledger])


def test_advance_applies_expiry_without_an_event() -> None:
    first = COFFEE.process(purchase("p1", "2025-01-10T12:00:00+03:00"))
    after, changes, entries = COFFEE.advance(first.state, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert [c.kind for c in changes] == ["available", "expire"]
    assert [(e.kind, e.event) for e in entries] == [("expire", "advance:2026-02-01T00:00:00+00:00")]
    assert after.lots == [] and balanced(after, [*first.ledger, *entries])
    with pytest.raises(EventError):
        COFFEE.advance(first.state, dt.datetime(2026, 2, 1))


def test_redeeming_burns_the_oldest_points_and_issues_a_reproducible_coupon() -> None:
    state: CustomerState | None = None
    for n, day in enumerate(["2026-10-05", "2026-10-12", "2026-10-19", "2026-10-26"], start=1):
        outcome = COFFEE.process(purchase(f"p{n}", f"{day}T12:00:00+03:00", "10000.00"), state)
        state = outcome.state
    assert state is not None
    before = state.available(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))
    spent = COFFEE.process(redeem("r1", "2026-11-20T12:00:00+03:00"), state)
    burns = [c for c in spent.effects.points_changes if c.kind == "burn"]
    assert sum(c.points for c in burns) == 350
    assert burns[0].lot == "p1/base"  # the oldest lot first
    assert spent.state.available(dt.datetime(2026, 11, 20, tzinfo=dt.UTC)) == before - 350
    (coupon,) = spent.effects.coupons_issued
    assert coupon.code.startswith("FREELA-")
    again = COFFEE.process(redeem("r1", "2026-11-20T12:00:00+03:00"), state)
    assert again.effects.coupons_issued[0].code == coupon.code  # same event, same code
    other = Engine.from_file(ROOT / "programs" / "coffee-club.yaml", secret=b"another")
    assert (
        other.process(redeem("r1", "2026-11-20T12:00:00+03:00"), state).effects.coupons_issued[0].code
        != coupon.code
    )
    assert [(e.kind, e.rule) for e in spent.ledger] == [("burn", "catalog:free-latte")] * len(burns)
    # the coupon is then used in a purchase, once
    latte = {
        "id": "p9",
        "type": "purchase",
        "time": "2026-11-21T09:00:00+03:00",
        "customer": "c1",
        "coupons": [coupon.code],
        "items": [{"sku": "LATTE-L", "category": "coffee", "price": Decimal("320.00"), "qty": 1}],
    }
    used = COFFEE.process(latte, spent.state)
    assert used.totals.discount == Decimal("320.00")
    assert used.effects.coupons_redeemed == [coupon.code]


def test_not_enough_points_refuses_the_redemption_and_changes_nothing() -> None:
    state = COFFEE.process(purchase("p1", "2026-10-05T12:00:00+03:00")).state
    with pytest.raises(EventError) as caught:
        COFFEE.process(redeem("r1", "2026-11-20T12:00:00+03:00"), state)
    assert caught.value.code == "RE430"
    with pytest.raises(EventError) as caught:
        COFFEE.process(redeem("r2", "2026-11-20T12:00:00+03:00", item="free-lattee"), state)
    assert caught.value.code == "RE431"
    assert caught.value.diagnostics[0].hint == "did you mean `free-latte`?"


@settings(max_examples=40, deadline=None)
@given(
    days=st.lists(st.integers(0, 800), min_size=1, max_size=8),
    prices=st.lists(st.decimals(min_value=1, max_value=20000, places=2), min_size=8, max_size=8),
    redeem_after=st.integers(0, 8),
)
def test_the_balance_is_always_the_sum_of_the_ledger(
    days: list[int], prices: list[Decimal], redeem_after: int
) -> None:
    state: CustomerState | None = None
    books: list[LedgerEntry] = []
    start = dt.datetime(2025, 1, 6, 12, tzinfo=dt.UTC)
    for n, day in enumerate(sorted(days)):
        time = (start + dt.timedelta(days=day)).isoformat()
        result = COFFEE.process(purchase(f"p{n}", time, str(prices[n])), state)
        state, books = result.state, [*books, *result.ledger]
        if n == redeem_after:
            try:
                result = COFFEE.process(redeem(f"r{n}", time), state)
                state, books = result.state, [*books, *result.ledger]
            except EventError as error:
                assert error.code == "RE430"
        assert balanced(state, books)
        moment = start + dt.timedelta(days=day)
        assert state.available(moment) >= 0


@settings(max_examples=25, deadline=None)
@given(order=st.permutations(list(range(6))), seed_days=st.lists(st.integers(0, 60), min_size=6, max_size=6))
def test_any_interleaving_of_customers_gives_the_same_final_states(
    order: list[int], seed_days: list[int]
) -> None:
    """Each customer's events keep their own order; how customers interleave changes nothing."""
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    events = [
        {
            **purchase(
                f"e{n}",
                (start + dt.timedelta(days=sorted(seed_days)[n], hours=n)).isoformat(),
                str(100 * (n + 1)),
            ),
            "customer": "anna" if n % 2 == 0 else "boris",
        }
        for n in range(6)
    ]

    def run(sequence: list[dict[str, Any]]) -> dict[str, str]:
        states: dict[str, CustomerState] = {}
        for event in sequence:
            states[event["customer"]] = COFFEE.process(event, states.get(event["customer"])).state
        return {customer: state.model_dump_json() for customer, state in states.items()}

    by_customer = {c: [e for e in events if e["customer"] == c] for c in ("anna", "boris")}
    # interleave: take from anna or boris as the permutation's parity says, keeping each one's order
    queues = {c: list(v) for c, v in by_customer.items()}
    mixed = []
    for n in order:
        who = "anna" if n % 2 == 0 else "boris"
        if queues[who]:
            mixed.append(queues[who].pop(0))
    mixed += queues["anna"] + queues["boris"]
    assert run(mixed) == run(events)


def test_a_redelivered_event_is_not_applied_twice() -> None:
    first = COFFEE.process(purchase("p1", "2026-11-02T12:00:00+03:00"))
    again = COFFEE.process(purchase("p1", "2026-11-02T12:00:00+03:00"), first.state)
    assert again.state == first.state
    assert again.effects.points == [] and again.totals.points == 0
    assert [(t.code, t.fired) for t in again.trace] == [("duplicate", False)]
    other = COFFEE.process(purchase("p2", "2026-11-02T13:00:00+03:00"), first.state)
    assert other.totals.points > 0


@settings(max_examples=20, deadline=None)
@given(days=st.lists(st.integers(0, 400), min_size=1, max_size=6, unique=True))
def test_replaying_the_same_stream_twice_changes_nothing_the_second_time(days: list[int]) -> None:
    start = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    events = [purchase(f"p{d}", (start + dt.timedelta(days=d)).isoformat(), "2000.00") for d in sorted(days)]
    state: CustomerState | None = None
    for event in events:
        state = COFFEE.process(event, state).state
    assert state is not None
    replayed = state
    for event in events:
        replayed = COFFEE.process(event, replayed).state
    assert replayed == state


def test_the_state_keeps_no_ledger_each_result_has_its_own_entries() -> None:
    """The ledger is history: each result names the entries its event made (expiry that came
    due first, then the event's own), which a store keeps; the state keeps none, so an event
    neither carries nor reads the customer's past entries. They add up to the lots' points."""
    first = COFFEE.process(purchase("p1", "2025-11-03T12:00:00+03:00"))
    expiring = COFFEE.process(purchase("p2", "2026-11-10T12:00:00+03:00"), first.state)
    assert [(e.event, e.kind, e.lot) for e in expiring.ledger] == [
        ("p2", "expire", "p1/base"),
        ("p2", "earn", "p2/base"),
    ]
    assert expiring.outcome().ledger == list(expiring.ledger) == expiring.new_ledger_entries
    assert "ledger" not in expiring.state.model_dump()
    later = COFFEE.process(purchase("p3", "2026-11-11T12:00:00+03:00"), expiring.state)
    made = [*first.ledger, *expiring.ledger, *later.ledger]
    assert sum(e.points for e in made) == sum(lot.points for lot in later.state.lots)
