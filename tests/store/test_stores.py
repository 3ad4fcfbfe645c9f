"""The store contract, the same for every store: what a service relies on between events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.outcome import Outcome
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState, LedgerEntry
from rules_engine.store import Change
from tests.store.conftest import OpenStore
from tests.store.streams import START, engine, reference, stream

ENGINE = engine()


def run(loyalty: Loyalty, events: list[dict[str, Any]]) -> None:
    for event in events:
        try:
            loyalty.process(event)
        except EventError:
            continue


def balance(state: CustomerState) -> Decimal:
    return sum((lot.points for lot in state.lots), Decimal(0))


def purchase(n: int, customer: str = "ann", price: str = "30.00", hours: int = 0) -> dict[str, Any]:
    time = START + dt.timedelta(hours=n + hours)
    return {
        "id": f"p{n}",
        "type": "purchase",
        "time": time.isoformat(),
        "customer": customer,
        "items": [{"sku": "MUG", "price": price, "qty": 1}],
    }


def test_a_stream_through_the_store_ends_in_the_states_the_engine_alone_computes(
    open_test_store: OpenStore,
) -> None:
    events = stream(seed=7)
    run(Loyalty(ENGINE, open_test_store()), events)
    store = open_test_store()
    expected = reference(ENGINE, events)
    assert dict(store.states()) == expected
    assert store.customers() == sorted(expected)


def test_the_stored_ledger_is_every_entry_of_every_customer_and_sums_to_the_balances(
    open_test_store: OpenStore,
) -> None:
    events = stream(seed=3)
    loyalty = Loyalty(ENGINE, open_test_store())
    made: dict[str, list[LedgerEntry]] = {}  # every entry of every outcome, by customer
    for event in events:
        try:
            handled = loyalty.handle(event)
        except EventError:
            continue
        for outcome in filter(None, [handled.outcome, handled.referrer]):
            made.setdefault(outcome.customer, []).extend(outcome.new_ledger_entries)
    store = open_test_store()
    rows = list(store.ledger())
    assert [row.seq for row in rows] == sorted(row.seq for row in rows)
    for customer, state in store.states():
        mine = [row.entry for row in rows if row.customer == customer]
        assert mine == made[customer]
        assert sum((entry.points for entry in mine), Decimal(0)) == balance(state)
        assert {lot.id for lot in state.lots if lot.points} <= {entry.lot for entry in mine}
        assert "ledger" not in state.model_dump()  # the store's table is the ledger
    assert {row.entry.kind for row in rows} >= {"earn", "burn", "expire"}


def test_an_event_delivered_again_returns_its_original_outcome_and_changes_nothing(
    open_test_store: OpenStore,
) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    first = loyalty.handle(purchase(1))
    later = loyalty.handle(purchase(2))
    state = open_test_store().state("ann")
    ledger = list(open_test_store().ledger())

    again = Loyalty(ENGINE, open_test_store()).handle(purchase(1))

    assert again.duplicate and not first.duplicate
    assert again.outcome.effects == first.outcome.effects
    assert again.outcome.totals == first.outcome.totals
    assert again.outcome.trace == first.outcome.trace
    assert again.outcome.state == later.outcome.state  # the customer's state now, not then
    assert open_test_store().state("ann") == state
    assert list(open_test_store().ledger()) == ledger
    assert open_test_store().processed() == 2


def test_a_bad_event_writes_nothing(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1))
    state = open_test_store().state("ann")
    with pytest.raises(EventError):
        loyalty.process({**purchase(2), "items": [{"sku": "X", "price": "1.00", "qty": -1}]})
    with pytest.raises(EventError) as refused:  # 30 points, the mug costs 25 — but not twice
        for n in (3, 4):
            loyalty.process(
                {
                    "id": f"r{n}",
                    "type": "redeem",
                    "item": "mug",
                    "customer": "ann",
                    "time": (START + dt.timedelta(hours=n)).isoformat(),
                }
            )
    assert refused.value.code == "RE430"
    store = open_test_store()
    assert store.processed() == 2
    after = store.state("ann")
    assert after is not None and state is not None
    assert balance(after) == balance(state) - 25
    assert [row.entry.kind for row in store.ledger()] == ["earn", "earn", "burn"]


def test_issue_11_a_return_by_another_customer_is_refused_and_creates_no_customer(
    open_test_store: OpenStore,
) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1))
    back = {
        "id": "r1",
        "type": "return",
        "purchase": "p1",
        "customer": "bob",  # ann bought it
        "time": (START + dt.timedelta(hours=5)).isoformat(),
        "items": [{"sku": "MUG", "qty": 1}],
    }
    with pytest.raises(EventError) as refused:
        loyalty.process(back)
    assert refused.value.code == "RE437"
    store = open_test_store()
    assert store.customers() == ["ann"]
    assert store.state("bob") is None
    assert store.processed() == 1


def test_a_failure_inside_the_transaction_leaves_the_store_as_it_was(open_test_store: OpenStore) -> None:
    store = open_test_store()
    loyalty = Loyalty(ENGINE, store)
    loyalty.process(purchase(1))
    before = (store.state("ann"), list(store.ledger()), store.processed())
    outcome = ENGINE.process(purchase(2), before[0])

    with pytest.raises(RuntimeError), store.transaction("ann") as transaction:
        transaction.save(
            Change(
                state=outcome.state, ledger=outcome.new_ledger_entries, event="p2", outcome={"anything": 1}
            )
        )
        raise RuntimeError("the worker fails after deciding")

    assert (store.state("ann"), list(store.ledger()), store.processed()) == before
    assert not loyalty.handle(purchase(2)).duplicate


def test_a_budget_is_shared_by_all_customers(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    outcomes = [loyalty.process(purchase(n, customer=f"c{n}")) for n in range(8)]
    launch = [sum((a.points for a in o.effects.points if a.rule == "launch"), Decimal(0)) for o in outcomes]
    assert launch == [10] * 6 + [0, 0]
    assert [t.code for t in outcomes[7].trace if t.rule == "launch"] == ["budget_exhausted"]


def test_the_referrer_is_found_by_code_and_rewarded_once(open_test_store: OpenStore) -> None:
    from rules_engine.engine.mechanics.referral import referral_code

    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1, customer="ann"))
    code = referral_code("store-test", "ann", ENGINE.secret)
    signup = {
        "id": "s1",
        "type": "signup",
        "customer": "bob",
        "referral_code": code,
        "time": (START + dt.timedelta(hours=2)).isoformat(),
    }
    loyalty.process(signup)
    handled = loyalty.handle(purchase(3, customer="bob"))
    assert handled.referrer is not None and handled.referrer_applied
    assert handled.referrer.event == "p3:referrer:bob" and handled.referrer.customer == "ann"
    assert [(a.rule, a.points) for a in handled.referrer.effects.points] == [("referral:referrer", 50)]
    again = loyalty.handle(purchase(3, customer="bob"))
    assert again.duplicate and again.referrer is not None and not again.referrer_applied
    assert again.referrer.effects == handled.referrer.effects  # the original reward, not a second
    ann = open_test_store().state("ann")
    assert ann is not None and balance(ann) == 30 + 10 + 50


def test_two_referees_whose_purchases_share_an_id_each_reward_the_referrer(
    open_test_store: OpenStore,
) -> None:
    """Event ids are per customer: two friends' tills may both number a purchase p5."""
    from rules_engine.engine.mechanics.referral import referral_code

    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1, customer="ann"))
    code = referral_code("store-test", "ann", ENGINE.secret)
    for friend in ("bob", "cat"):
        signup = {
            "id": "s1",
            "type": "signup",
            "customer": friend,
            "referral_code": code,
            "time": (START + dt.timedelta(hours=2)).isoformat(),
        }
        loyalty.process(signup)
        handled = loyalty.handle(purchase(5, customer=friend))
        assert handled.referrer is not None and handled.referrer_applied, friend
        assert handled.referrer.event == f"p5:referrer:{friend}"
    ann = open_test_store().state("ann")
    assert ann is not None and balance(ann) == 30 + 10 + 50 + 50


def test_a_referrer_reward_lost_in_a_crash_is_given_when_the_referee_event_comes_again(
    open_test_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules_engine.engine.mechanics.referral import referral_code

    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1, customer="ann"))
    code = referral_code("store-test", "ann", ENGINE.secret)
    loyalty.process(
        {
            "id": "s1",
            "type": "signup",
            "customer": "bob",
            "referral_code": code,
            "time": (START + dt.timedelta(hours=2)).isoformat(),
        }
    )

    def crash(outcome: Outcome) -> Outcome:
        raise SystemExit("the worker dies between the two transactions")

    monkeypatch.setattr(loyalty, "_reward_referrer", crash)
    with pytest.raises(SystemExit):
        loyalty.process(purchase(3, customer="bob"))
    ann = open_test_store().state("ann")
    assert ann is not None and balance(ann) == 40  # the referee's purchase is in, the reward not yet

    again = Loyalty(ENGINE, open_test_store()).handle(purchase(3, customer="bob"))  # redelivered
    assert again.duplicate and again.referrer is not None and again.referrer_applied
    assert [(a.rule, a.points) for a in again.referrer.effects.points] == [("referral:referrer", 50)]
    ann = open_test_store().state("ann")
    assert ann is not None and balance(ann) == 40 + 50


def test_advance_books_expiry_in_the_store(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store(), now=START + dt.timedelta(days=30))  # a month later
    loyalty.process(purchase(1))
    changes = loyalty.advance("ann", START + dt.timedelta(days=30))
    assert [c.kind for c in changes] == ["expire", "expire"]  # the base lot and the launch lot
    state = open_test_store().state("ann")
    assert state is not None and balance(state) == 0
    assert [row.entry.kind for row in open_test_store().ledger()] == ["earn", "earn", "expire", "expire"]
    assert loyalty.advance("nobody", START) == []


def test_ledger_until_leaves_out_later_entries(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store(), horizon=None)  # 29 hours between the purchases
    loyalty.process(purchase(1))
    loyalty.process(purchase(30))
    cut = START + dt.timedelta(hours=10)
    rows = list(open_test_store().ledger(until=cut))
    assert [row.entry.event for row in rows] == ["p1", "p1"]
    assert all(row.entry.at < cut for row in rows)


def test_the_outcome_of_a_new_event_is_the_engines(open_test_store: OpenStore) -> None:
    outcome: Outcome = Loyalty(ENGINE, open_test_store()).process(purchase(1))
    assert outcome == ENGINE.process(purchase(1), None).outcome()


def test_an_imported_state_is_kept_and_its_points_are_booked(open_test_store: OpenStore) -> None:
    """A state carries no ledger: importing one books each lot's points as an `import` entry (and
    an import over a stored state, the differences), so the books reconcile."""
    result = ENGINE.process(purchase(1), None)
    state = result.state
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.put("ann", state)
    assert open_test_store().state("ann") == state
    booked = [row.entry for row in open_test_store().ledger()]
    assert [(e.kind, e.rule, e.lot, e.points) for e in booked] == [
        ("adjust", "import", e.lot, e.points) for e in result.ledger
    ]
    assert loyalty.handle(purchase(1)).duplicate  # the state itself remembers the event
    (first, *others) = state.lots
    less = state.model_copy(update={"lots": [first.model_copy(update={"points": first.points - 3}), *others]})
    loyalty.put("ann", less)
    rows = list(open_test_store().ledger())
    assert (rows[-1].entry.lot, rows[-1].entry.points) == (first.id, -3)
    assert sum((row.entry.points for row in rows), Decimal(0)) == balance(less)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), customers=st.integers(1, 5), events=st.integers(1, 80))
def test_any_stream_through_a_store_equals_the_engine_alone(seed: int, customers: int, events: int) -> None:
    """Random streams (purchases, redemptions refused or not, referral signups, expiries on the
    way) through the memory store: the same final states as the engine alone, and the stored
    ledger adds up to every balance."""
    from rules_engine.store import MemoryStore

    stream_ = stream(seed=seed, customers=customers, events=events)
    store = MemoryStore("store-test")
    # the engine alone has no horizon, and refused redemptions in a row can leave a day's gap
    run(Loyalty(ENGINE, store, horizon=None), stream_)
    assert dict(store.states()) == reference(ENGINE, stream_)
    rows = list(store.ledger())
    for customer, state in store.states():
        stored = sum((row.entry.points for row in rows if row.customer == customer), Decimal(0))
        assert stored == balance(state)


def test_a_referrer_the_store_does_not_know_is_owed_the_reward_until_the_event_comes_again(
    open_test_store: OpenStore,
) -> None:
    from rules_engine.engine.mechanics.referral import referral_code

    loyalty = Loyalty(ENGINE, open_test_store())
    code = referral_code("store-test", "zoe", ENGINE.secret)  # zoe: no event in this store yet
    loyalty.process(
        {
            "id": "s1",
            "type": "signup",
            "customer": "bob",
            "referral_code": code,
            "time": (START + dt.timedelta(hours=1)).isoformat(),
        }
    )
    first = loyalty.handle(purchase(2, customer="bob"))
    assert first.referrer is None and first.unknown_referrer == code
    assert open_test_store().state("zoe") is None
    # zoe becomes known from her first event: before bob's purchase, stored after it; 30 + 10 points
    loyalty.process(purchase(3, customer="zoe", hours=-2))
    again = loyalty.handle(purchase(2, customer="bob"))
    assert again.duplicate and again.unknown_referrer is None and again.referrer is not None
    assert again.referrer_applied
    zoe = open_test_store().state("zoe")
    assert zoe is not None and balance(zoe) == 40 + 50


# -- time and event ids (issue 11): the horizon, the customer's clock, a reused id -----------------
def app_open(event_id: str, time: str, customer: str = "ann") -> dict[str, Any]:
    return {"id": event_id, "type": "app_open", "time": time, "customer": customer}


def test_a_future_dated_event_is_refused_and_expires_nothing(open_test_store: OpenStore) -> None:
    """The issue's customer: a typo'd year on an app open expired every lot and moved their clock
    to 2028. Now it is refused (RE441), nothing is written, and the correct events go on."""
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1))
    before = open_test_store().state("ann")
    with pytest.raises(EventError) as refused:
        loyalty.process(app_open("typo", "2028-12-01T10:00:00+01:00"))
    (diagnostic,) = refused.value.diagnostics
    assert diagnostic.code == "RE441" and diagnostic.path == ("time",) and "typo" in diagnostic.message
    store = open_test_store()
    assert store.state("ann") == before and store.processed() == 1
    assert [row.entry.kind for row in store.ledger()] == ["earn", "earn"]
    assert loyalty.process(purchase(2)).state.visits == 2


def test_the_horizon_is_measured_from_the_stores_latest_event_or_from_now(open_test_store: OpenStore) -> None:
    store = open_test_store()
    assert store.latest_event_time() is None
    loyalty = Loyalty(ENGINE, store)
    loyalty.process(purchase(1, hours=24 * 400))  # an empty store: the first event is the reference
    assert store.latest_event_time() == START + dt.timedelta(hours=24 * 400 + 1)
    loyalty.process(purchase(2, hours=24 * 400 + 22))  # within a day of it
    with pytest.raises(EventError) as refused:
        loyalty.process(purchase(3, hours=24 * 403))  # a shop closed for two days
    assert refused.value.code == "RE441"
    monday = START + dt.timedelta(hours=24 * 403 + 3)
    Loyalty(ENGINE, store, now=lambda: monday).process(purchase(3, hours=24 * 403))  # the clock says so
    Loyalty(ENGINE, store, horizon=dt.timedelta(days=7)).process(purchase(4, hours=24 * 406))
    Loyalty(ENGINE, store, horizon=None).process(purchase(5, hours=24 * 700))
    assert store.processed() == 5


def test_with_now_events_accepted_ahead_do_not_walk_the_horizon_forward(open_test_store: OpenStore) -> None:
    """With `now`, the reference is `now` alone: events each 23 hours after the last, all within a
    day of the one before, cannot carry the store's latest event (and so the horizon) forward."""
    loyalty = Loyalty(ENGINE, open_test_store(), now=START)
    loyalty.process(purchase(1, hours=22))
    with pytest.raises(EventError) as refused:
        loyalty.process(purchase(2, hours=44))
    assert refused.value.code == "RE441"


def test_a_referral_reward_sent_from_outside_is_checked_against_the_horizon(
    open_test_store: OpenStore,
) -> None:
    """Only the reward the service derives from a purchase that passed the horizon skips it: one
    sent as an event (a typo'd 2999) would otherwise expire the customer's points for good, lock
    out their later events and carry the store's horizon with it."""
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1))
    reward = {
        "id": "rr-typo",
        "type": "referral_reward",
        "time": "2999-12-12T14:30:00+01:00",
        "customer": "ann",
        "referee": "nobody",
        "qualifying_event": "none",
    }
    with pytest.raises(EventError) as refused:
        loyalty.process(reward)
    assert refused.value.code == "RE441"
    assert open_test_store().latest_event_time() == START + dt.timedelta(hours=1)
    loyalty.process(purchase(2))


def test_with_now_even_the_first_event_of_an_empty_store_is_checked(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store(), now=START)
    with pytest.raises(EventError) as refused:
        loyalty.process(purchase(1, hours=48))
    assert refused.value.code == "RE441" and open_test_store().processed() == 0
    loyalty.process(purchase(1, hours=20))


def test_an_advance_beyond_the_horizon_is_refused_and_changes_nothing(open_test_store: OpenStore) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1))
    before = open_test_store().state("ann")
    with pytest.raises(EventError) as refused:
        loyalty.advance("ann", dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert refused.value.code == "RE442"
    assert open_test_store().state("ann") == before
    assert loyalty.advance("ann", START + dt.timedelta(hours=20)) == []  # within a day: fine


def test_a_referrers_reward_older_than_their_latest_event_is_given_and_keeps_their_clock(
    open_test_store: OpenStore,
) -> None:
    """The reward carries the referee's purchase time, older than the referrer's own latest event:
    it is neither refused nor lost, and the referrer's clock stays where it was."""
    from rules_engine.engine.mechanics.referral import referral_code

    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1, customer="ann"))
    code = referral_code("store-test", "ann", b"store tests")
    signup = {**app_open("s1", (START + dt.timedelta(hours=2)).isoformat(), "bob"), "type": "signup"}
    loyalty.process({**signup, "referral_code": code})
    loyalty.process(purchase(10, customer="ann"))  # ann's latest: START + 10 h
    handled = loyalty.handle({**purchase(5, customer="bob"), "id": "b5"})  # bob qualifies at START + 5 h
    assert handled.referrer is not None and handled.referrer_applied
    assert [(a.rule, a.points) for a in handled.referrer.effects.points] == [("referral:referrer", 50)]
    ann = open_test_store().state("ann")
    assert ann is not None and ann.last_event_at == START + dt.timedelta(hours=10)
    assert "b5:referrer:bob" in ann.processed


def test_the_same_event_id_with_another_payload_is_refused_not_a_duplicate(
    open_test_store: OpenStore,
) -> None:
    """A 500 purchase, then a 90,000 one with the same id; a return reusing the purchase's id."""
    loyalty = Loyalty(ENGINE, open_test_store())
    first = loyalty.process(purchase(1, price="500.00"))
    returned = {"sku": "MUG", "qty": 1}
    for reused in (
        purchase(1, price="90000.00"),
        {**app_open("p1", purchase(1)["time"]), "type": "return", "purchase": "p1", "items": [returned]},
        {**purchase(1), "time": (START + dt.timedelta(hours=3)).isoformat()},
    ):
        with pytest.raises(EventError) as refused:
            loyalty.process(reused)
        (diagnostic,) = refused.value.diagnostics
        assert diagnostic.code == "RE443" and diagnostic.path == ("id",) and "p1" in diagnostic.message
    store = open_test_store()
    assert store.processed() == 1 and store.state("ann") == first.state
    # the same event again, its numbers written otherwise and its time in another offset: a duplicate
    same = {
        **purchase(1, price="500"),
        "time": (START + dt.timedelta(hours=1)).astimezone(dt.UTC).isoformat(),
    }
    assert loyalty.handle(same).duplicate


def test_an_outcome_stored_before_referral_owed_existed_still_owes_the_referrer(
    open_test_store: OpenStore,
) -> None:
    """Outcomes kept before `effects.referral_owed` said so only in their trace: a referee's event
    redelivered after an upgrade still gives the referrer's reward."""
    from rules_engine.engine.mechanics.referral import referral_code
    from rules_engine.service import _stored_outcome

    loyalty = Loyalty(ENGINE, open_test_store())
    loyalty.process(purchase(1, customer="ann"))
    code = referral_code("store-test", "ann", ENGINE.secret)
    signup = {"id": "s1", "type": "signup", "customer": "bob", "referral_code": code}
    loyalty.process({**signup, "time": (START + dt.timedelta(hours=2)).isoformat()})
    outcome = ENGINE.process(purchase(3, customer="bob"), open_test_store().state("bob"))
    assert outcome.effects.referral_owed == code
    old = outcome.model_dump(mode="json")
    del old["effects"]["referral_owed"]  # as a store wrote it before the field existed
    assert _stored_outcome(old, outcome.state).effects.referral_owed == code
    # Nothing owed when the trace does not say the referrer's rule fired.
    old["trace"] = [t for t in old["trace"] if t["rule"] != "referral:referrer"]
    assert _stored_outcome(old, outcome.state).effects.referral_owed is None


def test_a_return_gives_its_budget_back_once(open_test_store: OpenStore) -> None:
    """Issue 16, item 4: a budget that gave a net 0 points keeps giving, in every store; a
    redelivered return gives nothing back a second time."""
    store = open_test_store()
    loyalty = Loyalty(ENGINE, store)
    for n in range(6):
        loyalty.process(purchase(n, customer=f"c{n}"))  # the budget of 60 is spent
    assert not [a for a in loyalty.process(purchase(6, customer="c6")).effects.points if a.rule == "launch"]
    back = {
        "id": "r0",
        "type": "return",
        "time": (START + dt.timedelta(hours=7)).isoformat(),
        "customer": "c0",
        "purchase": "p0",
        "items": [{"sku": "MUG", "qty": 1}],
    }
    returned = loyalty.process(back)
    assert [(r.rule, r.period, r.points) for r in returned.effects.budgets_released] == [
        ("launch", "lifetime", 10)
    ]
    assert loyalty.handle(back).duplicate  # redelivered: stored outcome, nothing applied again
    again = Loyalty(ENGINE, open_test_store())
    given = [
        sum(
            (
                a.points
                for a in again.process(purchase(n, customer=f"c{n}", hours=8)).effects.points
                if a.rule == "launch"
            ),
            Decimal(0),
        )
        for n in range(7, 10)
    ]
    assert given == [10, 0, 0]  # the 10 given back, once


def test_a_late_event_the_program_takes_is_written_with_its_expiry(open_test_store: OpenStore) -> None:
    """Issue 16, item 7, through a store: the late purchase's points expired before the customer's
    clock, and the store's ledger has both entries, at their own moments."""
    from rules_engine.engine.evaluator import Engine
    from rules_engine.program.validate import load_program_text
    from tests.store.streams import PROGRAM

    late_engine = Engine(load_program_text(PROGRAM + "late_events: {accept_within: 30d}\n", "t.yaml"))
    store = open_test_store()
    loyalty = Loyalty(late_engine, store)
    loyalty.process(purchase(0, hours=25 * 24))  # p0, 25 days after START
    late = loyalty.process(purchase(1))  # p1, dated START + 1 h: 25 days late, points live 20 days
    changes = sorted((c.kind, c.lot) for c in late.effects.points_changes)
    assert changes == [("expire", "p1/base"), ("expire", "p1/launch")]
    rows = [
        (row.entry.kind, row.entry.points, row.entry.at) for row in store.ledger() if row.entry.event == "p1"
    ]
    kinds = sorted((kind, points) for kind, points, _ in rows)
    assert kinds == [("earn", 10), ("earn", 30), ("expire", -30), ("expire", -10)]
    assert {at for kind, _, at in rows if kind == "expire"} == {START + dt.timedelta(hours=1, days=20)}
    state = store.state("ann")
    assert state is not None and sum((lot.points for lot in state.lots), Decimal(0)) == 30 + 10  # p0's
