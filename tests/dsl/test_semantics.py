"""The language's meaning, run on both back ends: literals, operators, null rules, aggregates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.conftest import Evaluate

MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("19.99", Decimal("19.99")),
        ("0.1 + 0.2 == 0.3", True),
        ("7 / 2 == 3.5", True),
        ("7 / 2", Decimal("3.5")),
        ("6 / 2", 3),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"tab\\there"', "tab\there"),
        ('"\\u00e9t\\u00e9"', "été"),
        ("true", True),
        ("false", False),
        ("null", None),
        ('["gold", "platinum"]', ("gold", "platinum")),
        ("30d", dt.timedelta(days=30)),
        ("12h", dt.timedelta(hours=12)),
        ("15m", dt.timedelta(minutes=15)),
        ("2w", dt.timedelta(weeks=2)),
        ("1d12h", dt.timedelta(days=1, hours=12)),
        ('date("2026-12-24")', dt.date(2026, 12, 24)),
        ('time("09:30")', dt.time(9, 30)),
        ('datetime("2026-12-24T10:00:00+03:00")', dt.datetime(2026, 12, 24, 10, tzinfo=MSK)),
    ],
)
def test_literals(evaluate: Evaluate, text: str, expected: object) -> None:
    value = evaluate(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("-2 * 3", -6),
        ("10 - 4 - 3", 3),
        ("12 / 4 / 3", 1),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("7.5 % 2", Decimal("1.5")),
        ("-7.5 % 2", Decimal("0.5")),
        ("not 1 < 2", False),
        ("not false and false", False),
        ("true or false and false", True),
        ('"ab" + "cd"', "abcd"),
        ('"vip" in ["vip", "new"]', True),
        ('"vip" not in ["vip", "new"]', False),
        ('"off" in "coffee"', True),
        ('date("2026-12-24") + 7d', dt.date(2026, 12, 31)),
        ('date("2026-12-24") - date("2026-12-01")', dt.timedelta(days=23)),
        ("2w - 1d", dt.timedelta(days=13)),
        ("(2w - 1d).days", 13),
        ("(1d12h).hours", 36),
    ],
)
def test_operators(evaluate: Evaluate, text: str, expected: object) -> None:
    value = evaluate(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a missing optional value is null, and `== null` tests for it
        ("customer.birthday == null", True),
        ("customer.birthday != null", False),
        ("null == null", True),
        # ordering with null is false, whichever the side, and so is its negation's comparison
        ('customer.birthday < date("2030-01-01")', False),
        ('customer.birthday >= date("2030-01-01")', False),
        # arithmetic with null is null
        ("basket.shipping + 1 == null", True),
        ("-basket.shipping == null", True),
        # division and remainder by zero give null, never an exception
        ("basket.total / 0 == null", True),
        ("basket.total % 0 == null", True),
        ("basket.total / (basket.total - basket.total) == null", True),
        # a null condition counts as false; and/or/not give true or false, never null
        ("basket.shipping > 0 or false", False),
        ("not (basket.shipping > 0)", True),
        ("(basket.shipping / 0 == 1) and true", False),
        # functions return null on null input
        ("lower(event.store) == null", False),
        ("upper(basket.currency)", "RUB"),
        ("abs(basket.shipping) == null", True),
        ("coalesce(basket.shipping, 0)", 0),
        ("coalesce(customer.birthday, customer.signup_date)", dt.date(2025, 3, 14)),
        ("len(customer.birthday.weekday) == null", True),
        # in / not in with null
        ("customer.birthday in [null]", True),
        ("basket.shipping in [1, 2]", False),
        ("basket.shipping not in [1, 2]", True),
    ],
)
def test_null_rules(evaluate: Evaluate, text: str, expected: object) -> None:
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("round(0.5)", 1),
        ("round(1.5)", 2),
        ("round(2.345, 2)", Decimal("2.35")),
        ("round(-2.345, 2)", Decimal("-2.35")),
        ("round(1234, -2)", 1200),
        ("round(1250.0, -2)", 1300),
        ("floor(2.7)", 2),
        ("floor(-2.1)", -3),
        ("ceil(2.1)", 3),
        ("ceil(-2.7)", -2),
        ("abs(-3.25)", Decimal("3.25")),
        ("1 / 3 * 3 == 1", False),
        ("round(1 / 3, 4)", Decimal("0.3333")),
    ],
)
def test_rounding_is_half_away_from_zero(evaluate: Evaluate, text: str, expected: object) -> None:
    value = evaluate(text)
    assert value == expected
    assert type(value) is type(expected)


BASKET = {
    "event": {"id": "e", "type": "purchase", "time": "2026-12-07T08:00:00+03:00"},
    "basket": {
        "total": 1000,
        "items": [
            {"sku": "a", "category": "coffee", "price": 3.5, "qty": 2},
            {"sku": "b", "category": "pastry", "price": 2.25, "qty": 3},
            {"sku": "c", "price": 10, "qty": 1},
            {"sku": "d", "category": "pastry", "price": 1.1, "qty": 1},
        ],
    },
    "customer": {"tags": ["vip"]},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('any(item.category == "coffee" for item in basket.items)', True),
        ('any(item.category == "tea" for item in basket.items)', False),
        ("all(item.qty >= 1 for item in basket.items)", True),
        ("all(item.category != null for item in basket.items)", False),
        ('count(item.category == "pastry" for item in basket.items)', 2),
        ('sum(item.price * item.qty for item in basket.items if item.category == "pastry")', Decimal("7.85")),
        ("sum(item.qty for item in basket.items)", 7),
        ("min(item.price for item in basket.items)", Decimal("1.1")),
        ("max(item.price for item in basket.items)", 10),
        ('max(item.price for item in basket.items if item.category == "tea")', None),
        ('sum(item.price for item in basket.items if item.category == "tea")', 0),
        ('any(item.qty > 0 for item in basket.items if item.category == "tea")', False),
        ('all(item.qty > 9 for item in basket.items if item.category == "tea")', True),
        ("min(item.category for item in basket.items)", "coffee"),
        # a null element is skipped by sum/min/max and is false for any/all/count
        ('count(item.category > "a" for item in basket.items)', 3),
        ('any(any(tag == "vip" for tag in customer.tags) for item in basket.items)', True),
        ("count(x > 1 for x in [1, 2, 3])", 2),
        ("min(3, 1, 2)", 1),
        ("max(basket.shipping, 4, 2)", 4),
        ("min(basket.shipping, basket.tax)", None),
        ("basket.item_count", 7),
        ("count(true for item in basket.items)", 4),
    ],
)
def test_aggregates(evaluate: Evaluate, text: str, expected: object) -> None:
    value = evaluate(text, BASKET)
    assert value == expected
    if expected is not None:
        assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("event.time.weekday", "sat"),
        ("event.time.hour", 9),
        ("event.time.minute", 15),
        ("event.date", dt.date(2026, 12, 5)),
        ("event.date.weekday", "sat"),
        ("event.time.date == event.date", True),
        ('event.time.time < time("10:00")', True),
        ("customer.signup_date.year", 2025),
        ("days_between(customer.signup_date, event.date)", 631),
        ('days_between(event.time, date("2026-12-24"))', 19),
        ("event.time + 1d > event.time", True),
        ("(event.time + 12h).weekday", "sat"),
        ("(event.time + 15h).weekday", "sun"),
        ("event.date - customer.signup_date > 365d", True),
        ('event.date < date("2026-12-31") and event.date >= date("2026-12-01")', True),
    ],
)
def test_dates_and_times(evaluate: Evaluate, text: str, expected: object) -> None:
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('lower("CoFFee")', "coffee"),
        ('upper("vip")', "VIP"),
        ('trim("  x ")', "x"),
        ('starts_with(customer.id, "card-")', True),
        ('ends_with("latte", "te")', True),
        ('contains("Butter croissant", "crois")', True),
        ('contains(customer.tags, "vip")', True),
        ("len(customer.tags)", 2),
        ('len("кофе")', 4),
        ('any(starts_with(item.sku, "LATTE") for item in basket.items)', True),
    ],
)
def test_functions(evaluate: Evaluate, text: str, expected: object) -> None:
    assert evaluate(text) == expected


def test_custom_attributes_and_constants(evaluate: Evaluate) -> None:
    from rules_engine import declare_symbols
    from rules_engine.dsl import types as t

    schema = declare_symbols(item={"brand": t.TEXT}, customer={"birthday_month": t.NUMBER})
    context = {
        "basket": {"total": 10, "items": [{"sku": "x", "price": 1, "qty": 1, "brand": "acme"}]},
        "customer": {"birthday_month": 12},
    }
    text = (
        "any(item.brand == house for item in basket.items)"
        " and customer.birthday_month == 12 and basket.total >= min_spend"
    )
    assert (
        evaluate(text, context, schema=schema, constants={"house": "acme", "min_spend": Decimal("9.5")})
        is True
    )


@pytest.mark.parametrize(
    "text",
    [
        "event.date + 999999999d",
        "event.time + 999999999d",
        "999999999d + 999999999d",
        'date("0001-01-01") - 1d',
        "-999999999d23h59m59s",
    ],
)
def test_date_arithmetic_out_of_range_is_null_not_a_crash(evaluate: Evaluate, text: str) -> None:
    assert evaluate(text) is None


def test_a_time_of_day_has_no_offset() -> None:
    from rules_engine import ConditionTypeError, compile_condition

    with pytest.raises(ConditionTypeError) as caught:
        compile_condition('time("09:30+03:00") < event.time.time')
    assert caught.value.code == "RE310"


def test_nested_loops_are_limited_so_evaluation_ends_quickly() -> None:
    from rules_engine import ConditionTypeError, compile_expression

    three = "sum(sum(sum(1 for a in [1, 2]) for b in [1, 2]) for c in [1, 2])"
    assert compile_expression(three).evaluate({}) == 8
    with pytest.raises(ConditionTypeError) as caught:
        compile_expression(f"sum({three} for d in [1, 2])")
    assert caught.value.code == "RE213"


def test_both_back_ends_refuse_a_context_without_a_root_they_read() -> None:
    from rules_engine import ContextError, compile_condition, make_context

    expression = compile_condition("customer.points > 1 or basket.total > 1")
    context = make_context({"basket": {"total": 5}})
    for run in (expression.evaluate, expression.interpret, expression.explain):
        with pytest.raises(ContextError):
            run(context)


def test_constants_must_be_language_values() -> None:
    from rules_engine import compile_expression

    assert compile_expression("x * 2", constants={"x": 0.1}).evaluate({}) == Decimal("0.2")
    with pytest.raises(ValueError, match="hide the context object"):
        compile_expression("basket > 1", constants={"basket": 3})
    with pytest.raises(ValueError, match="not a value of the language"):
        compile_expression("x", constants={"x": {"a": 1}})
