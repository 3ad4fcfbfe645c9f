"""A state as a summary row and list rows (store/lists.py), written as what changed, held between
events (store/cache.py): what is read back is always what was written, whoever wrote it.

The differential tests run random streams — purchases, returns, redemptions, signups, expiries, and
two program versions alternating, the second with a shorter `expire_after`, so that a new lot goes
before older ones — through an SQLite or PostgreSQL store, some in groups with failures inside, and
compare after every event what a store object that holds nothing reads with what the engine
returned (and with what the caching store object hands out).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError, StoreError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import appended
from rules_engine.store import Change, Store, open_store
from rules_engine.store.lists import GAP, PARTS, plan, whole
from rules_engine.store.migrations import TABLES
from rules_engine.store.sql import SqlStore
from tests.store.streams import PROGRAM, START, stream

LONG = Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")
SHORT = Engine(
    load_program_text(
        PROGRAM.replace("version: 2", "version: 3").replace("expire_after: 20d", "expire_after: 3d"),
        "store-test.yaml",
    ),
    secret=b"store tests",
)


# -- the positions scheme, alone ------------------------------------------------------------------
class Item:
    """An element: only its identity counts."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


def apply_plan(
    rows: dict[int, Any], old: list[Any], positions: list[int], new: list[Any], after: int = 0
) -> tuple[list[int], bool]:
    """Apply `plan` (or a whole rewrite) to a table of rows {pos: element}, as the store does; the
    new positions, and whether the list was written whole. An element appended past the old
    list's end is placed past `after` (the customer's last position in any list) too."""
    edits = plan(old, positions, new, after)
    last = positions[-1] if positions else None
    if edits is not None:
        assert all(pos > after for pos, _ in edits.inserted if last is None or pos > last)
    if edits is None:
        rows.clear()
        rows.update(zip(whole(new), new, strict=True))
        return whole(new), True
    for pos in edits.deleted:
        del rows[pos]
    for pos, element in edits.updated:
        assert pos in rows
        rows[pos] = element
    for pos, element in edits.inserted:
        assert pos not in rows
        rows[pos] = element
    return edits.positions, False


edit = st.tuples(st.sampled_from(["append", "remove", "replace", "insert", "keep"]), st.integers(0, 10**6))


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, 30),
    rounds=st.lists(st.lists(edit, max_size=8), min_size=1, max_size=30),
    afters=st.lists(st.integers(0, 40 * GAP), min_size=1, max_size=5),
)
def test_any_edits_read_back_in_order(
    start: int, rounds: list[list[tuple[str, int]]], afters: list[int]
) -> None:
    """Whatever a list becomes, the rows sorted by position are the new list, element for
    element, and an element that stayed keeps its row."""
    made = 0

    def fresh() -> Item:
        nonlocal made
        made += 1
        return Item(f"i{made}")

    current = [fresh() for _ in range(start)]
    positions = whole(current)
    rows = dict(zip(positions, current, strict=True))
    for n, edits in enumerate(rounds):
        new = list(current)
        for kind, where in edits:
            at = where % (len(new) + 1)
            if kind == "append":
                new.append(fresh())
            elif kind == "insert":
                new.insert(at, fresh())
            elif kind == "remove" and new:
                del new[at % len(new)]
            elif kind == "replace" and new:
                new[at % len(new)] = fresh()
        kept_rows = {id(element): pos for pos, element in rows.items()}
        positions, rewritten = apply_plan(rows, current, positions, new, afters[n % len(afters)])
        assert [rows[pos] for pos in sorted(rows)] == new
        assert positions == sorted(rows) and len(set(positions)) == len(positions)
        if not rewritten:  # an element kept keeps its row
            for element, pos in zip(new, positions, strict=True):
                assert kept_rows.get(id(element), pos) == pos
        current = new


step = st.tuples(st.integers(0, 40), st.integers(0, 6), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 300),
    steps=st.lists(step, min_size=1, max_size=40),
    afters=st.lists(st.integers(0, 400 * GAP), min_size=1, max_size=5),
)
def test_a_long_list_moved_on_by_the_engine_writes_only_what_left_and_joined(
    start: int, steps: list[tuple[int, int, int]], afters: list[int]
) -> None:
    """A state's long list as the engine makes it (state/shared.py): each state's list is an
    earlier state's window moved on — the oldest elements leave the head, the event's join the
    tail —, on a storage shared with it, or copied when that state was used before (a branch).
    The rows read back as the new list, a kept element keeps its row, and the next state of the
    one written is written as the elements that left and joined only, however long the list."""
    made = 0

    def fresh(count: int) -> list[Item]:
        nonlocal made
        made += count
        return [Item(f"i{made - k}") for k in range(count, 0, -1)]

    states = [appended([], fresh(start))]
    positions = whole(states[0])
    rows = dict(zip(positions, states[0], strict=True))
    for n, (dropped, added, back) in enumerate(steps):
        after = afters[n % len(afters)]
        written = states[-1]
        base = states[-1 - back % len(states)]  # usually the state written: a branch otherwise
        new = appended(base, fresh(added), min(dropped, len(base)))
        if base is written:  # the usual next state: only what left and what joined is written
            edits = plan(written, positions, new, after)
            assert edits is not None  # an update is one element that left and one that joined
            replaced = len(edits.updated)
            assert len(edits.deleted) + replaced == min(dropped, len(base))
            assert len(edits.inserted) + replaced == added
        kept_rows = {id(element): pos for pos, element in rows.items()}
        positions, rewritten = apply_plan(rows, written, positions, new, after)  # type: ignore[arg-type]
        assert [rows[pos] for pos in sorted(rows)] == list(new)
        assert list(positions) == sorted(rows)
        if not rewritten:
            for element, pos in zip(new, positions, strict=True):
                assert kept_rows.get(id(element), pos) == pos
        states.append(new)


def test_the_common_edits_touch_only_the_rows_they_change() -> None:
    old = [Item(f"i{n}") for n in range(1000)]
    positions = whole(old)
    new = [*old[3:500], Item("burnt"), *old[501:], Item("a"), Item("b")]  # expired, spent, earned
    edits = plan(old, positions, new)
    assert edits is not None
    assert edits.deleted == positions[:3]
    assert edits.updated == [(positions[500], new[497])]
    assert edits.inserted == [(positions[-1] + GAP, new[-2]), (positions[-1] + 2 * GAP, new[-1])]
    inserted = [*old[:10], Item("sooner"), *old[10:]]  # a lot that expires before older ones
    edits = plan(old, positions, inserted)
    assert edits is not None and not edits.deleted and not edits.updated
    assert [pos for pos, _ in edits.inserted] == [(positions[9] + positions[10]) // 2]
    head = plan(old, positions, [Item("first"), *old])
    assert head is not None and [pos for pos, _ in head.inserted] == [positions[0] - GAP]
    unchanged = plan(old, positions, list(old))
    assert unchanged is not None and not unchanged and unchanged.positions == positions


def test_a_place_with_no_room_left_writes_the_list_whole() -> None:
    old = [Item("a"), Item("b")]
    positions = [GAP, GAP + 1]
    assert plan(old, positions, [old[0], Item("between"), old[1]]) is None
    rows = dict(zip(positions, old, strict=True))
    between = Item("between")
    assert apply_plan(rows, old, positions, [old[0], between, old[1]]) == (whole([*old, between]), True)
    assert [rows[pos] for pos in sorted(rows)] == [old[0], between, old[1]]


# -- through a store ------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loyalty.db'}?synchronous=normal"
    url: str = request.getfixturevalue("postgres_database")
    return url


def events(seed: int, customers: int, count: int) -> list[dict[str, Any]]:
    """The store tests' stream with returns of earlier purchases mixed in (some refused: more
    than was bought, or bought by someone else)."""
    pick = random.Random(seed)
    out: list[dict[str, Any]] = []
    bought: list[dict[str, Any]] = []
    for event in stream(seed, customers, count):
        if event["type"] == "purchase":
            bought.append(event)
        if bought and pick.random() < 0.2:
            back = pick.choice(bought)
            line = pick.choice(back["items"])
            out.append(
                {
                    "id": f"{event['id']}-return",
                    "type": "return",
                    "purchase": back["id"],
                    "customer": back["customer"] if pick.random() < 0.9 else event["customer"],
                    "time": event["time"],
                    "items": [{"sku": line["sku"], "qty": pick.randint(1, 2)}],
                }
            )
        out.append(event)
    return out


def held_states(store: Store, reader: Store, customers: list[str]) -> dict[str, Any]:
    """What the caching store object hands out, checked against what one holding nothing reads."""
    seen = {}
    for customer in customers:
        mine, theirs = store.state(customer), reader.state(customer)
        assert (mine is None) == (theirs is None), customer
        if mine is not None and theirs is not None:
            assert mine.model_dump() == theirs.model_dump(), customer
            seen[customer] = theirs.model_dump()
    return seen


class WorkerFailedError(Exception):
    """A failure after the engine decided: the transaction (or group) is rolled back."""


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    customers=st.integers(1, 4),
    count=st.integers(1, 90),
    plan_=st.lists(
        st.tuples(st.integers(1, 12), st.sampled_from(["each", "group", "group-fails"])), min_size=1
    ),
    versions=st.lists(st.booleans(), min_size=1),
    failures=st.lists(st.booleans(), min_size=1),
)
def test_what_a_store_reads_back_is_what_the_engine_returned(
    sql_url: str,
    seed: int,
    customers: int,
    count: int,
    plan_: list[tuple[int, str]],
    versions: list[bool],
    failures: list[bool],
) -> None:
    names = [f"c{n}" for n in range(customers)]
    stream_ = events(seed, customers, count)
    url = empty(sql_url)
    store = open_store(url, "store-test")
    reader = open_store(url, "store-test", cache=0)
    try:
        _differential(store, reader, names, stream_, plan_, versions, failures)
    finally:
        store.close()
        reader.close()


def empty(url: str) -> str:
    """A database with nothing in it at the test's URL, for each example: another SQLite file
    beside the test's, or the PostgreSQL test database emptied."""
    if not url.startswith("postgresql"):
        path, _, options = url.partition("?")
        return f"{path.removesuffix('.db')}-{uuid.uuid4().hex[:8]}.db?{options}"
    import psycopg

    open_store(url, "store-test").close()  # the schema, if not there yet
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"TRUNCATE {', '.join(table for table in TABLES if table != 'api_keys')}")
    return url


def _differential(
    store: Store,
    reader: Store,
    names: list[str],
    stream_: list[dict[str, Any]],
    plan_: list[tuple[int, str]],
    versions: list[bool],
    failures: list[bool],
) -> None:
    services = {False: Loyalty(LONG, store, horizon=None), True: Loyalty(SHORT, store, horizon=None)}
    position = 0
    turn = 0
    chunks = iter(plan_ * (len(stream_) + 1))
    while position < len(stream_):
        size, how = next(chunks)
        chunk = stream_[position : position + size]
        position += size
        committed = held_states(store, reader, names)
        written: dict[str, CustomerState] = {}
        try:
            with store.group() if how != "each" else contextlib.nullcontext():
                for event in chunk:
                    turn += 1
                    service = services[versions[turn % len(versions)]]
                    before = store.state(event["customer"])
                    try:
                        handled = service.handle(event)
                    except EventError:
                        assert_same(store.state(event["customer"]), before)
                        continue
                    for outcome in filter(None, [handled.outcome, handled.referrer]):
                        written[outcome.customer] = outcome.state
                        assert_same(store.state(outcome.customer), outcome.state)
                        if how == "each" or turn % 3 == 0:  # in a group: its batch written out early
                            assert_same(read_back(store, outcome.customer), outcome.state)
                    if failures[turn % len(failures)]:  # decided, saved, then the worker fails
                        customer = event["customer"]
                        kept = store.state(customer)
                        with pytest.raises(WorkerFailedError), store.transaction(customer) as transaction:
                            state = transaction.state() or CustomerState(customer=customer)
                            changed = state.model_copy(update={"lots": state.lots[1:], "processed": ["x"]})
                            transaction.save(Change(state=changed))
                            raise WorkerFailedError
                        assert_same(store.state(customer), kept)
                    if how == "each":
                        assert_same(reader.state(event["customer"]), store.state(event["customer"]))
                if how == "group-fails":
                    raise WorkerFailedError
        except WorkerFailedError:
            assert how == "group-fails"
            assert held_states(store, reader, names) == committed
            continue
        for customer, state in written.items():  # committed: anyone reads what the engine returned
            assert_same(reader.state(customer), state)
        held_states(store, reader, names)


def read_back(store: Store, customer: str) -> CustomerState | None:
    """The customer's state read from the rows by this store object's connection, not held: inside
    a group too, where another connection does not see the group's writes yet, once the group has
    written what it staged so far (batch.py; the group goes on from the rows written)."""
    assert isinstance(store, SqlStore)
    store._flush()
    loaded = store._load(customer)
    return None if loaded is None else loaded.state


def assert_same(read: CustomerState | None, expected: CustomerState | None) -> None:
    assert (read is None) == (expected is None)
    if read is not None and expected is not None:
        assert read.model_dump() == expected.model_dump()
        for part in PARTS:  # the lists in their order, element for element
            assert [e if isinstance(e, str) else e.model_dump() for e in getattr(read, part)] == [
                e if isinstance(e, str) else e.model_dump() for e in getattr(expected, part)
            ]


def test_a_shorter_expiry_puts_a_new_lot_before_older_ones_and_it_reads_back_in_order(sql_url: str) -> None:
    """The case the positions' gaps are for: the new lot is written between its neighbours."""
    store = open_store(sql_url, "store-test")
    reader = open_store(sql_url, "store-test", cache=0)
    try:
        long, short = Loyalty(LONG, store, horizon=None), Loyalty(SHORT, store, horizon=None)
        for n in range(4):
            long.process(purchase(n))
        state = short.process(purchase(4)).state
        assert events_of(state) == ["p4", "p0", "p1", "p2", "p3"]
        assert_same(reader.state("ann"), state)
        state = long.process(purchase(5)).state
        state = short.process(purchase(6)).state
        assert events_of(state) == ["p4", "p6", "p0", "p1", "p2", "p3", "p5"]
        assert_same(reader.state("ann"), state)
    finally:
        store.close()
        reader.close()


def test_what_an_event_appends_to_each_list_lands_past_every_row_the_customer_had(sql_url: str) -> None:
    """The rows one event appends — a lot, purchase lines, activity, its id — take positions past
    the customer's last row in any list, so that, keyed by position first (SQLite, schema 12), they
    are side by side: one page written, not one per list. Kept rows keep theirs."""
    store = open_store(sql_url, "store-test")
    assert isinstance(store, SqlStore)

    def rows() -> set[tuple[str, int]]:
        found = store._execute("SELECT part, pos FROM customer_lists WHERE customer = 'ann'")
        return {(part, int(pos)) for part, pos in found}

    try:
        loyalty = Loyalty(LONG, store, horizon=None)
        loyalty.process(purchase(0))
        for n in range(1, 6):
            before = rows()
            loyalty.process(purchase(n))
            added = rows() - before
            assert {part for part, _ in added} >= {"lots", "purchases", "processed"}
            assert min(pos for _, pos in added) > max(pos for _, pos in before)
    finally:
        store.close()


def events_of(state: CustomerState) -> list[str]:
    """The events of the lots in their order (an event's two lots, base and launch, once)."""
    return list(dict.fromkeys(lot.event for lot in state.lots))


def purchase(n: int, customer: str = "ann") -> dict[str, Any]:
    return {
        "id": f"p{n}",
        "type": "purchase",
        "time": (START + dt.timedelta(hours=n)).isoformat(),
        "customer": customer,
        "items": [{"sku": "MUG", "price": "30.00", "qty": 1}],
    }


@pytest.fixture
def two(sql_url: str) -> Iterator[tuple[Store, Store]]:
    first, second = open_store(sql_url, "store-test"), open_store(sql_url, "store-test")
    yield first, second
    first.close()
    second.close()


def test_two_store_objects_on_one_database_each_see_the_others_writes(two: tuple[Store, Store]) -> None:
    first, second = two
    services = [Loyalty(LONG, first, horizon=None), Loyalty(LONG, second, horizon=None)]
    for n in range(8):
        state = services[n % 2].process(purchase(n)).state
        assert state.visits == n + 1
        assert events_of(state) == [f"p{k}" for k in range(n + 1)]
        for store in two:
            assert_same(store.state("ann"), state)
    assert services[0].handle(purchase(7)).duplicate  # the other's event, applied once


def test_a_customer_erased_and_seen_again_is_not_the_state_another_store_object_holds(
    two: tuple[Store, Store],
) -> None:
    """Revisions of a customer's first row start at random: the same id after an erasure does not
    come back to the revision another process holds the erased customer's state at."""
    first, second = two
    one, other = Loyalty(LONG, first, horizon=None), Loyalty(LONG, second, horizon=None)
    one.process(purchase(1))  # `first` holds ann's state
    other.erase("ann", operator="dpo", at=START + dt.timedelta(hours=2))
    other.process({**purchase(3), "id": "new-1"})  # a new ann, one event: as many as before
    state = one.process({**purchase(4), "id": "new-2"}).state
    assert state.visits == 2 and events_of(state) == ["new-1", "new-2"]


def test_a_held_state_is_not_read_again(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "loyalty.db"), "store-test")
    assert isinstance(store, SqlStore)
    loads: list[str] = []
    load = store._load

    def counted(customer: str) -> Any:
        loads.append(customer)
        return load(customer)

    store._load = counted  # type: ignore[method-assign]
    service = Loyalty(LONG, store, horizon=None)
    for n in range(6):
        service.process(purchase(n))
    assert loads == []  # written, then held: never read back
    other = open_store(str(tmp_path / "loyalty.db"), "store-test")
    Loyalty(LONG, other, horizon=None).process(purchase(6))
    service.process(purchase(7))
    assert loads == ["ann"]  # another object wrote it: read once
    other.close()
    store.close()


def test_the_states_held_are_bounded(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'loyalty.db'}?cache=3", "store-test")
    assert isinstance(store, SqlStore)
    service = Loyalty(LONG, store, horizon=None)
    for n in range(10):
        service.process(purchase(n, customer=f"c{n}"))
        assert len(store._cache) <= 3
    assert [store.state(f"c{n}") is not None for n in range(10)] == [True] * 10
    assert len(store._cache) == 3
    assert open_store(str(tmp_path / "loyalty.db"), "store-test", cache=0)._cache.size == 0  # type: ignore[attr-defined]
    store.close()


def test_a_cache_option_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as refused:
        open_store(f"sqlite:///{tmp_path / 'loyalty.db'}?cache=lots", "store-test")
    assert refused.value.code == "RE601" and "cache" in str(refused.value)
    assert not (tmp_path / "loyalty.db").exists()


def test_balances_survive_a_rolled_back_group(sql_url: str) -> None:
    store = open_store(sql_url, "store-test")
    service = Loyalty(LONG, store, horizon=None)
    service.process(purchase(1))
    with pytest.raises(WorkerFailedError), store.group():
        service.process(purchase(2))
        assert events_of(store.state("ann") or CustomerState()) == ["p1", "p2"]
        raise WorkerFailedError
    state = store.state("ann")
    assert state is not None and events_of(state) == ["p1"]
    assert not service.handle(purchase(2)).duplicate
    store.close()


def test_what_a_rolled_back_group_wrote_is_not_held(two: tuple[Store, Store]) -> None:
    """The group's write is gone from the database, and the next write by another store object
    brings the row to the revision the group had given it: the first store object must read that
    write, not hand out its own rolled-back state."""
    first, second = two
    mine, theirs = Loyalty(LONG, first, horizon=None), Loyalty(LONG, second, horizon=None)
    mine.process(purchase(1))
    with pytest.raises(WorkerFailedError), first.group():
        mine.process(purchase(2))
        raise WorkerFailedError
    state = theirs.process({**purchase(3), "id": "theirs"}).state
    assert_same(first.state("ann"), state)
    assert events_of(mine.process(purchase(4)).state) == ["p1", "theirs", "p4"]


def test_what_a_failed_event_in_a_group_wrote_is_not_held(two: tuple[Store, Store]) -> None:
    first, second = two
    mine, theirs = Loyalty(LONG, first, horizon=None), Loyalty(LONG, second, horizon=None)
    mine.process(purchase(1))
    with first.group():
        mine.process(purchase(2))
        with pytest.raises(WorkerFailedError), first.transaction("ann") as transaction:
            state = transaction.state()
            assert state is not None
            transaction.save(Change(state=state.model_copy(update={"lots": []})))
            raise WorkerFailedError
    assert events_of(first.state("ann") or CustomerState()) == ["p1", "p2"]
    state = theirs.process(purchase(3)).state
    assert events_of(state) == ["p1", "p2", "p3"]
    assert_same(first.state("ann"), state)


def test_the_states_held_are_bounded_by_their_size_too() -> None:
    """At most `size` customers and `size × ELEMENTS` list elements; the latest is always held."""
    from rules_engine.store.cache import ELEMENTS, Cache
    from rules_engine.store.lists import held

    def state(ids: int) -> Any:
        return held(1, CustomerState(processed=[f"e{n}" for n in range(ids)]), {})

    cache = Cache(3)
    cache.put("small", state(10))
    cache.put("big", state(2 * ELEMENTS))
    assert sorted(cache._held) == ["big", "small"] and cache.elements == 2 * ELEMENTS + 10
    cache.put("bigger", state(2 * ELEMENTS))  # over 3 × ELEMENTS: the oldest go first
    assert list(cache._held) == ["bigger"] and cache.elements == 2 * ELEMENTS
    cache.put("huge", state(5 * ELEMENTS))  # alone over the bound: held all the same
    assert list(cache._held) == ["huge"]
    assert cache.get("huge", 2) is None and len(cache) == 0 and cache.elements == 0  # another revision


def test_migration_11_splits_every_stored_state_and_reads_it_back_the_same(sql_url: str) -> None:
    """A database at schema 10 (one JSON value per state) is upgraded in SQL: the summary keeps the
    rest, each list element becomes a row, and the state reads back as it was, then goes on."""
    from rules_engine.store.migrations import MIGRATIONS

    states: dict[str, CustomerState] = {}
    for event in events(5, 3, 60):
        try:
            outcome = LONG.process(event, states.get(event["customer"]))
        except EventError:
            continue
        states[event["customer"]] = outcome.state
    odd = states["c0"].model_copy(update={"processed": [*states["c0"].processed, 'o"dd \\ é ✓ \U0001f600']})
    states["c0"] = odd
    states["empty"] = CustomerState(customer="empty")
    url = empty_schema(sql_url)
    rows = [("store-test", name, state.model_dump_json(), 1) for name, state in states.items()]
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as db:
            db.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            for migration in MIGRATIONS[:10]:
                for statement in migration.postgresql:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s)",
                    (migration.version, migration.description),
                )
            with db.cursor() as cursor:
                cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s)", rows)
            db.execute("INSERT INTO customers VALUES ('store-test', 'new', '', 0)")  # a row with no state
    else:
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///").partition("?")[0]) as db:
            db.execute(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL)"
            )
            for migration in MIGRATIONS[:10]:
                for statement in migration.sqlite:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (migration.version, migration.description)
                )
            db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows)
    with open_store(url, "store-test", cache=0) as store:
        assert isinstance(store, SqlStore)
        for name, state in states.items():
            assert_same(store.state(name), state)
        summaries = store._execute("SELECT state FROM customers WHERE revision > 0")
        assert summaries and not any(f'"{part}"' in text for (text,) in summaries for part in PARTS)
        counted = store._execute("SELECT count(*) FROM customer_lists")[0][0]
        assert counted == sum(len(getattr(state, part)) for state in states.values() for part in PARTS)
        assert store.tiers_held() == {}
        later = {**purchase(10**4, "c0"), "time": "2027-06-01T10:00:00+01:00"}
        after = Loyalty(LONG, store, horizon=None).process(later).state
        assert after.visits == odd.visits + 1 and after.processed[-2] == odd.processed[-1]
        assert_same(store.state("c0"), after)


def empty_schema(url: str) -> str:
    """Nothing at the test's URL, not even a schema."""
    if not url.startswith("postgresql"):
        path, _, options = url.partition("?")
        return f"{path.removesuffix('.db')}-{uuid.uuid4().hex[:8]}.db?{options}"
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("DROP SCHEMA public CASCADE")
        db.execute("CREATE SCHEMA public")
    return url


def test_db_status_and_upgrade_show_migration_11(tmp_path: Path) -> None:
    from tests.store.test_upgrade import cli, schema_at

    path = schema_at(tmp_path / "v10.db", 10)
    code, out, _ = cli("db", "status", str(path))
    assert code == 0 and "to apply: 11  a customer's state as a summary row" in out
    code, _, err = cli("db", "upgrade", str(path))
    assert code == 0 and "applied 11" in err
