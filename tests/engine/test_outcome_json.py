"""The outcome's JSON written from the slim `Result` (engine/outcome_json.py): byte for byte what
pydantic writes of the `Outcome` (`model_dump_json(exclude={"state"})`, what a store keeps), on
every example program's cases, random purchases of two example programs, random programs'
streams, and strings a client may send (quotes, backslashes, control characters, any script).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import BadgeAwarded, BudgetRelease, FreeShipping, PointsChange
from rules_engine.engine.outcome_json import STORED, UnexpectedValueError
from rules_engine.engine.result import Result, award_of
from rules_engine.engine.stream import Stream
from rules_engine.errors import EventError
from rules_engine.state.customer import CustomerState, parse_state
from tests.conftest import ROOT
from tests.engine import test_properties as properties
from tests.engine.random_programs import programs, streams
from tests.engine.test_random_programs import _engine as random_engine
from tests.test_example_expectations import _engine, _event, _params, _state

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def pydantic_json(result: Result) -> str:
    """What a store kept before: the outcome built, then written by pydantic."""
    return result.outcome().model_dump_json(exclude={"state"})


def assert_written_alike(result: Result) -> None:
    written = STORED.write(result)  # first: building the outcome caches the trace's models
    assert written == result.stored_json()
    assert written == pydantic_json(result)


def example_results(explain: bool) -> Iterator[tuple[str, Result]]:
    """Every example program's case the engine decides on its own, with its result."""
    for param in _params():
        tests_file, program, case = param.values
        if "error" in case.get("expect", {}):
            continue
        state = _state(tests_file, case)
        try:
            result = _engine(tests_file.parent / program).process(
                _event(tests_file, case), parse_state(state) if state else None, explain=explain
            )
        except EventError:
            continue
        yield param.id, result


@pytest.mark.parametrize("explain", [False, True], ids=["plain", "explain"])
def test_every_example_case_is_written_as_pydantic_writes_its_outcome(explain: bool) -> None:
    seen = 0
    for _, result in example_results(explain):
        assert_written_alike(result)
        seen += 1
    assert seen > 50  # the example programs' cases, not an empty loop


@pytest.mark.parametrize("name", properties.PROGRAMS)
@PROPERTY
@given(data=st.data())
def test_random_purchases_are_written_as_pydantic_writes_their_outcomes(
    name: str, data: st.DataObject
) -> None:
    case = data.draw(properties.cases(name))
    try:
        result = properties.engine(name).process(case.event, case.state)
    except EventError:
        return
    assert_written_alike(result)


@PROPERTY
@given(data=st.data())
def test_random_programs_streams_are_written_alike_by_process_and_by_step(data: st.DataObject) -> None:
    """Every event of a random program's stream, decided by `process` and on a working state by
    `Stream.step` (a `StreamResult`, its ledger, totals and changes made when read)."""
    drawn = data.draw(programs(), label="program")
    engine = random_engine(drawn)
    stream = Stream(engine)
    states: dict[str, CustomerState | None] = {}
    workings: dict[str, Any] = {}
    for event in data.draw(streams(drawn), label="stream"):
        customer = event["customer"]
        try:
            result = engine.process(event, states.get(customer))
        except EventError:
            continue
        assert_written_alike(result)
        states[customer] = result.state
        working = workings.get(customer) or stream.working(None)
        try:
            stepped = stream.step(event, working)
        except EventError:
            continue
        workings[customer] = working
        assert STORED.write(stepped) == result.stored_json()


text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)


@settings(max_examples=80, deadline=None)
@given(event_id=text, customer=text, sku=text)
def test_a_clients_strings_are_escaped_as_pydantic_escapes_them(
    event_id: str, customer: str, sku: str
) -> None:
    engine = properties.engine("coffee-club")
    event = {
        "id": event_id,
        "type": "purchase",
        "time": "2026-12-08T08:30:00+01:00",
        "customer": customer,
        "items": [{"sku": sku, "price": "3.20", "qty": 2}, {"sku": "ESPRESSO", "price": "2.50", "qty": 1}],
    }
    try:
        result = engine.process(event, None)
    except EventError:
        return
    assert_written_alike(result)


def test_a_value_the_writer_does_not_expect_is_written_by_the_models() -> None:
    """An award's points that are no `Decimal` (the engine gives none): the writer refuses them,
    and `stored_json` writes what the models write."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    event = {
        "id": "e1",
        "type": "purchase",
        "time": dt.datetime(2026, 12, 8, 8, 30, tzinfo=dt.UTC),
        "customer": "c1",
        "items": [{"sku": "BEANS-250", "price": Decimal("450.00"), "qty": 2}],
    }
    result = engine.process(event, None)
    assert result.awards, "the purchase earns points"
    award = result.awards[0]
    points: Any = int(award.points)
    odd = dataclasses.replace(result, awards=(award_of(award.rule, points, award.lines, award.available_at),))
    with pytest.raises(UnexpectedValueError):
        STORED.write(odd)
    with pytest.warns(UserWarning, match="Expected `decimal`"):  # pydantic's, writing the int
        assert odd.stored_json() == odd._build(with_state=False).model_dump_json(exclude={"state"})


def test_the_rarer_effects_are_written_as_pydantic_writes_them() -> None:
    assert_written_alike(rarer_result())


def rarer_result() -> Result:
    """What the example cases seldom give: a return's budget releases, a referrer's reward owed,
    points changes, a coupon redeemed, a badge, beside free shipping, in one purchase's result."""
    engine = Engine.from_file(ROOT / "programs" / "coffee-club.yaml")
    event = {
        "id": 'e"1',
        "type": "purchase",
        "time": dt.datetime(2026, 12, 8, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
        "customer": "c1",
        "items": [{"sku": "BEANS-250", "price": Decimal("450.00"), "qty": 2}],
    }
    result = engine.process(event, None)
    at = dt.datetime(2026, 12, 9, 1, 2, 3, 4, tzinfo=dt.UTC)
    rarer = dataclasses.replace(
        result,
        budgets_released=(BudgetRelease(rule="base", period="month:2026-12", points=Decimal("-12.50")),),
        referral_owed="REF-\u00e9\n",
        points_changes=(PointsChange(kind="expire", lot="e0/base", points=Decimal("1E+3"), at=at),),
        coupons_redeemed=("WELCOME",),
        badges=(BadgeAwarded(rule="badge:x", badge="x"),),
        free_shipping=FreeShipping(rule="free", amount=Decimal("4.90")),
        _outcome=None,
    )
    return rarer
