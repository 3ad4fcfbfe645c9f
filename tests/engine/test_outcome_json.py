"""The outcome's JSON written from the slim `Result` (engine/outcome_json.py): byte for byte what
pydantic writes of the `Outcome` (`model_dump_json(exclude={"state"})`, what a store keeps), on
every example program's cases, random purchases of two example programs, random programs'
streams, and strings a client may send (quotes, backslashes, control characters, any script).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules_engine.engine import outcome_json
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import (
    BadgeAwarded,
    BudgetRelease,
    CouponIssued,
    DrawEntry,
    FreeShipping,
    Notification,
    Outcome,
    PointsChange,
    TierChange,
    TierProgress,
    Totals,
)
from rules_engine.engine.outcome_json import STORED, UnexpectedValueError
from rules_engine.engine.result import Result, award_of, discount_of
from rules_engine.engine.stream import Stream
from rules_engine.engine.trusted import Verdict, simple_verdict, verdict
from rules_engine.errors import EventError
from rules_engine.http import answers
from rules_engine.state.customer import CustomerState, LedgerEntry, LedgerLine, parse_state
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


# -- the rarer effects written by the writer itself (`OutcomeTexts`: marked) ------------------------

words = st.text(st.characters(codec="utf-8"), max_size=8)
amounts = st.decimals(min_value=-(10**7), max_value=10**7, places=2) | st.integers(-(10**6), 10**6).map(
    Decimal
)
whole_minutes = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
zones = st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(0))]) | whole_minutes
aware = st.datetimes(min_value=dt.datetime(1990, 1, 1), timezones=zones)

rare_effects = st.fixed_dictionaries(
    {
        "free_shipping": st.none() | st.builds(FreeShipping, rule=words, amount=amounts),
        "coupons_issued": st.lists(
            st.builds(CouponIssued, rule=words, coupon=words, code=words, expires_at=aware), max_size=2
        ),
        "coupons_redeemed": st.lists(words, max_size=2),
        "badges": st.lists(st.builds(BadgeAwarded, rule=words, badge=words), max_size=2),
        "tier_changes": st.lists(
            st.builds(TierChange, old=st.none() | words, new=st.none() | words, reason=words), max_size=2
        ),
        "notifications": st.lists(
            st.builds(Notification, rule=words, channel=words, template=words, at=st.none() | aware),
            max_size=2,
        ),
        "draw_entries": st.lists(
            st.builds(DrawEntry, rule=words, draw=words, count=st.integers()), max_size=2
        ),
        "points_changes": st.lists(
            st.builds(
                PointsChange,
                kind=st.sampled_from(["event", "available", "expire", "burn", "reverse", "refund"]),
                lot=words,
                points=amounts,
                at=aware,
            ),
            max_size=2,
        ),
        "budgets_released": st.lists(
            st.builds(BudgetRelease, rule=words, period=words, points=amounts), max_size=2
        ),
    }
)

ANSWERED = answers.Writer(Outcome)
"""The answer's outcome as the service wrote it from the built `Outcome` (http/answers.py)."""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(effects=rare_effects)
def test_the_rarer_effects_are_written_in_one_pass_as_their_models_write_them(
    effects: dict[str, Any],
) -> None:
    """Every kind of the rarer effects, written by the one-pass writer's own methods (not by
    their models): the stored text is pydantic's, the answer's is the answer writer's of the
    built outcome; and by `STORED` (their models) the same."""
    base = rarer_result()
    values = {name: value if name == "free_shipping" else tuple(value) for name, value in effects.items()}
    result = dataclasses.replace(base, **values, _outcome=None)
    stored, answered = answers.TEXTS.write(result)
    assert stored == STORED.write(result) == pydantic_json(result)
    assert answered.encode() == ANSWERED.dumps(result.outcome(), exclude={"state", "trace"})


class OddBadge(BadgeAwarded):
    """A model of a subclass: its model might write it otherwise."""


def test_a_rarer_effect_of_a_subclass_is_written_apart() -> None:
    result = dataclasses.replace(rarer_result(), badges=(OddBadge(rule="r", badge="b"),), _outcome=None)
    with pytest.raises(UnexpectedValueError):
        answers.TEXTS.write(result)
    assert STORED.write(result) == pydantic_json(result)  # by the models: as they write it


# -- the trace's entries written by identity -----------------------------------------------------

verdicts = st.builds(
    verdict,
    rule=words,
    kind=st.sampled_from(["earn", "discount", "badge"]),
    fired=st.booleans(),
    code=st.sampled_from(["fired", "condition_false", "capped"]),
    reason=words,
    hint=st.none() | words,
    amount=st.none() | amounts,
    unit=st.none() | st.sampled_from(["points", "money"]),
)


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(verdicts, max_size=6))
def test_a_trace_entry_is_written_as_its_model_however_often(entries: list[Verdict]) -> None:
    """Written once, then again (by identity): each time its `RuleTrace`'s JSON."""
    expected = ",".join(entry.model().model_dump_json() for entry in entries)
    assert STORED.trace(entries) == expected
    assert STORED.trace(entries) == expected


def test_a_new_entry_where_a_written_one_was_is_written_anew() -> None:
    """An entry written, then let go: a new entry (another rule, other words) may be made where
    it was, at its id; it is written as itself, never as the one before. Past the cache's size
    too, where the texts kept are let go."""
    for number in range(2 * outcome_json._VERDICTS + 10):
        entry = simple_verdict(f"rule-{number}", "earn", False, "condition_false", f"reason {number}")
        assert STORED.trace([entry]) == entry.model().model_dump_json()
        del entry  # its memory free for the next one's tuple


def test_an_entry_whose_failing_list_grew_is_written_anew() -> None:
    """A generated stage's constant entry is given `failing=[]`: written by identity while the
    list is empty; were it to grow, the entry is written with what it holds."""
    failing: list[str] = []
    entry = verdict("r", "earn", False, "condition_false", "condition is false", failing=failing, hint=None)
    assert STORED.trace([entry]) == entry.model().model_dump_json()
    failing.append("basket.total >= 30 (was 12)")
    assert STORED.trace([entry]) == entry.model().model_dump_json()
    assert STORED.verdict(entry) == entry.model().model_dump_json()


def test_entries_made_anew_at_every_event_are_written_but_not_kept_by_identity() -> None:
    """A rule that fired records a new entry at every event with the same values: written as
    itself from the values' text, and not kept by its identity (it is never seen again), so that
    a service's writer holds no such entry, however many events it writes; a constant entry (the
    first of its values) is kept and found by identity."""
    writer = outcome_json.OutcomeWriter(
        outcome_json._quoted_number, STORED.moment, outcome_json._pydantic, ledger_by_model=True
    )
    constant = simple_verdict("base", "earn", True, "fired", "15 points")
    expected = constant.model().model_dump_json()
    assert writer.trace([constant]) == expected
    for _ in range(3 * outcome_json._VERDICTS):
        fresh = simple_verdict("base", "earn", True, "fired", "".join(["15 ", "points"]))
        assert fresh is not constant
        assert writer.trace([fresh, constant]) == f"{expected},{expected}"
    assert [held[0] for held in writer._entries.values()] == [constant]  # the fresh ones let go


# -- both texts of one pass against the models' writers, on random outcomes --------------------------

odd = words | st.sampled_from(
    ['"', "\\", '\\"', "\x00\x01\x02\x03\x04\x05\x1f\x7f", "\u00e9\u2028\U0001f600", "+00:00Z"]
)
numbers = (
    amounts
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.sampled_from(
        [
            Decimal("-0"),
            Decimal("-0.00"),
            Decimal("0.000"),
            Decimal("100.10"),
            Decimal("1E+3"),
            Decimal("-1E-9"),
        ]
    )
    | st.integers(-(10**30), 10**30).map(lambda n: Decimal(n).scaleb(-12))
)
shares = st.lists(st.tuples(st.integers(0, 99), odd, numbers), max_size=3).map(tuple)
outcomes = st.fixed_dictionaries(
    {
        "event": odd,
        "customer": odd,
        "awards": st.lists(
            st.builds(award_of, rule=odd, points=numbers, lines=shares, available_at=st.none() | aware),
            max_size=3,
        ).map(tuple),
        "discounts": st.lists(st.builds(discount_of, rule=odd, amount=numbers, lines=shares), max_size=2).map(
            tuple
        ),
        "totals": st.builds(
            Totals,
            basket=numbers,
            discount=numbers,
            shipping=numbers,
            to_pay=numbers,
            earning_base=numbers,
            points=numbers,
        ),
        "ledger": st.lists(
            st.builds(
                LedgerEntry,
                event=odd,
                rule=odd,
                kind=st.sampled_from(["earn", "burn", "expire", "reverse", "adjust"]),
                points=numbers,
                lot=odd,
                at=aware,
                version=st.integers(0, 10**6),
                rule_hash=st.none() | odd,
                lines=st.lists(
                    st.builds(LedgerLine, line=st.integers(0, 99), points=numbers), max_size=3
                ).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
        "tier_progress": st.none()
        | st.builds(
            TierProgress,
            tier=st.none() | odd,
            metric=numbers,
            window=odd,
            next=st.none() | odd,
            needed=st.none() | numbers,
        ),
        "referral_owed": st.none() | odd,
    }
)


_rarer = functools.cache(rarer_result)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=outcomes, effects=rare_effects)
def test_both_texts_of_one_pass_are_the_models_texts(values: dict[str, Any], effects: dict[str, Any]) -> None:
    """`OutcomeTexts.write` (one marked text, split into the two) on random outcomes — awards and
    discounts with their line shares, totals, ledger entries, tier progress, every rarer effect,
    strings with quotes, backslashes, control characters and any script, decimals huge and tiny,
    negative zero, trailing zeros: the stored text is pydantic's, the answer's is the answer
    writer's of the built outcome; a number with an exponent is written apart (raises)."""
    rare: dict[str, Any] = {
        name: value if name == "free_shipping" else tuple(value) for name, value in effects.items()
    }
    result = dataclasses.replace(_rarer(), **values, **rare, _outcome=None)
    stored = pydantic_json(result)
    try:
        written, answered = answers.TEXTS.write(result)
    except UnexpectedValueError:
        assert "E" in stored  # an exponent: `Result.stored_json` writes it through the models
        return
    assert written == stored
    assert answered.encode() == ANSWERED.dumps(result.outcome(), exclude={"state", "trace"})
