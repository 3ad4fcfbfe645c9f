"""A state's long lists share their storage between a customer's states (state/shared.py): the
same states as plain lists give, and no state changes when a later one is made from it.

`SharedList` against a model (plain lists) over random histories of appends, drops and branches
(a version made again from an older one); then the engine differentially, over random programs
and streams: with sharing from the first element (and the storage compacted early) against plain
lists (sharing off, the engine before `SharedList`), event by event, the state and the outcome
dumped the same, every earlier state still dumping as when it was made, and an event decided
again on the state it was given (a branch) deciding the same.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state import shared
from rules_engine.state.customer import CustomerState
from rules_engine.state.shared import SharedList, appended
from tests.engine.random_programs import programs, streams

steps = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 6), st.integers(0, 5)),  # (version, dropped, new)
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(start=st.lists(st.integers(), max_size=8), steps=steps)
def test_a_shared_list_reads_as_its_list_and_never_changes(start: list[int], steps: Any) -> None:
    old = (shared.SHARED_FROM, shared.COMPACT_AFTER)
    shared.SHARED_FROM, shared.COMPACT_AFTER = 0, 2
    try:
        versions: list[tuple[Any, list[int]]] = [(start, list(start))]
        counter = 1000
        for version, dropped, new in steps:
            values, model = versions[version % len(versions)]
            added = list(range(counter, counter + new))
            counter += new
            made = appended(values, added, dropped)
            versions.append((made, [*model[dropped:], *added]))
            for values, model in versions:  # every version still reads as its list
                assert list(values) == model
                assert values == model and model == values
                assert len(values) == len(model)
                assert list(reversed(values)) == model[::-1]
                if model:
                    assert values[0] == model[0] and values[-1] == model[-1]
                    assert values[1:-1] == model[1:-1] and values[::2] == model[::2]
                    assert model[-1] in values and values.index(model[-1]) == model.index(model[-1])
                assert (-1 in values) == (-1 in model)  # `start` may hold -1; the appended never
        assert all(isinstance(v, SharedList) for v, _ in versions[1:])
    finally:
        shared.SHARED_FROM, shared.COMPACT_AFTER = old


def test_a_shared_list_is_dumped_and_compared_as_a_list() -> None:
    state = CustomerState(processed=[f"e{i}" for i in range(200)])
    ids = appended(state.processed, ["e200"], 1)
    assert isinstance(ids, SharedList)
    after = state.model_copy(update={"processed": ids})
    expected = CustomerState(processed=[f"e{i}" for i in range(1, 201)])
    assert after == expected
    assert after.model_dump_json() == expected.model_dump_json()
    assert after.model_dump() == expected.model_dump()
    assert CustomerState.model_validate_json(after.model_dump_json()) == after


def _run(engine: Engine, events: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
    """Each event's (state, outcome) dumps, with the checks of a state as a value on the way."""
    states: dict[str, CustomerState | None] = {}
    made: list[tuple[CustomerState, Any]] = []
    dumps: list[tuple[Any, Any]] = []
    for event in events:
        before = states.get(event["customer"])
        try:
            result = engine.process(event, before)
        except EventError as error:
            dumps.append(("refused", [problem.code for problem in error.diagnostics]))
            continue
        state = result.state.model_dump(mode="json")
        outcome = result.outcome().model_dump(mode="json")
        again = engine.process(event, before)  # a branch: the state before used once more
        assert again.state.model_dump(mode="json") == state
        assert again.outcome().model_dump(mode="json") == outcome
        made.append((result.state, state))
        dumps.append((state, outcome))
        states[event["customer"]] = result.state
    for state_made, dumped in made:  # no later event changed an earlier state
        assert state_made.model_dump(mode="json") == dumped
    return dumps


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_shared_lists_make_the_states_plain_lists_make(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"random")
    events = data.draw(streams(drawn, customers=2, events=16), label="events")
    old = (shared.SHARED_FROM, shared.COMPACT_AFTER)
    try:
        shared.SHARED_FROM = 10**9  # plain lists: as before sharing
        plain = _run(engine, events)
        shared.SHARED_FROM, shared.COMPACT_AFTER = 0, 2  # shared from the first element
        assert _run(engine, events) == plain
    finally:
        shared.SHARED_FROM, shared.COMPACT_AFTER = old


@pytest.mark.parametrize("history", [300])
def test_a_long_history_shares_its_lists_and_decides_as_plain_lists(history: int) -> None:
    """coffee-club, a purchase a day: past `SHARED_FROM`, the lots, lines, activity and ids are
    shared, and every state dumps as with plain lists."""
    import datetime as dt

    engine = Engine.from_file("programs/coffee-club.yaml")
    start = dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    events = [
        {
            "id": f"p{i}",
            "type": "purchase",
            "customer": "c1",
            "time": (start + dt.timedelta(days=i, hours=i % 5)).isoformat(),
            "items": [
                {"sku": "LATTE-L", "category": "coffee", "price": "320.00", "qty": 1 + i % 3},
                {"sku": "CROISSANT", "category": "pastry", "price": "180.50", "qty": 1},
            ],
        }
        for i in range(history)
    ]
    old = shared.SHARED_FROM
    try:
        shared.SHARED_FROM = 10**9
        plain = _run(engine, events)
    finally:
        shared.SHARED_FROM = old
    sharing = _run(engine, events)
    assert sharing == plain
