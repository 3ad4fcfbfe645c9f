"""Lints that reason about conditions (RE512–RE516, issue 16): each at its line and column, with a
hint, and none on rules that can apply."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from rules_engine.program.validate import validate_file, validate_text

HEADER = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: RUB\npoints: {value: 0.01}\n"
TIERS = (
    "tiers:\n  qualify_on: spend\n  window: calendar_year\n  levels:\n"
    "    - {id: member, threshold: 0}\n    - {id: gold, threshold: 500}\n"
)
PROGRAMS = Path(__file__).resolve().parents[2] / "programs"


def warnings(body: str) -> list[tuple[str, int, int, str, str | None]]:
    result = validate_text(HEADER + textwrap.dedent(body), "shop.yaml", today=dt.date(2026, 11, 24))
    assert result.errors == []
    return [
        (d.code, d.span.line if d.span else 0, d.span.column if d.span else 0, d.message, d.hint)
        for d in result.warnings
    ]


def only(body: str, code: str) -> tuple[int, int, str, str | None]:
    found = [w for w in warnings(body) if w[0].startswith("RE51")]
    assert [w[0] for w in found] == [code], found
    return found[0][1:]


def test_a_contradiction_is_shown_where_its_two_parts_are() -> None:
    line, column, message, hint = only(
        """\
        earn:
          - id: big
            when: event.channel == "app" or basket.total > 100 and basket.total < 50
            award: 10
        """,
        "RE512",
    )
    assert (line, column) == (8, 37)
    assert message == (
        "`basket.total > 100` and `basket.total < 50` never hold together, so this part of the "
        "condition is always false"
    )
    assert hint is not None and "direction" in hint


def test_a_contradiction_inside_a_loop_and_in_a_per_item_condition() -> None:
    found = warnings(
        """\
        earn:
          - id: pair
            when: any(i.price > 10 and i.price <= 5 for i in basket.items)
            award: 10
          - id: line
            for_each_item: item.qty >= 3 and not (item.qty > 2)
            award: 1
            cap: {per_event: 10}
        """
    )
    assert [(code, line) for code, line, *_ in found] == [("RE512", 8), ("RE512", 11)]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            TIERS + 'earn:\n  - {id: plat, when: customer.tier == "platinum", award: 10}\n',
            "the tiers are member, gold",
        ),
        (
            'earn:\n  - {id: t, when: customer.tier == "gold", award: 10}\n',
            "the program has no tiers",
        ),
        (
            'earn:\n  - {id: r, on: [purchase], when: event.type == "review", award: 10}\n',
            "`on`: purchase",
        ),
        (
            'earn:\n  - id: evening\n    active: {hours: {start: "07:00", end: "10:00"}}\n'
            "    when: event.time.hour >= 18\n    award: 10\n",
            "schedule",
        ),
        (
            "earn:\n  - id: weekend\n    active: {weekdays: [sat, sun]}\n"
            '    when: event.time.weekday == "tue"\n    award: 10\n',
            "schedule",
        ),
        ("earn:\n  - {id: refund, when: basket.total < 0, award: 10}\n", "never below 0"),
    ],
)
def test_a_condition_that_the_program_rules_out(body: str, words: str) -> None:
    _, _, message, hint = only(body, "RE513")
    assert words in message
    assert hint


def test_a_schedule_without_a_day() -> None:
    line, column, message, _ = only(
        """\
        discounts:
          - id: weekend-sale
            percent: 10
            active: {start: 2026-12-01, end: 2026-12-03, weekdays: [sat, sun]}
        """,
        "RE514",
    )
    assert (line, column) == (9, 60)
    assert message == "from 2026-12-01 to 2026-12-03 there is no sat or sun, so this schedule is never on"


def test_multipliers_that_stack_uncapped() -> None:
    found = warnings(
        TIERS
        + textwrap.dedent(
            """\
            earn:
              - {id: base, rate: 1 per 10}
              - {id: tuesday, when: event.time.weekday == "tue", multiply: 2, cap: {per_event: 100}}
              - {id: app, when: event.channel == "app", multiply: 3}
            """
        )
    )
    stacked = [w for w in found if w[0] == "RE515"]
    assert len(stacked) == 1
    _, line, _, message, hint = stacked[0]
    assert line == 15
    assert message == (
        "`tuesday` (×2) and `app` (×3) can multiply the same points: ×6 together, and nothing caps "
        "the product"
    )
    assert hint is not None and "exclusive group" in hint


def test_multipliers_that_cannot_meet_do_not_stack() -> None:
    for body in [
        'earn:\n  - {id: a, when: event.channel == "app", multiply: 2}\n'
        '  - {id: b, when: event.channel == "web", multiply: 3}\n',
        "earn:\n  - {id: a, active: {weekdays: [mon]}, multiply: 2}\n"
        "  - {id: b, active: {weekdays: [tue]}, multiply: 3}\n",
        "earn:\n  - {id: a, multiply: 2, group: g, priority: 2}\n"
        "  - {id: b, multiply: 3, group: g, priority: 1}\n",
        "earn:\n  - {id: a, multiply: 2, cap: {per_event: 50}}\n"
        "  - {id: b, multiply: 3, budget: {points: 9}}\n",
    ]:
        assert "RE515" not in [w[0] for w in warnings(body)], body


def test_a_rule_its_exclusive_group_always_shadows() -> None:
    line, column, message, hint = only(
        """\
        earn:
          - {id: medium, when: basket.total >= 50, award: 10, group: spend, priority: 2}
          - {id: large, when: basket.total >= 100, award: 30, group: spend, priority: 1}
        """,
        "RE516",
    )
    assert (line, column) == (8, 23)
    assert message == (
        "`large` never applies: whenever its condition holds, so does that of `medium`, which has a "
        "higher priority in exclusive group `spend`"
    )
    assert hint is not None and "higher priority than `medium`" in hint


def test_an_exclusive_group_in_the_right_order_is_fine() -> None:
    assert (
        warnings(
            """\
        earn:
          - {id: large, when: basket.total >= 100, award: 30, group: spend, priority: 2}
          - {id: medium, when: basket.total >= 50, award: 10, group: spend, priority: 1}
        discounts:
          - {id: big, when: basket.total >= 100, percent: 10, group: d, priority: 2}
          - {id: small, when: basket.total >= 50, percent: 5, group: d, priority: 1}
        """
        )
        == []
    )


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PROGRAMS.glob("*.yaml") if not p.name.endswith(".tests.yaml")),
    ids=lambda p: p.stem,
)
def test_no_false_alarms_on_the_example_programs(path: Path) -> None:
    result = validate_file(path, today=dt.date(2026, 11, 24))
    assert [d.code for d in result.diagnostics if d.code.startswith("RE51")] == []
