"""A working state's word that its deques are its state's (`Working.made_parts`'s last element).

`WholeState.of` takes the working state's deques of lots and activity over without comparing each
tuple's model with the state's when the working state says they stand for the state `public()`
gives (engine/whole/state.py `_tuples`, `exact`): a year of lots not walked at the first purchase
of a customer. The word must be true whenever it is given, whatever moved the working state
before — a whole step, a step in place, an event through `process` (`defer`), a public state read
or not: hypothesis drives streams of every kind of event and checks, after each, that when the
working state says so, every lot's and every activity's tuple holds the public state's model at
its place.
"""

from __future__ import annotations

import contextlib
from itertools import cycle
from operator import is_
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.state.compact import ACT_MODEL_OF, LOT_MODEL_OF
from rules_engine.state.working import Working
from tests.engine.test_whole_stream import COFFEE, LONG, coffee_streams


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_file(COFFEE)


def _exact(working: Working) -> bool:
    """The working state's word, checked: True only when its deques are the public state's as
    they are when it says so (their models read before `public()`, which may fill some in)."""
    lots, activity, _, _, exact = working.made_parts()
    if exact:
        lot_models, activity_models = list(map(LOT_MODEL_OF, lots)), list(map(ACT_MODEL_OF, activity))
        state = working.public()
        assert len(lot_models) == len(state.lots)
        assert all(map(is_, lot_models, state.lots))
        assert len(activity_models) == len(state.activity)
        assert all(map(is_, activity_models, state.activity))
    return exact


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "in place"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=coffee_streams(), reads=st.lists(st.booleans(), min_size=1, max_size=8))
def test_the_deques_are_said_to_be_the_states_only_when_they_are(
    engine: Engine, whole: bool, events: list[dict[str, Any]], reads: list[bool]
) -> None:
    stream = Stream(engine, whole=whole)
    workings: dict[str, Working] = {}
    for data, read in zip(events, cycle(reads)):
        working = workings.get(data["customer"])
        if working is None:
            working = workings[data["customer"]] = stream.working(None)
            assert _exact(working)  # made from its state
        with contextlib.suppress(EventError):  # refused: the working state as it was
            stream.step(data, working)
        _exact(working)
        if read:  # a store writes the state: the next step starts from it
            working.public()
            _exact(working)


def test_a_loaded_state_is_taken_over_as_it_is_and_a_held_one_is_not(engine: Engine) -> None:
    """Loaded, the working state says its deques are its state's, and the whole step's state takes
    them over; holding the whole state, or after an event through `process`, it does not say so."""
    state = None
    for event in LONG[:120]:
        state = engine.process(event, state).state
    stream = Stream(engine)
    working = stream.working(state)
    lots = working.made_parts()[0]
    assert _exact(working)
    purchase = next(e for e in LONG[120:] if e["type"] == "purchase")
    wholes = stream.wholes
    stream.step(purchase, working)
    assert stream.wholes == wholes + 1
    assert working.whole is not None and working.whole.lots is lots  # taken over, not copied
    assert not _exact(working)
    working.public()
    assert not _exact(working)  # held: the whole state's deques are its own
    opened = {"type": "app_open", "id": "open-1", "customer": purchase["customer"], "time": purchase["time"]}
    stream.step(opened, working)
    assert working.whole is None and not _exact(working)  # deferred: made when read
    working.lots  # noqa: B018  # made now
    assert _exact(working)
