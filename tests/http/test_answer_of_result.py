"""An event's answer written from the engine's `Result` (`answers.event_answer_of`): byte for byte
what `answers.EVENT` writes of the built `Outcome`s, with and without the trace, duplicate or not,
with a referrer's reward; on every example program's cases and random purchases; and the events
route answers with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.result import Result
from rules_engine.errors import EventError
from rules_engine.http import answers
from rules_engine.http.models import Balance
from rules_engine.http.routes.events import event_answer
from rules_engine.service import Handled
from tests.engine import test_properties as properties
from tests.engine.test_outcome_json import example_results, rarer_result


def built(result: Result, referrer: Result | None, *, duplicate: bool, trace: bool) -> bytes:
    """The answer as the route wrote it before: from the outcomes, built."""
    outcome = result.outcome()
    exclude = {"state"} if trace else {"state", "trace"}
    body: answers.EventAnswer = {
        "program": outcome.program,
        "version": outcome.version,
        "duplicate": duplicate,
        "outcome": outcome,
        "balance": Balance.of(outcome.state, outcome.customer),
        "referrer": None if referrer is None else referrer.outcome(),
    }
    return answers.EVENT.dumps(body, exclude={"outcome": exclude, "referrer": exclude})


def assert_answered_alike(result: Result, referrer: Result | None = None) -> None:
    for trace in (False, True):
        for duplicate in (False, True):
            written = answers.event_answer_of(result, duplicate, referrer, trace=trace)
            handled = Handled(result, duplicate, referrer)
            assert event_answer(handled, trace=trace) == written
            assert written == built(result, referrer, duplicate=duplicate, trace=trace)


def results(explain: bool) -> Iterator[Result]:
    for _, result in example_results(explain):
        yield result


@pytest.mark.parametrize("explain", [False, True], ids=["plain", "explain"])
def test_every_example_case_is_answered_as_from_its_outcome(explain: bool) -> None:
    decided = list(results(explain))
    assert len(decided) > 50
    for result in decided:
        assert_answered_alike(result)
    assert_answered_alike(decided[0], decided[1])  # a referrer's reward beside it


@pytest.mark.parametrize("name", properties.PROGRAMS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_purchases_are_answered_as_from_their_outcomes(name: str, data: st.DataObject) -> None:
    case = data.draw(properties.cases(name))
    try:
        result = properties.engine(name).process(case.event, case.state)
    except EventError:
        return
    assert_answered_alike(result)


def test_an_outcome_a_store_kept_is_answered_from_the_outcome() -> None:
    """A redelivery's outcome (read back from the store: an `Outcome`) is written as before."""
    result = next(results(False))
    kept: Any = result.outcome()
    handled = Handled(kept, True)
    assert event_answer(handled) == built(result, None, duplicate=True, trace=False)


def test_the_rarer_effects_are_answered_as_from_their_outcome() -> None:
    assert_answered_alike(rarer_result())
