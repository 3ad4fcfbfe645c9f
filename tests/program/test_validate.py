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
    assert problems("points: {value: 0.01}\nearn:\n  - id: base\n    rate: 1 per 100\n") == []


def test_a_key_yaml_reads_as_a_boolean_is_an_unknown_field_not_a_crash() -> None:
    """`on:` or `true:` where the schema has no such field: a TypeError in the hint's search before."""
    code, _, _, message, _ = first("earn:\n  - id: base\n    rate: 1 per 100\nearning_base:\n  true: 1\n")
    assert (code, message) == ("RE111", "unknown field `True`")


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


def test_every_unknown_and_every_missing_field_of_a_mapping_is_reported_in_file_order() -> None:
    """Two misspelt fields in one mapping were one problem, the first in alphabetical order (not
    in the file), and four required fields missing were one: fixed, the file failed again on
    the next. Each is reported, unknown fields in the order written, missing in the schema's."""
    body = "earn:\n  - id: base\n    rate: 1 per 100\n    zeta: 1\n    rte: 2\nalpha: 3\n"
    found = [(code, line, message) for code, line, _, message, _ in problems(body)]
    assert found == [
        ("RE111", 8, "unknown field `zeta`"),
        ("RE111", 9, "unknown field `rte`"),
        ("RE111", 10, "unknown field `alpha`"),
    ]
    result = validate_text("name: a shop\nzeta: 1\n", "shop.yaml")
    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("RE112", "missing field `program`"),
        ("RE112", "missing field `version`"),
        ("RE112", "missing field `timezone`"),
        ("RE112", "missing field `currency`"),
        ("RE111", "unknown field `zeta`"),
    ]


def test_wrong_type() -> None:
    code, line, column, message, _ = first("earn:\n  - id: base\n    rate: 1 per 100\n    priority: high\n")
    assert (code, line, column) == ("RE113", 8, 15)
    assert message == '`priority` must be a whole number, not the text "high"'


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
            "    cap: {per_day: 10}\npoints: {value: 1}\n"
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
            "points: {value: 1}\n"
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
        (
            "earn:\n  - id: pair\n    for_each_item: any(x.sku == item.sku for x in basket.items)\n"
            "    award: 5\n    cap: {per_event: 10}\n",
            "RE312",
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


def test_an_example_in_a_hint_is_written_as_yaml_not_python() -> None:
    assert first("constants: 5\n")[4] == "for example {min_spend: 500}"
    assert (
        first("earn: 5\n")[4] == "for example [{id: base, description: 1 bean per 100 RUB, rate: 1 per 100}]"
    )
    assert first("badges: [{id: critic, reward: {points: 1}, on: review}]\n")[4] == "for example [review]"


def test_every_example_shown_in_a_hint_loads_back_as_itself() -> None:
    """A hint's example can be pasted into the file: it is YAML that loads as the example."""
    from rules_engine.program import loader
    from rules_engine.program.schema import program_schema
    from rules_engine.program.structure import _flow

    schema = program_schema()
    properties = [*schema["properties"].values()]
    for definition in schema["$defs"].values():
        properties += definition.get("properties", {}).values()
    shown = 0
    for field_schema in properties:
        example = field_schema["examples"][0]
        data, _ = loader.load_yaml(f"value: {_flow(example)}\n")
        assert data["value"] == example, _flow(example)
        shown += 1
    assert shown > 120


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        (
            "earn:\n  - id: Base\n    rate: 1 per 100\n",
            "an id is lower case letters, digits, `-` and `_`, for example",
        ),
        ("points: {pending: 2 weeks}\n", "a duration is a number and a unit"),
        ("earn:\n  - id: b\n    rate: 1 for 100\n", "a rate is <points> per <amount>"),
        (
            "earn:\n  - id: b\n    rate: 1 per 100\n    active: {hours: {start: 3pm, end: '17:00'}}\n",
            'a time of day is HH:MM, 24-hour, for example "07:00"',
        ),
        ("currency2: x\n", "did you mean `currency`?"),
        ("earn:\n  - id: b\n    rate: 1 per 100\n    active: {end: 01/03/2027}\n", "a date is YYYY-MM-DD"),
    ],
)
def test_a_badly_written_value_gets_a_hint_that_states_the_format(body: str, hint: str) -> None:
    """Not the field's description ("Stable id."), which says what it is for, not how to write it."""
    assert first(body)[4].startswith(hint)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("date", "hint"),
    [
        ("2026-02-30", "February 2026 has 28 days"),
        ("2028-02-30", "February 2028 has 29 days"),
        ("2026-13-01", "the month is 01 to 12: YYYY-MM-DD"),
    ],
)
def test_a_date_written_right_that_is_not_in_the_calendar_says_why(date: str, hint: str) -> None:
    assert first(f"draws: [{{id: d, closes: {date}}}]\n")[3:] == (f'"{date}" is not a valid date', hint)


def test_a_window_hint_names_every_kind_of_window() -> None:
    hint = first("leaderboards: [{id: m, metric: points, window: rolling 4 weeks}]\n")[4]
    assert hint is not None
    assert "rolling and a duration (rolling 30d)" in hint and "calendar_quarter" in hint


def test_a_value_that_is_neither_of_two_shapes_names_both() -> None:
    code, line, column, message, hint = first("earn:\n  - id: b\n    rate: 1 per 100\n    active: 2026\n")
    assert (code, line, column) == ("RE113", 8, 13)
    assert message == "`active` must be a list or a mapping of fields, not the number 2026"
    assert hint == "for example {start: 2026-12-01, end: 2026-12-31}"


def test_a_mapping_given_as_a_scalar_gets_the_fields_example() -> None:
    assert first("earn:\n  - id: b\n    rate: 1 per 100\n    cap: 50\n")[3:] == (
        "`cap` must be a mapping of fields, not the number 50",
        "for example {per_day: 50}",
    )


def test_a_quoted_number_is_told_to_lose_its_quotes() -> None:
    assert first('points: {value: "0.01"}\n')[3:] == (
        '`value` must be a number, not the text "0.01"',
        "write the number without quotes: 0.01",
    )


def test_a_missing_field_hint_shows_how_to_write_it() -> None:
    *_, message, hint = first("coupons:\n  - id: welcome\n    percent: 10\n")
    assert message == "missing field `valid_for`"
    assert hint == "How long after it is issued the coupon can be used, e.g. `valid_for: 30d`"


def test_a_schedule_that_ends_before_it_starts_is_one_problem_not_two() -> None:
    """`active` is `list[Schedule] | Schedule`: the list branch's "not a list" is noise."""
    for active in ("{start: 2026-12-31, end: 2026-12-01}", "[{start: 2026-12-31, end: 2026-12-01}]"):
        found = problems(f"earn:\n  - id: b\n    rate: 1 per 100\n    active: {active}\n")
        assert [message for _, _, _, message, _ in found] == [
            "the schedule ends before it starts; swap `start` and `end`"
        ]


def test_an_unknown_time_zone_suggests_the_closest() -> None:
    result = validate_text(HEADER.replace("Europe/Moscow", "Europe/Londn"), "shop.yaml")
    assert [d.message for d in result.errors] == [
        "unknown time zone `Europe/Londn`; did you mean Europe/London?"
    ]


def test_warnings_come_in_file_order_like_errors() -> None:
    body = (
        "tiers:\n  qualify_on: spend\n  window: calendar_year\n  hold: next_period\n  levels:\n"
        "    - {id: a, threshold: 0}\n    - {id: b, threshold: 0}\n"
        "earn:\n  - id: old\n    rate: 1 per 100\n    active: {start: 2020-01-01, end: 2020-02-01}\n"
        "  - id: never\n    when: 1 > 2\n    award: 5\npoints: {value: 1}\n"
    )
    found = problems(body, today=dt.date(2026, 11, 24))
    assert [code for code, *_ in found] == ["RE503", "RE501", "RE502"]
    assert [line for _, line, *_ in found] == sorted(line for _, line, *_ in found)


def test_no_frequency_cap_is_reported_where_a_message_is_sent() -> None:
    """Not at line 1: a file that sends offers often has no `notifications` section at all."""
    code, line, column, *_ = first(
        "coupons: [{id: c, percent: 5, valid_for: 30d}]\n"
        "offers:\n  - id: o\n    when: customer.points > 100\n    coupon: c\n"
        "    notify: {channel: push, template: t}\npoints: {value: 1}\n"
    )
    assert (code, line, column) == ("RE505", 10, 13)


def test_amounts_and_points_have_at_most_15_digits_so_the_engine_computes_them_exactly() -> None:
    assert problems("points: {value: 0.01}\nearn:\n  - id: base\n    rate: 1 per 100\n") == []
    code, line, column, message, _ = first(
        "points: {value: 0.0123456789012345}\nearn:\n  - id: base\n    rate: 1 per 100\n"
    )
    assert (code, line, column) == ("RE117", 5, 17)
    assert "no more than 15 digits" in message


# -- issue 11: wrong money --------------------------------------------------------------------------


def test_issue_11_a_negative_award_is_refused_where_it_is_written() -> None:
    # `award: -10` used to pass, then never fired ("no eligible amount").
    code, line, column, _, hint = first("earn:\n  - id: minus\n    award: -10\n")
    assert (code, line, column) == ("RE125", 7, 12)
    assert hint
    assert first("earn:\n  - id: minus\n    award: 5 - 15\n")[:3] == ("RE125", 7, 12)
    # an award that reads the basket may be anything: the engine traces a negative one
    assert [
        p[0] for p in problems("points: {value: 1}\nearn:\n  - {id: ok, award: basket.total - 10}\n")
    ] == []


def test_issue_11_an_unknown_currency_is_refused_with_the_closest_code() -> None:
    text = "program: shop\nversion: 1\ntimezone: Europe/Moscow\ncurrency: EUE\npoints: {value: 1}\n"
    result = validate_text(text, "shop.yaml")
    [problem] = result.errors
    assert problem.code == "RE126"
    assert problem.span is not None and (problem.span.line, problem.span.column) == (4, 11)
    assert problem.hint == "did you mean EUR?"
    for known in ("EUR", "JPY", "KWD", "XOF"):
        assert validate_text(text.replace("EUE", known), "shop.yaml").errors == []


def test_money_off_finer_than_the_currency_is_refused_where_it_is_written() -> None:
    """`amount: 2.25` in yen would leave 93.75 yen to pay and an earning base in fractions of a yen
    (the engine's two paths even rounded it apart): refused, at the amount, with amounts that fit."""
    text = (
        "program: shop\nversion: 1\ntimezone: Asia/Tokyo\ncurrency: JPY\npoints: {value: 1}\n"
        "earn:\n  - {id: base, rate: 1 per 100}\n"
        "discounts:\n  - id: tenth\n    amount: 2.25\n    per: order\n"
        "coupons:\n  - id: welcome\n    valid_for: 30d\n    amount: 100.5\n"
    )
    result = validate_text(text, "shop.yaml")
    found = [(p.code, p.span.line, p.span.column, p.hint) for p in result.errors if p.span is not None]
    assert found == [
        ("RE133", 10, 13, "write an amount a till can give, e.g. 2 or 3"),
        ("RE133", 15, 13, "write an amount a till can give, e.g. 100 or 101"),
    ]
    assert "JPY amounts have no decimals" in result.errors[0].message
    # the same amounts where the currency has cents, or whole yen, are programs like any other
    assert validate_text(text.replace("JPY", "EUR"), "shop.yaml").errors == []
    whole = text.replace("2.25", "2").replace("100.5", "100")
    assert validate_text(whole, "shop.yaml").errors == []
    assert validate_text(text.replace("2.25", "2.00").replace("100.5", "100.0"), "shop.yaml").errors == []
    # three decimals: too fine for euros, right for dinars
    fine = whole.replace("amount: 2\n", "amount: 0.005\n")
    assert [p.code for p in validate_text(fine.replace("JPY", "EUR"), "shop.yaml").errors] == ["RE133"]
    assert validate_text(fine.replace("JPY", "BHD"), "shop.yaml").errors == []


def _one(body: str, severity: str) -> tuple[str, int, str, str | None]:
    """(code, line, the text it points at, hint) of the one error or warning of `body`."""
    text = HEADER + "points: {value: 1}\n" + body
    result = validate_text(text, "shop.yaml")
    found = result.errors if severity == "error" else result.warnings
    if severity == "warning":
        assert result.errors == []
    [problem] = found
    assert problem.span is not None
    return problem.code, problem.span.line, text[problem.span.start : problem.span.end], problem.hint


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        (
            "earn:\n  - {id: base, rate: 1 per 100}\n  - {id: same, multiply: 1, cap: {per_event: 9}}\n",
            8,
            "1",
        ),
        ("earn:\n  - {id: nothing, award: 0}\n", 7, "0"),
        ("earn:\n  - {id: nothing, rate: 0 per 100}\n", 7, "0 per 100"),
        (
            "tiers:\n  qualify_on: spend\n  window: lifetime\n  levels:\n"
            "    - {id: a, threshold: 0, benefits: {earn_multiplier: 1}}\n",
            10,
            "1",
        ),
        ("challenges:\n  - {id: c, goal: 3, window: calendar_week, reward: {points: 0}}\n", 7, "0"),
    ],
)
def test_issue_11_a_rule_that_changes_nothing_is_a_warning(body: str, line: int, text: str) -> None:
    code, at, pointed, hint = _one(body, "warning")
    assert (code, at, pointed) == ("RE127", line, text) and hint


def test_issue_11_points_without_a_value_are_a_warning() -> None:
    result = validate_text(HEADER + "earn:\n  - {id: base, rate: 1 per 100}\n", "shop.yaml")
    assert [(d.code, d.span.line if d.span else 0) for d in result.warnings] == [("RE128", 4)]
    text = HEADER + "points: {name: beans}\nearn:\n  - {id: base, rate: 1 per 100}\n"
    result = validate_text(text, "shop.yaml")
    assert [(d.code, d.span.line if d.span else 0) for d in result.warnings] == [("RE128", 5)]
    assert result.ok() and not result.ok(strict=True)


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("earn:\n  - {id: r, on: [review], for_each_item: item.qty > 1, award: 5}\n", 7, "for_each_item"),
        ("earn:\n  - {id: r, on: [review], rate: 1 per 100}\n", 7, "rate"),
        ("earn:\n  - {id: r, on: [review], exclude: item.qty > 1, award: 5}\n", 7, "exclude"),
        ("catalog:\n  - {id: mug, name: A mug, cost: 100, reward: {points: 10}}\n", 7, "points"),
        ("notifications:\n  points_expiring: {before: 14d, template: t}\n", 7, "points_expiring"),
        ("notifications:\n  tier_downgrade: {before: 14d, template: t}\n", 7, "tier_downgrade"),
        ("discounts:\n  - {id: d, applies_to: item.qty > 1, free_shipping: true}\n", 7, "applies_to"),
        (
            "coupons: [{id: c, percent: 5, valid_for: 30d}]\n"
            "offers: [{id: o, when: 'true', coupon: c, skip_bought: true}]\n",
            7,
            "skip_bought",
        ),
    ],
)
def test_issue_11_fields_the_engine_would_ignore_together_are_refused(
    body: str, line: int, text: str
) -> None:
    code, at, pointed, hint = _one(body, "error")
    assert (code, at, pointed) == ("RE129", line, text) and hint


def test_issue_11_points_that_expire_before_they_can_be_spent_are_refused() -> None:
    text = HEADER + "points: {value: 1, pending: 30d, expire_after: 30d}\n"
    [error] = validate_text(text, "shop.yaml").errors
    assert error.code == "RE129" and error.span is not None
    assert (error.span.line, text[error.span.start : error.span.end]) == (5, "pending")


TIERS = "tiers:\n  qualify_on: spend\n  levels: [{id: a, name: A, threshold: 0}]\n"


@pytest.mark.parametrize(
    ("field", "written"),
    [
        ("points:\n  expire_after", "3000000d"),
        ("points:\n  pending", "36526d"),
        (f"{TIERS}  window", "rolling 3000000d"),
        (f"{TIERS}  window", "rolling 99999999999999d"),  # more than a timedelta: the window had no length
    ],
)
def test_a_duration_past_100_years_is_refused_at_its_place(field: str, written: str) -> None:
    # it passed validate; then every event was RE417, `run` stopped with an OverflowError, and a
    # rolling window too long for a timedelta failed an assertion in dry-run
    body = f"{field}: {written}\n"
    found = [(code, line) for code, line, _, _, _ in problems(body) if code == "RE117"]
    assert found == [("RE117", 5 + body.count("\n") - 1)]


def test_a_rolling_window_of_no_length_is_refused_at_its_place() -> None:
    # it counted nothing, and the program written back said `window: rolling`, which no longer reads
    body = f"{TIERS}  window: rolling 0d\n"
    found = [(code, line, message) for code, line, _, message, _ in problems(body) if code == "RE117"]
    assert [(code, line) for code, line, _ in found] == [("RE117", 5 + body.count("\n") - 1)]
    assert "more than 0" in found[0][2]
