"""The earn stage's shortcuts decide as its general paths, on random programs and streams.

`Plan` works out once per program which earn rules the admission gate has nothing to ask of but
the event's type (no group, schedule or condition: `EarnStep.plain`), and `earning.earn` scales
the earning base to integers once per event for the rates and basket-level awards to weigh their
lines by. A plan made with `shortcuts=False` takes the general paths (the gate for every rule,
each award's weights scaled on their own): both must give the same outcome, byte for byte, for
every event of drawn programs (tests/engine/random_programs.py) — explain off and on.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.plan import Plan
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.state.customer import CustomerState
from tests.engine.random_programs import programs, streams


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(data=st.data())
def test_the_earn_shortcuts_decide_as_the_general_paths(data: st.DataObject) -> None:
    drawn = data.draw(programs(), label="program")
    program = load_program_text(drawn.text, "random.yaml")
    fast = Engine(program, secret=b"random", generated=False)  # the stages' shortcuts, not generated code
    general = Engine(program, secret=b"random", generated=False)
    general.plan = Plan(general.compiled, shortcuts=False)
    assert not any(step.plain for step in general.plan.base_rules)
    states: dict[str, CustomerState | None] = {}
    for event in data.draw(streams(drawn), label="stream"):
        customer = event["customer"]
        state = states.get(customer)
        for explain in (False, True):
            try:
                expected = general.process(event, state, explain=explain)
            except EventError as error:
                refused = [d.code for d in error.diagnostics]
                try:
                    fast.process(event, state, explain=explain)
                except EventError as same:
                    assert [d.code for d in same.diagnostics] == refused
                else:
                    raise AssertionError(f"the shortcuts took an event the general paths refused: {refused}")
                break
            got = fast.process(event, state, explain=explain)
            assert got.outcome().model_dump_json() == expected.outcome().model_dump_json()
            if not explain:
                states[customer] = got.state
