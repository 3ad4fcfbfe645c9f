"""The SQL stores carrying working states (`?working=1`, sql_writing.py `carries_working`): the service
decides a customer's new events in place on the working state the store holds (`Stream.step`), and
the store makes the public state where it writes it (each event's commit, or once per customer at a
group's).

Differential: the same stream through a store that carries working states and through one that does
not (every event through `Engine.process` on public states), a transaction per event and in groups
of any size, ends with the same database — states read back, ledger rows in order, processed events
with their stored outcomes, budgets, stock, referral codes — and gives the same answers, with events
refused inside a batch, redeliveries, a worker failing after the engine decided, and two program
versions. And what a rollback must leave: no working state ahead of the database's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.reader import parse_event
from rules_engine.engine.result import Result
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError, StoreError
from rules_engine.replay import replay
from rules_engine.service import Loyalty
from rules_engine.simulate import generate
from rules_engine.state.customer import CustomerState
from rules_engine.store import Change, Store, open_store
from rules_engine.store.sql import SqlStore
from tests.conftest import ROOT
from tests.store.test_tables import LONG, SHORT, WorkerFailedError, empty, events
from tests.store.test_write_behind import contents, with_redeliveries


def _url(base: str, working: bool) -> str:
    return f"{base}{'&' if '?' in base else '?'}working={int(working)}"


def late(stream: list[dict[str, Any]], every: int) -> list[dict[str, Any]]:
    """The stream with, after every `every`-th event, a purchase of its customer dated a day before
    it: older than the customer's latest event, refused by the engine (RE440) — in a batch, after
    the store handed out the customer's working state, which the refusal leaves as it was."""
    out: list[dict[str, Any]] = []
    for n, event in enumerate(stream):
        out.append(event)
        if n % every == every - 1 and event["type"] == "purchase":
            earlier = dt.datetime.fromisoformat(event["time"]) - dt.timedelta(days=1)
            out.append({**event, "id": f"{event['id']}-late", "time": earlier.isoformat()})
    return out


def told(decided: Any, duplicate: bool) -> Any:
    """What an event did, read without its state: a step's result is kept by a group as it is."""
    if duplicate:
        return "duplicate"
    points = (
        decided.ledger_points()
        if isinstance(decided, Result)
        else [(e.kind, e.points) for e in decided.ledger]
    )
    return [(kind, str(amount)) for kind, amount in points]


def run(
    store: Store,
    stream: list[dict[str, Any]],
    batch: int,
    versions: list[bool],
    failures: list[bool],
    *,
    states: bool,
) -> tuple[list[Any], int]:
    """The stream through the store, `batch` events to a group (0: a transaction per event); after
    some events a worker fails inside a transaction that saved a change. What each event did (with
    the outcome's state as JSON when `states`, read at once), and how many events were stepped."""
    services = {False: Loyalty(LONG, store, horizon=None), True: Loyalty(SHORT, store, horizon=None)}
    said: list[Any] = []
    for start in range(0, len(stream), batch or 1):
        with store.group() if batch else contextlib.nullcontext():
            for n, event in enumerate(stream[start : start + (batch or 1)], start=start):
                service = services[versions[n % len(versions)]]
                try:
                    handled = service.handle(event)
                except EventError as error:
                    said.append(error.diagnostics[0].code)
                    continue
                said.append(told(handled.decided, handled.duplicate))
                if states and not handled.duplicate:
                    said.append(handled.outcome.state.model_dump_json())
                if failures[n % len(failures)]:  # decided, saved, then the worker fails: nothing kept
                    customer = event["customer"]
                    with contextlib.suppress(WorkerFailedError), store.transaction(customer) as transaction:
                        state = transaction.state() or CustomerState(customer=customer)
                        transaction.save(Change(state=state.model_copy(update={"processed": ["x"]})))
                        raise WorkerFailedError
    stepped = sum(service._stream.taken for service in services.values())  # the fast path ran
    return said, stepped


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    customers=st.integers(1, 4),
    count=st.integers(1, 80),
    versions=st.lists(st.booleans(), min_size=1, max_size=4),
    failures=st.lists(st.booleans(), min_size=1, max_size=5),
    cache=st.sampled_from([0, 1, 256]),
    elements=st.sampled_from([0, 40, None]),
    states=st.booleans(),
)
@example(  # a batch written out early after each event, a cache of one: its commit held a customer's
    # working state with their state written early, then let go of it (cache.let_go) when the next
    # customer's put pushed them out, and held it again with their latest state
    seed=0,
    customers=3,
    count=55,
    versions=[False],
    failures=[False],
    cache=1,
    elements=0,
    states=False,
)
def test_working_states_end_where_public_states_do_per_event_and_in_batches(
    sql_url: str,
    seed: int,
    customers: int,
    count: int,
    versions: list[bool],
    failures: list[bool],
    cache: int,
    elements: int | None,
    states: bool,
) -> None:
    """The reference: no working states, a transaction per event. `cache` 0 and 1 make the store
    make its working states again from what it reads; `elements` 0 and 40 make a batch write out
    early and let go of the working states it held."""
    names = [f"c{n}" for n in range(customers)]
    stream = late(with_redeliveries(events(seed, customers, count), seed), 5)
    url = _url(empty(sql_url), False)
    store = open_store(url, "store-test", cache=cache, batch_elements=elements)
    try:
        expected_said, _ = run(store, stream, 0, versions, failures, states=states)
    finally:
        store.close()
    expected = contents(url, stream, names)
    for batch in (0, 1, 7, 500):
        url = _url(empty(sql_url), True)
        store = open_store(url, "store-test", cache=cache, batch_elements=elements)
        assert store.carries_working
        try:
            said, _ = run(store, stream, batch, versions, failures, states=states)
        finally:
            store.close()
        assert said == expected_said, batch
        found = contents(url, stream, names)
        for key in expected:
            assert found[key] == expected[key], (batch, key)
    # the program's budgeted purchases are generated now, so a known customer's are the step's
    # (reading the budget the store counted); its other events go through `process` on the working
    # state's public state (`Working.defer`), which the store writes: the same answers either way


COFFEE = ROOT / "programs" / "coffee-club.yaml"
COFFEE_ENGINE = Engine.from_file(COFFEE, secret=b"store tests")


def coffee_stream(seed: int, count: int) -> list[dict[str, Any]]:
    """The first `count` events of a generated coffee-club history of a few customers (purchases,
    app opens, reviews, signups, redemptions...), with late purchases and redeliveries mixed in."""
    text = COFFEE.read_text()
    lines = generate.lines(
        COFFEE_ENGINE.program, text, customers=5, days=120, seed=seed, coupons=False, secret=b"store tests"
    )
    stream = [jsonio.loads(line) for line in itertools.islice(lines, count)]
    return late(with_redeliveries(stream, seed), 7)


def coffee_run(store: Store, stream: list[dict[str, Any]], batch: int) -> tuple[list[Any], int]:
    loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
    said: list[Any] = []
    for start in range(0, len(stream), batch or 1):
        with store.group() if batch else contextlib.nullcontext():
            for event in stream[start : start + (batch or 1)]:
                try:
                    handled = loyalty.handle(event)
                except EventError as error:
                    said.append(error.diagnostics[0].code)
                    continue
                said.append(told(handled.decided, handled.duplicate))
    return said, loyalty._stream.taken


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10**6), count=st.integers(40, 200), cache=st.sampled_from([0, 1, 256]))
def test_coffee_club_stepped_in_place_ends_where_process_does(
    sql_url: str, seed: int, count: int, cache: int
) -> None:
    """coffee-club's purchases are the step's (engine/step.py): decided in place on the working
    states the store holds, written from their public states, the database ends as with
    `Engine.process` on public states, per event and in groups."""
    stream = coffee_stream(seed, count)
    customers = sorted({event["customer"] for event in stream})
    url = _url(empty(sql_url), False)
    store = open_store(url, "coffee-club", cache=cache)
    try:
        expected_said, _ = coffee_run(store, stream, 0)
    finally:
        store.close()
    expected = coffee_contents(url, stream, customers)
    for batch in (0, 7, 500):
        url = _url(empty(sql_url), True)
        store = open_store(url, "coffee-club", cache=cache)
        try:
            said, stepped = coffee_run(store, stream, batch)
        finally:
            store.close()
        assert said == expected_said, batch
        assert "RE440" in said or not any(event["id"].endswith("-late") for event in stream)
        bought = [event["customer"] for event in stream if event["type"] == "purchase"]
        if len(bought) > len(set(bought)):  # a customer's second purchase: stepped (the first is not)
            assert stepped > 0, batch
        found = coffee_contents(url, stream, customers)
        for key in expected:
            assert found[key] == expected[key], (batch, key)


def coffee_contents(url: str, stream: list[dict[str, Any]], customers: list[str]) -> dict[str, Any]:
    """Everything a coffee-club store holds, read by a store object that holds nothing."""
    store = open_store(url, "coffee-club", cache=0)
    try:
        kept = {}
        for event in stream:
            with store.transaction(event["customer"]) as transaction:
                stored = transaction.event(event["id"])
            if stored is not None:
                kept[event["customer"], event["id"]] = (stored.outcome, stored.digest, stored.at)
        return {
            "states": {customer: state.model_dump() for customer, state in store.states()},
            "ledger": [(row.customer, row.entry.model_dump()) for row in store.ledger()],
            "events": kept,
            "processed": store.processed(),
            "latest": store.latest_event_time(),
            "redeemed": store.redeemed(),
        }
    finally:
        store.close()


def purchase(n: int, customer: str = "ann", hour: int | None = None) -> dict[str, Any]:
    """A coffee-club purchase (the step's), `hour` hours into December (default `n`)."""
    at = n if hour is None else hour
    return {
        "id": f"p{n}",
        "type": "purchase",
        "time": f"2026-12-{1 + at // 24:02d}T{at % 24:02d}:00:00+03:00",
        "customer": customer,
        "items": [
            {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 1},
            {"sku": "CROISSANT", "category": "pastry", "price": "180.50", "qty": 2},
        ],
    }


def public_run(events_: list[dict[str, Any]]) -> CustomerState:
    """The customer's state after the events, from `Engine.process` alone."""
    state: CustomerState | None = None
    for event in events_:
        state = COFFEE_ENGINE.process(event, state).state
    assert state is not None
    return state


def public_ledger(n: int) -> list[Any]:
    """The ledger entries of purchase `n` of ann's p1, p2, … (from `Engine.process`)."""
    state = public_run([purchase(k) for k in range(1, n)]) if n > 1 else None
    return list(COFFEE_ENGINE.process(purchase(n), state).ledger)


def test_a_transaction_that_fails_after_the_step_leaves_no_working_state_ahead(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step changed the working state in place, then writing failed: the event is not applied,
    and the customer's next event is decided on their state as the database holds it (the cache
    handed the working state out and never got it back), so that the failed event, sent again, is
    applied once."""
    store = open_store(_url(empty(sql_url), True), "coffee-club")
    try:
        loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
        loyalty.handle(purchase(1))
        assert isinstance(store, SqlStore)
        real = store._write_rest

        def broken(customer: str, change: Change) -> None:
            raise StoreError([])

        monkeypatch.setattr(store, "_write_rest", broken)
        with pytest.raises(StoreError):
            loyalty.handle(purchase(2))
        monkeypatch.setattr(store, "_write_rest", real)
        assert loyalty._stream.taken == 1  # the second was stepped (a new customer's is not)
        loyalty.handle(purchase(2))
        loyalty.handle(purchase(3))
        kept = store.state("ann")
        assert kept is not None
        assert kept.model_dump() == public_run([purchase(1), purchase(2), purchase(3)]).model_dump()
        assert [row.entry.event for row in store.ledger(customer="ann")] == [
            entry.event for n in (1, 2, 3) for entry in public_ledger(n)
        ]
    finally:
        store.close()


def test_an_event_failing_after_its_step_in_a_batch_makes_the_batch_unwritable(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside a group, the failed event's step changed the working state the batch stages for the
    customer: the batch cannot be written without it. If a caller goes on after the failure, the
    group's commit refuses (RE605) and writes nothing; the events are then applied once each."""
    url = _url(empty(sql_url), True)
    store = open_store(url, "coffee-club")
    try:
        loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
        real = Loyalty._change
        calls = {"n": 0}

        def failing(self: Loyalty, *args: Any) -> Change:
            calls["n"] += 1
            if calls["n"] == 2:
                raise WorkerFailedError
            return real(self, *args)

        monkeypatch.setattr(Loyalty, "_change", failing)
        with pytest.raises(StoreError) as refused, store.group():
            loyalty.handle(purchase(1))
            with pytest.raises(WorkerFailedError):
                loyalty.handle(purchase(2))
            loyalty.handle(purchase(3, "bob"))
        assert refused.value.diagnostics[0].code == "RE605"
        assert "ann" in refused.value.diagnostics[0].message
        assert store.processed() == 0 and store.state("ann") is None and store.state("bob") is None
        monkeypatch.setattr(Loyalty, "_change", real)
        with store.group():
            for event in (purchase(1), purchase(2), purchase(3, "bob")):
                loyalty.handle(event)
        kept = store.state("ann")
        assert kept is not None
        assert kept.model_dump() == public_run([purchase(1), purchase(2)]).model_dump()
        assert store.processed() == 3
    finally:
        store.close()


def test_a_refused_event_in_a_batch_leaves_the_working_state_and_the_batch_as_they_were(sql_url: str) -> None:
    store = open_store(_url(empty(sql_url), True), "coffee-club")
    try:
        loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
        with store.group():
            loyalty.handle(purchase(5))
            with pytest.raises(EventError) as refused:
                loyalty.handle(purchase(6, hour=1))  # older than p5
            assert refused.value.diagnostics[0].code == "RE440"
            loyalty.handle(purchase(7))
        kept = store.state("ann")
        assert kept is not None
        assert kept.model_dump() == public_run([purchase(5), purchase(7)]).model_dump()
    finally:
        store.close()


def test_a_working_state_is_held_across_groups_and_dropped_when_another_store_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache gives the working state back with the state committed: the next group decides on
    it without making one. Another store object writing the customer raises the revision: the held
    working state is no longer the database's, and one is made from the state read."""
    url = f"sqlite:///{tmp_path / 'loyalty.db'}?working=1"
    made: list[Any] = []
    real = Stream.working

    def counted(self: Stream, state: Any = None) -> Any:
        made.append(state)
        return real(self, state)

    monkeypatch.setattr(Stream, "working", counted)
    store, other = open_store(url, "coffee-club"), open_store(url, "coffee-club")
    try:
        mine, theirs = (
            Loyalty(COFFEE_ENGINE, store, horizon=None),
            Loyalty(COFFEE_ENGINE, other, horizon=None),
        )
        with store.group():
            mine.handle(purchase(1))
            mine.handle(purchase(2))
        assert len(made) == 1  # made once (a new customer), then stepped on
        with store.group():
            mine.handle(purchase(3))
        mine.handle(purchase(4))  # a transaction of its own: the same working state
        assert len(made) == 1
        theirs.handle(purchase(5))  # another store object: the revision moves on
        assert len(made) == 2
        mine.handle(purchase(6))
        assert len(made) == 3 and made[-1] is not None  # made again from the state read
        kept = store.state("ann")
        assert kept is not None
        assert kept.model_dump() == public_run([purchase(n) for n in range(1, 7)]).model_dump()
    finally:
        store.close()
        other.close()


def test_the_stored_outcome_of_a_step_is_the_outcome_s_json_without_the_state() -> None:
    """`Result.stored_json` makes a step's outcome JSON without making its state: the same text as the
    whole outcome's, state left out, for every event of generated coffee-club histories."""
    for seed in range(4):
        stream = Stream(COFFEE_ENGINE)
        workings: dict[str, Any] = {}
        for event in coffee_stream(seed, 150):
            parsed = parse_event(event)
            working = workings.setdefault(parsed.customer, stream.working(None))
            try:
                result = stream.step(parsed, working)
            except EventError:
                continue
            assert result.stored_json() == result.outcome().model_dump_json(exclude={"state"})
        assert stream.taken > 0


def test_working_comes_from_the_argument_or_the_url_and_is_off_by_default(tmp_path: Path) -> None:
    path = tmp_path / "loyalty.db"
    opened = [
        open_store(f"sqlite:///{path}", "store-test"),
        open_store(f"sqlite:///{path}?working=1", "store-test"),
        open_store(f"sqlite:///{path}?synchronous=normal&working=0", "store-test"),
        open_store(f"sqlite:///{path}?working=0", "store-test", working=True),
    ]
    try:
        assert [store.carries_working for store in opened] == [False, True, False, True]
        with pytest.raises(StoreError) as wrong:
            open_store(f"sqlite:///{path}?working=yes", "store-test")
        assert wrong.value.diagnostics[0].code == "RE601"
    finally:
        for store in opened:
            store.close()


def test_the_cache_counts_a_working_state_in_its_bound_and_hands_it_out_once() -> None:
    """A working state held beside a state counts as many elements again, and `WORKING` more
    (cache.py); `take` hands
    it out once, and only for the revision it stands for."""
    from rules_engine.store.cache import WORKING, Cache
    from rules_engine.store.lists import held

    state = public_run([purchase(1), purchase(2)])
    first = held(1, state, {"lots": [], "purchases": [], "activity": [], "processed": []})
    weight = first.weight
    assert weight > 0
    working = Stream(COFFEE_ENGINE).working(state)
    with_working = 2 * weight + WORKING
    cache = Cache(size=2, budget=with_working + weight)
    cache.put("ann", first, working)
    assert cache.elements == with_working
    assert cache.take("ann", 2) is None  # another revision: not the database's state
    assert cache.elements == weight and cache.take("ann", 1) is None  # handed out (dropped) once
    cache.put("ann", first, working)
    assert cache.take("ann", 1) is working and cache.elements == weight
    cache.put("ann", first, working)
    cache.put("bob", first, working)  # over the budget: ann's state and working go
    assert len(cache) == 1 and cache.elements == with_working
    cache.drop("bob")
    assert len(cache) == 0 and cache.elements == 0


@pytest.mark.parametrize("batch", [1, 500])
def test_a_replay_tells_each_outcome_with_its_state_once_its_group_commits(
    tmp_path: Path, batch: int
) -> None:
    """`loyalty run --db … --json` builds each outcome (with the state) when its line is told, once
    the group commits: by then the customer's working state has moved on (their next purchase in
    the batch). The replay reads a step's state when it is decided (replay.py `_told`): the same
    outcomes as without working states."""
    stream = tmp_path / "events.jsonl"
    events_ = [purchase(n, customer=("ann", "bob")[n % 2]) for n in range(1, 13)]
    stream.write_text("".join(jsonio.dumps(event) + "\n" for event in events_))
    told: dict[bool, list[Any]] = {}
    for working in (False, True):
        store = open_store(f"sqlite:///{tmp_path / f'{working}.db'}?working={int(working)}", "coffee-club")
        try:
            loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
            said: list[Any] = []

            def tell(number: int, decided: Any, duplicate: bool, said: list[Any] = said) -> None:
                outcome = decided.outcome() if isinstance(decided, Result) else decided
                said.append((number, duplicate, outcome.model_dump(mode="json")))

            replay(loyalty, stream, on_decided=tell, batch=batch)
            told[working] = said
            assert loyalty._stream.taken == (10 if working else 0)  # not new customers (Store.steps_whole)
        finally:
            store.close()
    assert len(told[True]) == 12 and told[True] == told[False]


def _without_a_step(loyalty: Loyalty, customer: str, at: int, made: list[Any]) -> None:
    """What comes between a customer's purchases and changes their state without a step: an
    `advance` that makes the pending points available, an explained purchase (`Engine.process`),
    the state put again as the store holds it (an import)."""
    loyalty.advance(customer, dt.datetime(2026, 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=3)))
                    + dt.timedelta(hours=at))  # fmt: skip
    loyalty.process(purchase(at + 1, customer, at + 1), explain=True)
    state = loyalty.store.state(customer)
    assert state is not None
    loyalty.put(customer, state)


@pytest.mark.parametrize("batch", [0, 500])
def test_a_change_with_a_state_of_its_own_leaves_the_working_state_standing_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """An advance, an explained purchase and a put write a state of their own (no step): the
    customer's working state is made to stand for it (`Working.defer`, sql_writing.py
    `_carried_on`), not let go of, so their next purchase is stepped on it without a `Working.of`
    (a pass over every lot). The database ends as without working states, row for row."""
    made: list[Any] = []
    real = Stream.working

    def counted(self: Stream, state: Any = None) -> Any:
        made.append(state)
        return real(self, state)

    monkeypatch.setattr(Stream, "working", counted)
    ends = {}
    for working in (False, True):
        url = f"sqlite:///{tmp_path / f'{working}.db'}?working={int(working)}"
        store = open_store(url, "coffee-club")
        try:
            loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
            stream = []
            with store.group() if batch else contextlib.nullcontext():
                for n, customer in ((1, "ann"), (2, "bob"), (3, "ann"), (4, "bob")):
                    stream.append(purchase(n, customer))
                    loyalty.handle(stream[-1])
                for at, customer in ((400, "ann"), (410, "bob")):  # pending points now available
                    _without_a_step(loyalty, customer, at, made)
                    stream.append(purchase(at + 1, customer, at + 1))  # explained: a duplicate now
                for n, customer in ((500, "ann"), (501, "bob"), (502, "ann")):
                    stream.append(purchase(n, customer, n))
                    loyalty.handle(stream[-1])
            if working:
                assert made == [None, None]  # each customer's made once, when new, then stepped on
                assert loyalty._stream.taken == 5
        finally:
            store.close()
        ends[working] = coffee_contents(url, stream, ["ann", "bob"])
    assert ends[True] == ends[False]
    assert ends[True]["states"]["ann"]["lots"] and ends[True]["ledger"]


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(40, 160),
    every=st.integers(1, 6),
    cache=st.sampled_from([0, 1, 256]),
)
def test_coffee_club_with_advances_between_the_steps_ends_where_process_does(
    sql_url: str, seed: int, count: int, every: int, cache: int
) -> None:
    """Before every `every`-th event, an `advance` of its customer to the event's time (expiry,
    pending points made available: a state of its own, written without a step); the working states
    go on standing for what the advances wrote, and the database ends as without working states."""

    def with_advances(store: Store, stream: list[dict[str, Any]], batch: int) -> list[Any]:
        loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
        said: list[Any] = []
        for start in range(0, len(stream), batch or 1):
            with store.group() if batch else contextlib.nullcontext():
                for n, event in enumerate(stream[start : start + (batch or 1)], start=start):
                    if n % every == 0:
                        try:
                            changes = loyalty.advance(
                                event["customer"], dt.datetime.fromisoformat(event["time"])
                            )
                        except EventError as error:
                            said.append(error.diagnostics[0].code)
                        else:  # by value: a time's zone may be pydantic's or datetime's, equal
                            said.append([change.model_dump() for change in changes])
                    try:
                        handled = loyalty.handle(event)
                    except EventError as error:
                        said.append(error.diagnostics[0].code)
                        continue
                    said.append(told(handled.decided, handled.duplicate))
        return said

    stream = coffee_stream(seed, count)
    customers = sorted({event["customer"] for event in stream})
    url = _url(empty(sql_url), False)
    store = open_store(url, "coffee-club", cache=cache)
    try:
        expected_said = with_advances(store, stream, 0)
    finally:
        store.close()
    expected = coffee_contents(url, stream, customers)
    for batch in (0, 7):
        url = _url(empty(sql_url), True)
        store = open_store(url, "coffee-club", cache=cache)
        try:
            said = with_advances(store, stream, batch)
        finally:
            store.close()
        assert said == expected_said, batch
        found = coffee_contents(url, stream, customers)
        for key in expected:
            assert found[key] == expected[key], (batch, key)
