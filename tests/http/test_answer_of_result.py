"""An event's answer written from the engine's `Result` (`answers.event_answer_of`): byte for byte
what `answers.EVENT` writes of the built `Outcome`s, with and without the trace, duplicate or not,
with a referrer's reward; on every example program's cases and random purchases; and the events
route answers with it. The same for the answer written in one pass with the stored outcome
(`answers.TEXTS`, engine/outcome_json.py `OutcomeTexts`), whose stored text is `STORED`'s, and for
its marked numbers and moments on their own.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from rules_engine.engine import outcome_json
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome_json import STORED, UnexpectedValueError
from rules_engine.engine.result import Result
from rules_engine.errors import EventError
from rules_engine.http import answers
from rules_engine.http.models import Balance
from rules_engine.http.routes.events import event_answer
from rules_engine.service import Handled, Loyalty
from rules_engine.store import open_store
from tests.conftest import ROOT
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
    try:
        stored, answered = answers.TEXTS.write(result)
    except UnexpectedValueError:  # written apart, each on its own (the service does the same)
        answered = None
    else:
        assert stored == STORED.write(result) == result.outcome().model_dump_json(exclude={"state"})
    for trace in (False, True):
        for duplicate in (False, True):
            written = answers.event_answer_of(result, duplicate, referrer, trace=trace)
            handled = Handled(result, duplicate, referrer)
            assert event_answer(handled, trace=trace) == written
            assert written == built(result, referrer, duplicate=duplicate, trace=trace)
            if answered is not None:  # what the service answers with, the text written with the stored one
                with_text = Handled(result, duplicate, referrer, answered=answered)
                assert event_answer(with_text, trace=trace) == written


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


@settings(max_examples=300, deadline=None)
@given(
    value=st.decimals(allow_nan=True, allow_infinity=True)
    | st.decimals(min_value=-(10**9), max_value=10**9, places=2)
    | st.integers(-(10**12), 10**12).map(Decimal)
)
def test_a_marked_number_reads_as_each_writer_writes_it(value: Decimal) -> None:
    """Stored as a quoted string (`str`), answered as `jsonio` writes it; an exponent or a value
    that is no number is written apart (each writer's own way)."""
    text = str(value)
    if "E" in text or not value.is_finite():
        with pytest.raises(UnexpectedValueError):
            outcome_json._marked_number(value)
        return
    marked = outcome_json._marked_number(value)
    assert outcome_json.stored_text(marked) == f'"{text}"'
    assert outcome_json.answered_text(marked) == answers._digits(value)
    # in a text, beside other values: each number its own
    two = f"[{marked},{outcome_json._marked_number(Decimal('10.50'))}]"
    assert outcome_json.answered_text(two) == f"[{answers._digits(value)},10.5]"
    assert outcome_json.stored_text(two) == f'["{text}","10.50"]'


_PYDANTIC_MOMENT = TypeAdapter(dt.datetime).serializer


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(0))])
        | st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
        | st.timedeltas(-dt.timedelta(hours=23), dt.timedelta(hours=23)).map(dt.timezone)
    )
)
def test_a_marked_moment_reads_as_each_writer_writes_it(moment: dt.datetime) -> None:
    """Stored as pydantic writes a datetime (`Z` at UTC), answered as `isoformat` writes it; an
    offset with seconds is written apart."""
    offset = moment.utcoffset()
    assert offset is not None
    if offset % dt.timedelta(minutes=1):
        with pytest.raises(UnexpectedValueError):
            outcome_json._marked_moment(moment)
        return
    marked = outcome_json._marked_moment(moment)
    assert outcome_json.stored_text(marked) == _PYDANTIC_MOMENT.to_json(moment).decode()
    assert outcome_json.answered_text(marked) == f'"{moment.isoformat()}"'


def test_the_service_answers_with_the_text_written_with_the_stored_one(tmp_path: Path) -> None:
    """`Loyalty(texts=TEXTS)`: the store keeps what it kept without it, and the answer written
    from `Handled.answered` is the one written from the result."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    rows: dict[str, list[Any]] = {}
    for name, given_texts in (("plain", None), ("texts", answers.TEXTS)):
        with open_store(str(tmp_path / f"{name}.db"), "coffee-club") as store:
            loyalty = Loyalty(engine, store, horizon=None, texts=given_texts)
            for number in range(6):
                event = {
                    "id": f"e{number}",
                    "type": "purchase",
                    "time": f"2026-12-0{number + 1}T08:30:00Z",
                    "customer": f"c{number % 2}",
                    "items": [{"sku": "LATTE-L", "price": "4.10", "qty": 1 + number}],
                }
                handled = loyalty.handle(event)
                assert (handled.answered is None) == (given_texts is None)
                if handled.answered is not None:
                    assert isinstance(handled.decided, Result)
                    plain = answers.event_answer_of(handled.decided, False, None, trace=False)
                    assert event_answer(handled) == plain
        with sqlite3.connect(tmp_path / f"{name}.db") as connection:
            rows[name] = connection.execute("SELECT event, packed FROM events ORDER BY event").fetchall()
        connection.close()
    assert len(rows["plain"]) == 6
    assert rows["plain"] == rows["texts"]  # every stored byte the same
