"""Next best offer (issue 16, item 14): of the offers eligible after one event, only the best
are issued — by priority, or by a declared expected value — at most `at_most` per customer and
period over all offers, never one for what the customer already bought; the trace says why each
other offer lost. Times are Moscow time (+03:00)."""

from __future__ import annotations

import textwrap

import pytest

from rules_engine.engine.evaluator import Engine
from rules_engine.engine.outcome import Outcome
from rules_engine.program.validate import load_program_text, validate_text
from tests.engine.scenario import Customer, event

HEADER = "program: t\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\npoints: {value: 0.01}\n"
COUPONS = """\
coupons:
  - {id: lens-15, percent: 15, valid_for: 30d, applies_to: item.category == "lens"}
  - {id: bag-10, percent: 10, valid_for: 30d, applies_to: item.category == "bag"}
  - {id: card-5, percent: 5, valid_for: 30d, applies_to: item.category == "card"}
"""
BY_VALUE = """\
next_best_offer: {by: expected_value, at_most: {count: 1, per: 7d}}
offers:
  - {id: lens, when: "true", coupon: lens-15, expected_value: 0.15 * 120, limit: {count: 9}}
  - {id: bag, when: "true", coupon: bag-10, expected_value: basket.total * 0.2, limit: {count: 9}}
  - {id: card, when: "true", coupon: card-5, expected_value: 1, limit: {count: 9}}
"""


def engine(body: str) -> Engine:
    return Engine(load_program_text(HEADER + COUPONS + textwrap.dedent(body), "t.yaml"))


def offers(outcome: Outcome) -> list[tuple[str, bool, str, str]]:
    return [(t.rule, t.fired, t.code, t.reason) for t in outcome.trace if t.kind == "offer"]


def issued(outcome: Outcome) -> list[str]:
    return [coupon.coupon for coupon in outcome.effects.coupons_issued]


def test_the_highest_expected_value_wins_and_the_others_say_why() -> None:
    c = Customer(engine(BY_VALUE))
    out = c.send(event("purchase", "2026-12-05T12:00:00", ("CAM", "camera", "50")))
    assert issued(out) == ["lens-15"]
    traced = offers(out)
    assert traced[0][:3] == ("offer:lens", True, "fired")
    assert traced[1:] == [
        (
            "offer:bag",
            False,
            "shadowed",
            "`lens` is the better offer (expected value 10 against 18); at most 1 per 7d",
        ),
        (
            "offer:card",
            False,
            "shadowed",
            "`lens` is the better offer (expected value 1 against 18); at most 1 per 7d",
        ),
    ]
    # the expected value reads the event: a bigger basket makes the bag offer the better one
    other = Customer(engine(BY_VALUE))
    assert issued(other.send(event("purchase", "2026-12-05T12:00:00", ("CAM", "camera", "500")))) == [
        "bag-10"
    ]


def test_at_most_n_offers_per_period_over_all_offers() -> None:
    c = Customer(engine(BY_VALUE))
    c.send(event("purchase", "2026-12-05T12:00:00", ("CAM", "camera", "50")))
    out = c.send(event("purchase", "2026-12-06T12:00:00", ("CAM", "camera", "500")))
    assert issued(out) == []
    assert {(rule, code) for rule, _, code, _ in offers(out)} == {
        ("offer:lens", "capped"),
        ("offer:bag", "capped"),
        ("offer:card", "capped"),
    }
    assert (
        offers(out)[0][3]
        == "1 offer issued already (last 2026-12-05 12:00); next best offer: at most 1 per 7d"
    )
    # a week later there is room again
    assert issued(c.send(event("purchase", "2026-12-12T12:00:00", ("CAM", "camera", "500")))) == ["bag-10"]


def test_never_an_offer_for_what_the_customer_bought_the_next_best_instead() -> None:
    c = Customer(engine(BY_VALUE))
    out = c.send(event("purchase", "2026-12-05T12:00:00", ("LENS-1", "lens", "50")))
    assert issued(out) == ["bag-10"]
    assert offers(out)[0] == (
        "offer:lens",
        False,
        "nothing_eligible",
        "already bought LENS-1, which coupon lens-15 applies to",
    )


def test_by_priority_with_two_a_week() -> None:
    c = Customer(
        engine(
            """\
            next_best_offer: {by: priority, at_most: {count: 2, per: 7d}}
            offers:
              - {id: lens, when: "true", coupon: lens-15, priority: 1}
              - {id: bag, when: "true", coupon: bag-10, priority: 5}
              - {id: card, when: "true", coupon: card-5, priority: 3}
            """
        )
    )
    out = c.send(event("purchase", "2026-12-05T12:00:00", ("CAM", "camera", "50")))
    assert issued(out) == ["bag-10", "card-5"]
    assert offers(out)[-1] == (
        "offer:lens",
        False,
        "shadowed",
        "`card` is the better offer (priority 1 against 3); at most 2 per 7d",
    )


def test_without_next_best_offer_every_eligible_offer_is_issued() -> None:
    c = Customer(
        engine(
            """\
            offers:
              - {id: lens, when: "true", coupon: lens-15}
              - {id: bag, when: "true", coupon: bag-10}
            """
        )
    )
    assert issued(c.send(event("purchase", "2026-12-05T12:00:00", ("CAM", "camera", "50")))) == [
        "lens-15",
        "bag-10",
    ]


@pytest.mark.parametrize(
    ("body", "code", "line"),
    [
        (
            "next_best_offer: {by: expected_value, at_most: {count: 1}}\n"
            'offers:\n  - {id: lens, when: "true", coupon: lens-15}\n',
            "RE130",
            12,
        ),
        ('offers:\n  - {id: lens, when: "true", coupon: lens-15, expected_value: 3}\n', "RE132", 11),
        ('offers:\n  - {id: lens, when: "true", coupon: lens-15, priority: 3}\n', "RE132", 11),
    ],
)
def test_a_choice_the_engine_could_not_make_is_refused(body: str, code: str, line: int) -> None:
    result = validate_text(HEADER + COUPONS + body, "t.yaml")
    assert [(d.code, d.span.line if d.span else 0) for d in result.errors] == [(code, line)]
