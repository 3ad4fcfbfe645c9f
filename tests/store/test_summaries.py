"""A customer's summary row written with its challenges' unchanged records reused (store/summaries.py).

Byte-equal to pydantic's `summary` for every state an event leaves: random programs' streams with
challenges (through `Engine.process`, and through `Stream.step`'s public states, whose records are
made by the working state), the texts carried from one event to the next as a store carries them;
strings that need escaping; values of types the writer does not write (pydantic writes them).
And the database: the same streams through SQLite and PostgreSQL, a transaction per event and in
groups, with and without working states, end with every row what they are with pydantic's
summaries (`Summaries(0)`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.service import Loyalty
from rules_engine.state.customer import ChallengeProgress, CountedLine, CountedPurchase, CustomerState
from rules_engine.store import open_store
from rules_engine.store.lists import summary
from rules_engine.store.sql import SqlStore
from rules_engine.store.summaries import FEW, Summaries
from tests.engine.random_programs import programs, streams
from tests.engine.test_random_programs import _engine as random_engine
from tests.store.test_carried import COFFEE, COFFEE_ENGINE, coffee_stream, told
from tests.store.test_migration_12 import _ORDER


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_random_programs_states_are_summarised_as_pydantic_summarises_them(data: st.DataObject) -> None:
    """Every state of a random program's stream with challenges, from `process` and from the
    step's public state, each customer's texts carried from event to event (one `Summaries` for
    both paths: a text stands for its record, whichever path made it)."""
    drawn = data.draw(programs(gamified=True), label="program")
    engine = random_engine(drawn)
    stream = Stream(engine)
    summaries = Summaries(4, few=data.draw(st.sampled_from([0, FEW]), label="few"))
    states: dict[str, CustomerState | None] = {}
    workings: dict[str, Any] = {}
    for event in data.draw(streams(drawn, events=24), label="stream"):
        customer = event["customer"]
        try:
            state = engine.process(event, states.get(customer)).state
        except EventError:
            continue
        states[customer] = state
        assert summaries.write(customer, state) == summary(state)
        working = workings.get(customer) or stream.working(None)
        try:
            stepped = stream.step(event, working).state
        except EventError:
            continue
        workings[customer] = working
        assert summaries.write("stepped " + customer, stepped) == summary(stepped)


def test_a_coffee_club_year_is_summarised_as_pydantic_summarises_it() -> None:
    """A generated coffee-club history (purchases and returns, weeks of the challenge's window
    rolling over): each state's summary, the texts carried, equal to pydantic's."""
    engine = Engine.from_file(COFFEE)
    in_parts, usual = Summaries(8, few=0), Summaries(8)
    states: dict[str, CustomerState | None] = {}
    written = 0
    for event in coffee_stream(7, 400):
        customer = event["customer"]
        try:
            state = engine.process(event, states.get(customer)).state
        except EventError:
            continue
        states[customer] = state
        assert in_parts.write(customer, state) == summary(state) == usual.write(customer, state)
        written += bool(state.challenges)
    assert written > 100, "the stream's states hold challenges"


text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=10)


@settings(max_examples=60, deadline=None)
@given(window=text, event=text, done=st.lists(text, max_size=2), key=text, sku=text)
def test_strings_are_escaped_as_pydantic_escapes_them(
    window: str, event: str, done: list[str], key: str, sku: str
) -> None:
    record = CountedPurchase(added=Decimal(1), lines=[CountedLine(line=0, sku=sku, qty=Decimal("1.50"))])
    state = CustomerState(
        customer="c",
        challenges={
            key: ChallengeProgress(
                window=window, progress=Decimal("2"), completed=done, counted={event: record}
            )
        },
    )
    summaries = Summaries(1, few=0)  # in parts, whatever the number of records
    assert summaries.write("c", state) == summary(state)
    again = state.model_copy(update={"visits": 3})  # the same records: their texts reused
    assert summaries.write("c", again) == summary(again)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")  # the odd values are the point
def test_values_the_writer_does_not_expect_are_written_by_pydantic() -> None:
    """A progress whose values are not the types the writer writes (a Python caller's model
    built without validation): the summary is pydantic's all the same."""
    values: dict[str, Any] = {"window": "2026-W49", "progress": 2, "completed": ("a",), "counted": {}}
    odd = ChallengeProgress.model_construct(**values)
    state = CustomerState(customer="c").model_copy(update={"challenges": {"x": odd}})
    with pytest.warns(UserWarning):  # pydantic's own: an int where a decimal is declared
        expected = summary(state)
    with pytest.warns(UserWarning):
        assert Summaries(1, few=0).write("c", state) == expected
    assert Summaries(0).write("c", state) == expected


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, the customers' revisions left out (a first row's is random)."""
    store = open_store(url, "coffee-club")
    assert isinstance(store, SqlStore)
    try:
        found = {
            table: [tuple(row) for row in store._execute(f"SELECT * FROM {table} ORDER BY {order}")]
            for table, order in _ORDER.items()
            if table not in ("program_versions", "customers")
        }
        found["customers"] = [
            tuple(row)
            for row in store._execute("SELECT program, customer, state FROM customers ORDER BY 1, 2")
        ]
        return found
    finally:
        store.close()


def _through(url: str, stream: list[dict[str, Any]], batch: int, reuse: bool) -> list[Any]:
    store = open_store(url, "coffee-club")
    assert isinstance(store, SqlStore)
    if not reuse:
        store._summaries = Summaries(0)  # pydantic's summary, whole, every time
    said: list[Any] = []
    try:
        loyalty = Loyalty(COFFEE_ENGINE, store, horizon=None)
        for start in range(0, len(stream), batch or 1):
            with store.group() if batch else contextlib.nullcontext():
                for event in stream[start : start + (batch or 1)]:
                    try:
                        handled = loyalty.handle(event)
                    except EventError as error:
                        said.append(error.diagnostics[0].code)
                        continue
                    said.append(told(handled.decided, handled.duplicate))
    finally:
        store.close()
    return said


@pytest.fixture(params=["sqlite", "postgresql"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh database's URL for each name asked (SQLite files, PostgreSQL databases)."""
    if request.param == "sqlite":
        return lambda name: f"sqlite:///{tmp_path / name}.db"
    server: str = request.getfixturevalue("postgres_url")  # skipped without a server
    from tests.postgres import fresh_database

    stack = contextlib.ExitStack()
    request.addfinalizer(stack.close)
    return lambda name: stack.enter_context(fresh_database(server))


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(30, 160),
    batch=st.sampled_from([0, 1, 7, 500]),
    working=st.booleans(),
)
def test_the_database_is_what_pydantics_summaries_leave(
    base: Any, seed: int, count: int, batch: int, working: bool
) -> None:
    stream = coffee_stream(seed, count)
    urls = [base(f"{name}-{seed}-{count}-{batch}-{working}") for name in ("reused", "pydantic")]
    urls = [f"{url}{'&' if '?' in url else '?'}working={int(working)}" for url in urls]
    said = [_through(url, stream, batch, reuse) for url, reuse in zip(urls, (True, False), strict=True)]
    assert said[0] == said[1]
    assert _rows(urls[0]) == _rows(urls[1])


def test_few_records_are_summarised_whole_and_keep_no_texts() -> None:
    """Below `FEW` counted purchases the summary is pydantic's in one call and the customer's texts
    are let go; from `FEW` on they are kept (and the summary is the same either way)."""
    assert FEW > 1

    def state(records: int) -> CustomerState:
        counted = {
            f"e{n}": CountedPurchase(added=Decimal(1), lines=[CountedLine(line=0, sku="S", qty=Decimal(1))])
            for n in range(records)
        }
        progress = ChallengeProgress(window="2026-W49", progress=Decimal(records), counted=counted)
        return CustomerState(customer="c", challenges={"five": progress})

    summaries = Summaries(4)
    many, few = state(FEW), state(FEW - 1)
    assert summaries.write("c", many) == summary(many)
    assert "c" in summaries._memos
    assert summaries.write("c", few) == summary(few)
    assert "c" not in summaries._memos
    assert summaries.write("c", many) == summary(many)
    assert "c" in summaries._memos


def test_an_erased_customers_texts_are_let_go(tmp_path: Path) -> None:
    engine = Engine.from_file(COFFEE)
    store = open_store(f"sqlite:///{tmp_path / 'erase.db'}", "coffee-club")
    assert isinstance(store, SqlStore)
    try:
        store._summaries = Summaries(256, few=0)  # texts kept from the first purchase
        loyalty = Loyalty(engine, store, horizon=None)
        for event in coffee_stream(3, 60):
            with contextlib.suppress(EventError):
                loyalty.handle(event)
        customer = next(iter(store._summaries._memos))
        loyalty.erase(customer, operator="test", at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
        assert customer not in store._summaries._memos
    finally:
        store.close()
