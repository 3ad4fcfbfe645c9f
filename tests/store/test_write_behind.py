"""Write behind inside a group (store/batch.py): a stream replayed through `Store.group()` batches of
any size ends exactly where the same stream does with one transaction per event — states, ledger
rows in order, processed events with their outcomes, budgets, stock, referral codes — with events
that fail inside a batch (refused by the engine, or a worker failing after the engine decided) and
events redelivered inside the batch that applied them (a duplicate, or RE443 when the payload
differs), which the batch must answer from what it staged, not yet written."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError, StoreError
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.store import Change, Store, open_store
from rules_engine.store.sql import SqlStore
from rules_engine.tools import coupon_codes
from tests.conftest import ROOT
from tests.store.streams import referral_code
from tests.store.test_coupon_codes import latte
from tests.store.test_tables import LONG, SHORT, WorkerFailedError, empty, events


@pytest.fixture(params=["sqlite", "postgresql"])
def base_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loyalty.db'}?synchronous=normal"
    url: str = request.getfixturevalue("postgres_database")
    return url


def with_redeliveries(stream: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The stream with some events sent again one to three events later (so inside the batch that
    applied them, unless it ended), a few of them with another time (RE443: another event reusing
    the id)."""
    pick = random.Random(seed)
    out: list[dict[str, Any]] = []
    later: list[tuple[int, dict[str, Any]]] = []
    for n, event in enumerate(stream):
        out.append(event)
        if pick.random() < 0.25:
            again = dict(event)
            if pick.random() < 0.2:
                again["time"] = event["time"].replace(":00+", ":01+", 1)
            later.append((n + pick.randint(1, 3), again))
        out += [again for when, again in later if when == n]
        later = [(when, again) for when, again in later if when != n]
    return out + [again for _, again in later]


def run(
    store: Store, stream: list[dict[str, Any]], batch: int, versions: list[bool], failures: list[bool]
) -> list[str]:
    """The stream through the store, `batch` events to a group (0: no group, a transaction per
    event); after some events a worker fails inside a transaction that saved a change. What each
    event did, in order: the outcome's state as JSON, "duplicate", or the error code."""
    services = {False: Loyalty(LONG, store, horizon=None), True: Loyalty(SHORT, store, horizon=None)}
    told: list[str] = []
    for start in range(0, len(stream), batch or 1):
        with store.group() if batch else contextlib.nullcontext():
            for n, event in enumerate(stream[start : start + (batch or 1)], start=start):
                service = services[versions[n % len(versions)]]
                try:
                    handled = service.handle(event)
                except EventError as error:
                    told.append(error.diagnostics[0].code)
                    continue
                told.append("duplicate" if handled.duplicate else handled.outcome.state.model_dump_json())
                if failures[n % len(failures)]:  # decided, saved, then the worker fails: nothing kept
                    customer = event["customer"]
                    with contextlib.suppress(WorkerFailedError), store.transaction(customer) as transaction:
                        state = transaction.state() or CustomerState(customer=customer)
                        transaction.save(Change(state=state.model_copy(update={"processed": ["x"]})))
                        raise WorkerFailedError
    return told


def contents(url: str, stream: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Everything the store holds, read by a store object that holds nothing."""
    store = open_store(url, "store-test", cache=0)
    try:
        states = {customer: state.model_dump() for customer, state in store.states()}
        ledger: dict[str, list[Any]] = {}
        for row in store.ledger():
            ledger.setdefault(row.customer, []).append(row.entry.model_dump())
        kept: dict[tuple[str, str], Any] = {}
        for event in stream:
            with store.transaction(event["customer"]) as transaction:
                stored = transaction.event(event["id"])
                budgets = transaction.budgets([("launch", "lifetime")])
            if stored is not None:
                kept[event["customer"], event["id"]] = (stored.outcome, stored.digest, stored.at)
        codes = {name: store.referrer(referral_code("store-test", name, b"store tests")) for name in names}
        return {
            "states": states,
            "ledger": ledger,
            "events": kept,
            "processed": store.processed(),
            "budgets": budgets,
            "redeemed": store.redeemed(),
            "codes": codes,
            "latest": store.latest_event_time(),
        }
    finally:
        store.close()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    customers=st.integers(1, 4),
    count=st.integers(1, 80),
    versions=st.lists(st.booleans(), min_size=1, max_size=5),
    failures=st.lists(st.booleans(), min_size=1, max_size=5),
    cache=st.sampled_from([0, 1, 256]),
    elements=st.sampled_from([0, 1, 40, None]),
)
def test_batches_of_any_size_end_where_a_transaction_per_event_does(
    base_url: str,
    seed: int,
    customers: int,
    count: int,
    versions: list[bool],
    failures: list[bool],
    cache: int,
    elements: int | None,
) -> None:
    """`elements` 0, 1 and 40 make a batch write out early (its budget of list elements), mid-group,
    and let go of what it held; `cache` 0 and 1 make its customers read again after that."""
    names = [f"c{n}" for n in range(customers)]
    stream = with_redeliveries(events(seed, customers, count), seed)
    results = []
    for batch in (0, 1, 7, 500):
        url = empty(base_url)
        store = open_store(url, "store-test", cache=cache, batch_elements=elements)
        try:
            told = run(store, stream, batch, versions, failures)
        finally:
            store.close()
        results.append((batch, told, contents(url, stream, names)))
    (_, told, expected), *others = results
    for batch, mine, found in others:
        assert mine == told, batch
        for key in expected:
            assert found[key] == expected[key], (batch, key)


def test_a_redelivery_inside_its_batch_is_a_duplicate_before_the_batch_is_written(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    store = open_store(url, "store-test")
    other = open_store(url, "store-test", cache=0)
    try:
        loyalty = Loyalty(LONG, store, horizon=None)
        event = {
            "id": "p1",
            "type": "purchase",
            "customer": "ann",
            "time": "2026-12-01T10:00:00+01:00",
            "items": [{"sku": "A", "category": "goods", "price": "30.00", "qty": 1}],
        }
        with store.group():
            first = loyalty.handle(event)
            assert not first.duplicate
            assert other.processed() == 0  # nothing written yet: staged
            again = loyalty.handle(event)
            assert again.duplicate
            assert again.outcome.state.model_dump() == first.outcome.state.model_dump()
            with pytest.raises(EventError) as refused:
                loyalty.handle({**event, "time": "2026-12-01T10:00:01+01:00"})
            assert refused.value.diagnostics[0].code == "RE443"
            # the launch budget spent by the first is read back from the batch, not the database
            with store.transaction("bob") as transaction:
                assert transaction.budgets([("launch", "lifetime")])["launch"]["lifetime"] == 10
        assert other.processed() == 1
        assert [row.entry.points for row in other.ledger(customer="ann")] == [
            row.entry.points for row in store.ledger(customer="ann")
        ]
        assert other.state("ann") == first.outcome.state
    finally:
        store.close()
        other.close()


def test_a_failed_group_writes_nothing_and_holds_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    store = open_store(url, "store-test")
    try:
        loyalty = Loyalty(LONG, store, horizon=None)
        event = {
            "id": "p1",
            "type": "purchase",
            "customer": "ann",
            "time": "2026-12-01T10:00:00+01:00",
            "items": [{"sku": "A", "category": "goods", "price": "30.00", "qty": 1}],
        }
        with pytest.raises(WorkerFailedError), store.group():
            loyalty.handle(event)
            assert store.state("ann") is not None  # the batch's, inside the group
            raise WorkerFailedError
        assert store.state("ann") is None
        assert store.processed() == 0
        assert isinstance(store, SqlStore) and store._batch is None
        assert not loyalty.handle(event).duplicate  # applied now, once
    finally:
        store.close()


def test_bulk_codes_claimed_inside_a_batch_are_the_batch_s_and_a_failed_event_claims_none(
    store_url: str,
) -> None:
    """A code claimed by an event of the batch is taken for the next customer presenting it in the
    same batch (the batch's claim read before the database's), and a refused event's claim is not
    staged: the code stays free for the next. As with a transaction per event."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    store = open_store(store_url, "coffee-club")
    t0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    try:
        first, second = coupon_codes.generate(store, engine.program, "free-latte", 2, batch="b", at=t0)
        loyalty = Loyalty(engine, store, horizon=None)
        hour = dt.timedelta(hours=1)
        with store.group():
            ann = loyalty.process(latte("p1", "ann", t0, first))
            bob = loyalty.process(latte("p2", "bob", t0 + hour, first))
            loyalty.process(latte("p3", "carl", t0 + 5 * hour))
            with pytest.raises(EventError) as late:  # older than carl's latest: refused after claiming
                loyalty.process(latte("p4", "carl", t0 + 2 * hour, second))
            assert late.value.diagnostics[0].code == "RE440"
            dave = loyalty.process(latte("p5", "dave", t0 + 3 * hour, second))
        assert ann.effects.coupons_redeemed == [first] and ann.totals.discount > 0
        assert bob.totals.discount == 0
        assert dave.effects.coupons_redeemed == [second]
        claimed = {code.code: code.claimed_at for code in store.coupon_codes("free-latte")}
        assert claimed == {first: t0, second: t0 + 3 * hour}
    finally:
        store.close()


def many(customers: int, count: int) -> list[dict[str, Any]]:
    """`count` purchases of two lines each, going round `customers` customers."""
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    return [
        {
            "id": f"p{n}",
            "type": "purchase",
            "customer": f"c{n % customers}",
            "time": (start + dt.timedelta(minutes=n)).isoformat(),
            "items": [
                {"sku": "MUG", "category": "goods", "price": "30.00", "qty": 1},
                {"sku": "TEA", "category": "goods", "price": "4.50", "qty": 2},
            ],
        }
        for n in range(count)
    ]


def one_by_one(base_url: str, stream: list[dict[str, Any]]) -> str:
    """A new database of `base_url`'s kind holding `stream` applied a transaction per event, by a
    store object that holds nothing: what a batch must end with. Its URL."""
    url = empty(base_url)
    alone = open_store(url, "store-test", cache=0)
    try:
        for event in stream:
            Loyalty(LONG, alone, horizon=None).process(event)
    finally:
        alone.close()
    return url


@pytest.mark.parametrize("elements", [0, 25, 300])
def test_a_batch_over_its_element_budget_writes_out_early_and_commits_everything_once(
    base_url: str, elements: int
) -> None:
    """One group of 120 events of 6 customers, with a budget of list elements far under what their
    states hold: the batch is written out early, inside the group (another store object sees
    nothing until the commit), again and again; at the commit everything is there once, as with a
    transaction per event, read back by a store object that holds nothing."""
    stream = many(6, 120)
    expected_url = one_by_one(base_url, stream)
    expected = contents(expected_url, stream, [])
    url = empty(base_url)
    store = open_store(url, "store-test", cache=0, batch_elements=elements)
    other = open_store(url, "store-test", cache=0)
    try:
        assert isinstance(store, SqlStore) and store.batch_elements == elements
        loyalty = Loyalty(LONG, store, horizon=None)
        with store.group():
            for event in stream:
                loyalty.process(event)
            assert other.processed() == 0  # written out early, but not committed
        assert store.early_writes >= (len(stream) if elements == 0 else 5)
        assert other.processed() == len(stream)
    finally:
        store.close()
        other.close()
    found = contents(url, stream, [])
    for key in expected:
        assert found[key] == expected[key], key


def test_a_batch_within_its_budget_is_written_once_at_its_commit(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'loyalty.db'}?batch_elements=1000000", "store-test")
    try:
        assert isinstance(store, SqlStore) and store.batch_elements == 1_000_000
        loyalty = Loyalty(LONG, store, horizon=None)
        with store.group():
            for event in many(6, 120):
                loyalty.process(event)
        assert store.early_writes == 0 and store.processed() == 120
    finally:
        store.close()


def test_the_batch_budget_and_the_cache_come_from_the_argument_the_url_or_the_default(tmp_path: Path) -> None:
    from rules_engine.store.batch import ELEMENTS
    from rules_engine.store.cache import DEFAULT_SIZE, REPLAY_SIZE

    path = tmp_path / "loyalty.db"

    def opened(url: str, **options: Any) -> tuple[int, int]:
        store = open_store(url, "store-test", **options)
        assert isinstance(store, SqlStore)
        store.close()
        return store._cache.size, store.batch_elements

    assert opened(str(path)) == (DEFAULT_SIZE, ELEMENTS)
    assert opened(str(path), default_cache=REPLAY_SIZE) == (REPLAY_SIZE, ELEMENTS)
    assert opened(f"sqlite:///{path}?cache=5&batch_elements=7", default_cache=REPLAY_SIZE) == (5, 7)
    assert opened(f"sqlite:///{path}?batch_elements=7&synchronous=normal&cache=5") == (5, 7)
    assert opened(f"sqlite:///{path}?cache=5&batch_elements=7", cache=3, batch_elements=9) == (3, 9)
    with pytest.raises(StoreError) as refused:
        open_store(f"sqlite:///{tmp_path / 'other.db'}?batch_elements=many", "store-test")
    assert refused.value.code == "RE601" and "batch_elements='many'" in str(refused.value)
    for odd in ("²", "٣", "9" * 5000, "-1", ""):  # a digit int() refuses, too many digits, a sign
        for name in ("cache", "batch_elements"):
            with pytest.raises(StoreError) as refused:
                open_store(f"sqlite:///{tmp_path / 'other.db'}?{name}={odd}", "store-test")
            assert refused.value.code == "RE601", (name, odd[:10])
    assert not (tmp_path / "other.db").exists()


def test_a_state_written_out_early_is_the_base_when_seen_again_in_the_group_not_read_back(
    base_url: str,
) -> None:
    """A batch past its budget lets go of the states it wrote out early; a customer of them seen
    again in the same group starts from the state the batch wrote (the database holds that
    revision), not from a read of it: with six customers going round and a budget of one element,
    nothing is read back in the whole group (every customer is new when first seen). What it
    writes is what a transaction per event writes."""
    stream = many(6, 120)
    expected_url = one_by_one(base_url, stream)
    url = empty(base_url)
    store = open_store(url, "store-test", cache=8, batch_elements=1)
    loads: list[str] = []
    try:
        assert isinstance(store, SqlStore)
        read = store._load

        def counted(customer: str) -> Any:
            loads.append(customer)
            return read(customer)

        store._load = counted  # type: ignore[method-assign]
        loyalty = Loyalty(LONG, store, horizon=None)
        with store.group():
            for event in stream:
                loyalty.process(event)
                assert store.state(event["customer"]) is not None  # a read in the group, not read back
        assert store.early_writes >= 100 and loads == []
    finally:
        store.close()
    assert contents(url, stream, []) == contents(expected_url, stream, [])
