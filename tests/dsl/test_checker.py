"""Checking before running: names, types, arity and truth values, each with a code, span and hint."""

from __future__ import annotations

import pytest

from rules_engine import compile_condition, compile_expression, declare_symbols
from rules_engine.dsl import types as t
from rules_engine.errors import ConditionTypeError
from rules_engine.source import Origin, SourceFile


def errors(text: str, **options: object) -> list[tuple[str, int, str, str | None]]:
    with pytest.raises(ConditionTypeError) as caught:
        compile_condition(text, **options)  # type: ignore[arg-type]
    return [(d.code, d.span.column if d.span else 0, d.message, d.hint) for d in caught.value.diagnostics]


@pytest.mark.parametrize(
    ("text", "code", "column", "hint_part"),
    [
        ("bsket.total > 5", "RE301", 1, "did you mean `basket`?"),
        ("basket.totl > 5", "RE302", 8, "did you mean `total`?"),
        ('customer.teir == "gold"', "RE302", 10, "did you mean `tier`?"),
        ('event.time.wekday == "mon"', "RE302", 12, "did you mean `weekday`?"),
        ('item.sku == "x"', "RE301", 1, "per-item rules"),
        ("True", "RE301", 1, "lower case"),
        ('basket.total >= "50"', "RE303", 17, "without quotes: 50"),
        ("customer.tags + 1 > 0", "RE305", 15, None),
        ('customer.signup_date > "2026-01-01"', "RE303", 24, 'date("2026-01-01")'),
        ('event.time > date("2026-01-01")', "RE303", 12, "event.date"),
        ("customer.tier", "RE306", 1, '== "gold"'),
        ("basket.total", "RE306", 1, "> 0"),
        ('lower(1) == "a"', "RE309", 7, "lower(text)"),
        ('lower("a", "b") == "a"', "RE309", 1, "lower(text)"),
        ("round() > 1", "RE309", 1, "round(number)"),
        ("flor(basket.total) > 1", "RE307", 1, "did you mean `floor`?"),
        ("any(basket.items)", "RE308", 1, "any(item.price > 10 for item in basket.items)"),
        ("avg(item.price for item in basket.items) > 1", "RE308", 1, None),
        ("any(x > 1 for x in basket.total)", "RE311", 20, "for item in basket.items"),
        ("customer.tier and true", "RE304", 1, "!= null"),
        ("not customer.tags", "RE304", 5, "len(customer.tags) > 0"),
        ("customer.points < null", "RE304", 17, "== null"),
        ('date("2026-13-01") < event.date', "RE310", 6, '"2026-12-24"'),
        ('time("25:00") < event.time.time', "RE310", 6, '"09:30"'),
        ('[1, "a"] == [1]', "RE303", 5, None),
        ("sum(item.sku for item in basket.items) > 1", "RE309", 5, None),
        ("basket.items.total > 1", "RE302", 14, "a list has no attributes"),
        ('1 in "abc"', "RE303", 3, None),
        ('"vip" in customer.points', "RE303", 10, "customer.tier in"),
        ('-"x" == 1', "RE305", 1, None),
        ('event.time.date == "2026-12-05"', "RE303", 20, 'date("2026-12-05")'),
    ],
)
def test_checker_errors(text: str, code: str, column: int, hint_part: str | None) -> None:
    found = errors(text)
    assert found[0][0] == code, found
    assert found[0][1] == column, found
    if hint_part is not None:
        assert found[0][3] is not None and hint_part in found[0][3], found


def test_all_errors_in_one_expression_are_reported_at_once_without_echoes() -> None:
    found = errors('bsket.total > 5 and customer.teir == "gold" and lower(1) == "x"')
    assert [code for code, *_ in found] == ["RE301", "RE302", "RE309"]


def test_item_is_known_in_per_item_rules_and_inside_comprehensions() -> None:
    assert compile_condition('item.category == "coffee"', per_item=True).type == t.BOOL
    assert compile_condition('any(item.category == "coffee" for item in basket.items)').type == t.BOOL


def test_loop_variable_shadows_and_is_scoped() -> None:
    compile_condition("any(p.qty > 1 for p in customer.purchases)")
    found = errors("any(p.qty > 1 for p in customer.purchases) and p.qty > 1")
    assert found[0][0] == "RE301"


def test_custom_attributes_are_type_checked() -> None:
    schema = declare_symbols(item={"brand": t.TEXT}, customer={"birthday_month": t.NUMBER})
    compile_condition('item.brand == "acme" and customer.birthday_month == 12', schema, per_item=True)
    found = errors('customer.birthday_month == "12"', schema=schema)
    assert found[0][0] == "RE303"


def test_constants_are_names_with_types() -> None:
    compile_condition("basket.total >= min_spend", constants={"min_spend": 50})
    found = errors("basket.total >= house", constants={"house": "acme"})
    assert found[0][0] == "RE303"
    found = errors("basket.total >= min_spnd", constants={"min_spend": 50})
    assert found[0][3] == "did you mean `min_spend`?"


def test_types_of_expressions() -> None:
    assert str(compile_expression("basket.total / 2").type) == "number"
    assert compile_expression("basket.total / 2").type.nullable
    assert not compile_expression("basket.total * 2").type.nullable
    assert str(compile_expression("customer.tags").type) == "list of text"
    assert str(compile_expression("event.time - 1d").type) == "datetime"
    assert str(compile_expression("event.date - customer.signup_date").type) == "duration"
    assert compile_expression("customer.signup_date").type.nullable


def test_type_errors_point_into_the_yaml_file() -> None:
    text = 'tiers:\n  gold:\n    when: basket.total >= "50"\n'
    file = SourceFile("programs/gold.yaml", text)
    start = text.index("basket")
    with pytest.raises(ConditionTypeError) as caught:
        compile_condition('basket.total >= "50"', origin=Origin(file, base=start))
    span = caught.value.span
    assert span is not None
    assert (span.file.name, span.line, span.column, span.end_column) == ("programs/gold.yaml", 3, 27, 31)


def test_an_amount_that_is_a_condition_is_said_to_be_one() -> None:
    """Issue 16, item 9: `award: basket.total >= 10` said "a condition must be true or false, but
    this is bool"; an amount must be a number, and the hint says where the condition goes."""
    from rules_engine.errors import ProgramError
    from rules_engine.program.validate import load_program_text

    text = (
        "program: t\nversion: 1\ntimezone: UTC\ncurrency: EUR\n"
        "earn:\n  - {id: x, award: basket.total >= 10}\n"
    )
    with pytest.raises(ProgramError) as caught:
        load_program_text(text, "t.yaml")
    (problem,) = caught.value.diagnostics
    assert problem.code == "RE306"
    assert problem.message.startswith("an amount must be a number")
    assert problem.hint is not None and "`when`" in problem.hint
    assert problem.span is not None and (problem.span.line, problem.span.column) == (6, 20)
