"""A state is a value: no event changes a state it was given, or one it returned before.

The stages change the run's own copy of the state in place after its first change
(`run.change_state`), and the state's long lists are windows on a storage shared with earlier
states, appended to after its end (state/shared.py; tests/engine/test_shared_lists.py shares
them from the first element): each only ever touches what the event itself made. Over
random programs (every mechanic, tiers, expiry, returns, redemptions, messages) and streams, every
state the engine was given or returned dumps the same at the end of the stream as when it was
made, and an event decided again on the state it was given decides the same.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.random_programs import programs, streams


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_no_event_changes_a_state_given_or_returned_before(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    engine = Engine(load_program_text(drawn.text, "random.yaml"), secret=b"random")
    events = data.draw(streams(drawn, customers=2, events=16), label="events")
    states: dict[str, CustomerState | None] = {}
    seen: list[tuple[CustomerState, dict[str, Any]]] = []  # every state, with its dump when made
    for event in events:
        before = states.get(event["customer"])
        try:
            result = engine.process(event, before)
        except EventError:
            continue
        again = engine.process(event, before)  # the same event on the same state: the same answer
        assert again.state.model_dump(mode="json") == result.state.model_dump(mode="json")
        assert again.outcome().model_dump(mode="json") == result.outcome().model_dump(mode="json")
        seen.append((result.state, result.state.model_dump(mode="json")))
        states[event["customer"]] = result.state
    for state, dumped in seen:
        assert state.model_dump(mode="json") == dumped
