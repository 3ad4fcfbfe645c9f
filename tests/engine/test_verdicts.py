"""Trace entries recorded as `Verdict`s read as the `RuleTrace`s `rule_trace` makes.

The stages record a rule's verdict as a tuple (`verdict`, `simple_verdict`) and the result makes
the models when its trace is first read (`RuleTraces`): every field, the set of fields given (what
`exclude_unset` dumps), equality, order and pickling must be those of the models made at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.result import Award, Discount, RuleTraces, award_of, discount_of
from rules_engine.engine.trusted import rule_trace, simple_verdict, verdict

OPTIONAL: dict[str, Any] = {
    "failing": st.none() | st.lists(st.text(max_size=5), max_size=2),
    "hint": st.none() | st.text(max_size=5),
    "amount": st.none() | st.decimals(allow_nan=False, allow_infinity=False, places=2),
    "unit": st.none() | st.sampled_from(["points", "money"]),
    "condition": st.none(),
}


@given(
    st.text(max_size=8),
    st.sampled_from(["earn", "discount", "tier"]),
    st.booleans(),
    st.sampled_from(["fired", "capped", "condition_false"]),
    st.text(max_size=12),
    st.fixed_dictionaries({}, optional=OPTIONAL),
)
def test_a_verdict_reads_as_the_rule_trace_of_the_same_arguments(
    rule: str, kind: str, fired: bool, code: str, reason: str, optional: dict[str, Any]
) -> None:
    expected = rule_trace(rule, kind, fired, code, reason, **optional)
    made = verdict(rule, kind, fired, code, reason, **optional).model()
    assert made == expected
    assert made.model_fields_set == expected.model_fields_set
    assert made.model_dump_json(exclude_unset=True) == expected.model_dump_json(exclude_unset=True)
    if not optional:
        assert (
            simple_verdict(rule, kind, fired, code, reason).model().model_fields_set
            == expected.model_fields_set
        )


def test_rule_traces_read_as_the_tuple_of_their_models() -> None:
    entries = [
        simple_verdict("a", "earn", False, "wrong_event", "applies to purchase, not review"),
        rule_trace("b", "badge", True, "fired", "given"),
        verdict("c", "earn", True, "fired", "5 points", amount=Decimal(5), unit="points", condition=None),
    ]
    traces = RuleTraces(entries)
    models = (entries[0].model(), entries[1], entries[2].model())  # type: ignore[union-attr]
    assert len(traces) == 3 and traces == models and tuple(traces) == models and list(traces) == list(models)
    assert traces[0] == models[0] and traces[-1].amount == Decimal(5) and traces[1:] == models[1:]
    assert pickle.loads(pickle.dumps(traces)) == traces


def test_a_result_s_trace_is_the_same_read_before_or_after_its_outcome() -> None:
    engine = Engine.from_file("programs/coffee-club.yaml")
    event = {
        "id": "e1",
        "type": "purchase",
        "time": "2026-12-08T08:30:00+03:00",
        "customer": "c1",
        "items": [{"sku": "LATTE", "category": "coffee", "price": "320.00", "qty": 2}],
    }
    first, second = engine.process(event), engine.process(event)
    outcome = second.outcome()
    assert first.trace == tuple(outcome.trace) and list(first.trace) == outcome.trace
    assert first.outcome().model_dump_json() == outcome.model_dump_json()
    assert first == second


def test_awards_and_discounts_made_by_their_slots_are_the_dataclasses() -> None:
    """`award_of` and `discount_of` set the slots of the frozen dataclasses directly: the same
    instances as their constructors make (equal, the same fields, still frozen)."""
    at = dt.datetime(2026, 12, 8, tzinfo=dt.UTC)
    lines = ((0, "LATTE", Decimal(3)), (2, "(shipping)", Decimal(1)))
    award = award_of("base", Decimal(4), lines, at)
    assert (
        award == Award("base", Decimal(4), lines, at)
        and award.model() == Award("base", Decimal(4), lines, at).model()
    )
    assert award_of("tier:gold", Decimal(2), (), None) == Award("tier:gold", Decimal(2), ())
    discount = discount_of("refill", Decimal("64.00"), ((1, "LATTE", Decimal("64.00")),))
    assert discount == Discount("refill", Decimal("64.00"), ((1, "LATTE", Decimal("64.00")),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        award.points = Decimal(5)  # type: ignore[misc]
