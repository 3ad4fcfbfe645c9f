"""`validate`: every problem in a program at once, each at the exact place in the file."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from rules_engine.program.validate import validate_text
from rules_engine.render import render_diagnostic

HEADER = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\n"


def problems(body: str, **options: object) -> list[tuple[str, int, int, str, str | None]]:
    result = validate_text(HEADER + textwrap.dedent(body), "shop.yaml", **options)  # type: ignore[arg-type]
    return [
        (d.code, d.span.line if d.span else 0, d.span.column if d.span else 0, d.message, d.hint)
        for d in result.diagnostics
    ]


def first(body: str, **options: object) -> tuple[str, int, int, str, str | None]:
    found = problems(body, **options)
    assert found, "expected a problem"
    return found[0]


def test_a_valid_program() -> None:
    assert problems("earn:\n  - id: base\n    rate: 1 per 100\n") == []


def test_unknown_field_with_did_you_mean() -> None:
    code, line, column, message, hint = first("earn:\n  - id: base\n    rte: 1 per 100\n")
    assert (code, line, column) == ("RE111", 7, 5)
    assert message == "unknown field `rte`"
    assert hint == "did you mean `rate`?"


def test_missing_field_points_at_its_parent() -> None:
    code, line, _, message, _ = first(
        "tiers:\n  window: rolling 365d\n  levels:\n    - {id: a, threshold: 0}\n"
    )
    assert code == "RE112"
    assert message == "missing field `qualify_on`"
    assert line == 5


def test_wrong_type() -> None:
    code, line, column, message, _ = first("earn:\n  - id: base\n    rate: 1 per 100\n    priority: high\n")
    assert (code, line, column) == ("RE113", 8, 15)
    assert "must be integer" in message


def test_bad_duration_and_date_and_rate() -> None:
    found = problems(
        """\
        points: {expire_after: 12 months}
        earn:
          - id: base
            rate: 1 for 100
            active: {start: 2026-13-01}
        """
    )
    codes = [(code, line) for code, line, *_ in found]
    assert ("RE115", 5) in codes  # duration
    assert ("RE115", 8) in codes  # rate
    assert any(line == 9 for _, line in codes)  # date
    assert len(found) == 3


def test_yaml_1_1_pitfalls_do_not_bite() -> None:
    result = validate_text(
        HEADER + "earn:\n  - id: base\n    on: [purchase]\n    rate: 1 per 100\n"
        "constants: {country: NO, yes_please: yes}\n",
        "shop.yaml",
    )
    assert result.errors == []
    assert result.program is not None
    assert result.program.constants == {"country": "NO", "yes_please": "yes"}


def test_duplicate_keys_are_errors() -> None:
    code, line, *_ = first("earn:\n  - id: base\n    rate: 1 per 100\n    rate: 2 per 100\n")
    assert (code, line) == ("RE102", 8)


def test_rule_needs_exactly_one_way_to_count() -> None:
    code, line, _, message, _ = first("earn:\n  - id: base\n    rate: 1 per 100\n    award: 5\n")
    assert code == "RE117"
    assert "exactly one of rate, award or multiply" in message
    assert line == 6


def test_unknown_references_and_duplicate_ids() -> None:
    found = problems(
        """\
        badges: [{id: coffee-lover}]
        earn:
          - {id: base, rate: 1 per 100}
          - {id: base, award: 5}
        challenges:
          - id: weekly
            goal: 5
            window: calendar_week
            reward: {points: 10, badge: cofee-lover, coupon: nope}
        """
    )
    codes = {(code, message) for code, _, _, message, _ in found}
    assert ("RE121", "duplicate id `base` in earn") in codes
    assert ("RE122", "no badge `cofee-lover` is defined") in codes
    assert ("RE122", "no coupon `nope` is defined") in codes
    hints = {hint for *_, hint in found}
    assert "did you mean `coffee-lover`?" in hints


def test_tier_thresholds_out_of_order() -> None:
    code, line, _, _, hint = first(
        "tiers:\n  qualify_on: spend\n  window: calendar_year\n  levels:\n"
        "    - {id: gold, threshold: 1000}\n    - {id: silver, threshold: 500}\n"
    )
    assert (code, line) == ("RE123", 10)
    assert hint == "list tiers from the lowest threshold to the highest"


def test_expression_errors_land_exactly_in_the_file() -> None:
    body = (
        "earn:\n"
        "  - id: plain\n    when: basket.totl > 5\n    award: 1\n"
        '  - id: quoted\n    when: "customer.tier == 1"\n    award: 1\n'
        "  - id: block\n    when: |\n      basket.total > 5 and\n"
        '      customer.teir == "gold"\n    award: 1\n'
    )
    found = problems(body)
    assert [(c, line, col) for c, line, col, *_ in found] == [
        ("RE302", 7, 18),
        ("RE303", 10, 29),
        ("RE302", 15, 16),
    ]


def test_all_errors_are_reported_at_once_and_rendered_with_a_caret() -> None:
    result = validate_text(
        HEADER + 'earn:\n  - id: base\n    rate: 1 per 100\n    when: basket.total >= "50"\n', "shop.yaml"
    )
    (diagnostic,) = result.errors
    text = render_diagnostic(diagnostic)
    assert text.splitlines() == [
        "shop.yaml:8:27: error[RE303]: cannot compare number with text",
        "  |",
        '8 |     when: basket.total >= "50"',
        "  |                           ^^^^",
        "  = hint: write the number without quotes: 50",
    ]


def test_per_item_expressions_see_item() -> None:
    assert (
        problems(
            'earn:\n  - id: p\n    for_each_item: item.category == "x"\n    award: 5 * item.qty\n'
            "    cap: {per_day: 10}\n"
        )
        == []
    )
    code, *_ = first('earn:\n  - id: p\n    when: item.category == "x"\n    award: 5\n')
    assert code == "RE301"


def test_custom_attributes_and_constants_are_known_to_expressions() -> None:
    assert (
        problems(
            "attributes: {item: {brand: text}}\nconstants: {house: acme}\n"
            "earn:\n  - id: p\n    for_each_item: item.brand == house\n    award: 1\n    cap: {per_day: 1}\n"
        )
        == []
    )
    code, *_ = first("attributes: {item: {brand: colour}}\n")
    assert code == "RE117"
    code, _, _, message, _ = first("attributes: {customer: {tier: number}}\n")
    assert code == "RE117"
    assert "standard attribute" in message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            "earn:\n  - id: old\n    rate: 1 per 100\n    active: {start: 2020-01-01, end: 2020-02-01}\n",
            "RE501",
        ),
        ("earn:\n  - id: never\n    when: 1 > 2\n    award: 5\n", "RE502"),
        (
            "tiers:\n  qualify_on: spend\n  window: calendar_year\n  levels:\n"
            "    - {id: a, threshold: 0}\n    - {id: b, threshold: 0}\n",
            "RE503",
        ),
        ("earn:\n  - id: x2\n    multiply: 2\n", "RE504"),
        (
            "coupons: [{id: c, percent: 5, valid_for: 30d}]\n"
            "offers: [{id: o, when: 'true', coupon: c, notify: {channel: push, template: t}}]\n",
            "RE505",
        ),
        (
            "earn:\n  - {id: a, award: 5, group: g, priority: 2}\n"
            "  - {id: b, award: 9, group: g, priority: 1}\n",
            "RE506",
        ),
    ],
)
def test_lints_are_warnings(body: str, code: str) -> None:
    result = validate_text(HEADER + body, "shop.yaml", today=dt.date(2026, 11, 24))
    assert result.errors == []
    assert code in [d.code for d in result.warnings]
    assert result.ok() and not result.ok(strict=True)


def test_same_priority_in_an_exclusive_group_is_an_error() -> None:
    code, *_ = first("earn:\n  - {id: a, award: 5, group: g}\n  - {id: b, award: 9, group: g}\n")
    assert code == "RE124"
