"""Parsing: the required forms, syntax errors in plain words at the right column, limits, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from rules_engine.dsl import ast
from rules_engine.dsl.ast import unparse
from rules_engine.dsl.parser import MAX_DEPTH, MAX_LENGTH, _lark, parse_condition
from rules_engine.errors import ConditionSyntaxError
from rules_engine.source import Origin, SourceFile

REQUIRED_FORMS = [
    "42",
    "19.99",
    '"text"',
    "'text'",
    '"with \\"escapes\\" and \\n"',
    "true",
    "false",
    "null",
    '["gold", "platinum"]',
    "30d",
    "12h",
    "15m",
    "2w",
    'date("2026-12-24")',
    'time("09:30")',
    "event.type",
    "event.time.weekday",
    "event.time.hour",
    "event.date",
    "event.channel",
    "basket.total",
    "basket.items",
    "customer.tier",
    "customer.points",
    "customer.tags",
    "customer.purchases",
    "customer.signup_date",
    "a or b and not c == d",
    "x in [1, 2] and y not in [3]",
    "a + b - c * d / e % f",
    "-x",
    "f(x).y",
    "(a)",
    'any(item.category == "coffee" for item in basket.items)',
    "all(item.qty > 0 for item in basket.items)",
    'count(item.category == "pastry" for item in basket.items)',
    'sum(item.price * item.qty for item in basket.items if item.category == "pastry")',
    "min(item.price for item in basket.items)",
    "max(item.price for item in basket.items)",
    "max(1, 2, 3)",
]


@pytest.mark.parametrize("text", REQUIRED_FORMS)
def test_required_forms_parse_and_round_trip(text: str) -> None:
    tree = parse_condition(text)
    assert parse_condition(unparse(tree)) == tree


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("a or b and c", "a or (b and c)"),
        ("not a and b", "(not a) and b"),
        ("not a == b", "not (a == b)"),
        ("a == b + c", "a == (b + c)"),
        ("a + b * c", "a + (b * c)"),
        ("-a * b", "(-a) * b"),
        ("-a.b", "-(a.b)"),
        ("a - b - c", "(a - b) - c"),
        ("a in b or c not in d", "(a in b) or (c not in d)"),
    ],
)
def test_precedence(text: str, shape: str) -> None:
    assert parse_condition(text) == parse_condition(shape)


@pytest.mark.parametrize("keyword", ["and", "or", "not", "in", "for", "if", "true", "false", "null"])
def test_keywords_are_never_names_but_names_may_start_with_them(keyword: str) -> None:
    assert parse_condition(f"{keyword}x == 1") == ast.Compare("==", ast.Name(f"{keyword}x"), ast.Literal(1))
    with pytest.raises(ConditionSyntaxError):
        parse_condition(f"basket.{keyword} == 1")


def test_spans_are_character_offsets_in_the_expression() -> None:
    tree = parse_condition('customer.tier == "gold"')
    assert isinstance(tree, ast.Compare)
    assert tree.left.span == (0, 13)
    assert tree.right.span == (17, 23)
    assert tree.op_span == (14, 16)


@pytest.mark.parametrize(
    ("text", "code", "column", "message_part", "hint_part"),
    [
        ("basket.total >= 50 and", "RE203", 23, "expected a value after `and`", "finish"),
        ("basket.total >= ", "RE203", 16, "after `>=`", None),
        ("a = 1", "RE201", 3, "`=`", "`==`"),
        ("a && b", "RE201", 3, "`&`", "`and`"),
        ("a || b", "RE201", 3, "`|`", "`or`"),
        ("!a", "RE201", 1, "`!`", "`not`"),
        ('customer.tier == "gold', "RE202", 18, "never closed", 'closing "'),
        ("(a + b", "RE204", 1, "`(` is never closed", "`)`"),
        ("[1, 2", "RE204", 1, "`[` is never closed", "`]`"),
        ("a + b)", "RE204", 6, "`)` has no matching `(`", None),
        ("a < b < c", "RE205", 7, "chained", "a < b and b < c"),
        ("basket.total 50", "RE201", 14, "between `basket.total` and `50`", None),
        ("basket.", "RE203", 8, "attribute name", None),
        ('"\\q"', "RE206", 2, "unknown escape", None),
        ('"caf\\ud800"', "RE206", 5, "surrogate", "character itself"),  # crashed `check` printing it
        ("", "RE207", 1, "empty", None),
        ("   ", "RE207", 1, "empty", None),
        ("30days", "RE201", 1, "number", "durations"),
        ("1234567890123456789012345678901", "RE212", 1, "digits", None),
        ("basket.total(", "RE201", 13, "not a function", None),
        ("basket.total >> 20", "RE201", 15, "`>` and `>` in a row", "remove one"),
        ("a and and b", "RE203", 7, "after `and`", None),
        ("true == and", "RE201", 9, "`==` and `and` in a row", None),
    ],
)
def test_syntax_errors_are_plain_words_at_the_right_column(
    text: str, code: str, column: int, message_part: str, hint_part: str | None
) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == code
    assert diagnostic.span is not None
    assert diagnostic.span.line == 1
    assert diagnostic.span.column == column
    assert message_part in diagnostic.message
    assert diagnostic.hint
    if hint_part:
        assert hint_part in diagnostic.hint
    assert "__ANON" not in diagnostic.message and "LPAR" not in diagnostic.message


def test_errors_in_a_multi_line_expression_name_the_line() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition("basket.total >= 50\n  and customer.tier ==\n")
    span = caught.value.span
    assert span is not None
    assert (span.line, span.column) == (2, 23)


def test_errors_map_through_an_origin_into_the_file() -> None:
    file = SourceFile("programs/gold.yaml", 'earn:\n  - when: "basket.total >= = 50"\n')
    start = file.text.index("basket")
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition("basket.total >= = 50", Origin(file, base=start))
    span = caught.value.span
    assert span is not None
    assert (span.file.name, span.line, span.column) == ("programs/gold.yaml", 2, 28)


def test_too_long() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition("1 + " * (MAX_LENGTH // 4) + "1")
    assert caught.value.code == "RE210"


@pytest.mark.parametrize(
    "text",
    [
        "not " * 200 + "x",
        "-" * 300 + "x",
        "(" * 300 + "x" + ")" * 300,
        "1" + " + 1" * 900,
        "[" * 200 + "]" * 200,
        "f(" * 300 + ")" * 300,
    ],
)
def test_deep_nesting_is_a_clear_error_never_a_recursion_error(text: str) -> None:
    try:
        tree = parse_condition(text)
    except ConditionSyntaxError as error:
        assert error.code in {"RE210", "RE211"}
    else:  # parentheses alone add no depth; what parses must be shallow enough to check
        depth, stack = 0, [(tree, 1)]
        while stack:
            node, level = stack.pop()
            depth = max(depth, level)
            stack.extend((child, level + 1) for child in ast.children(node))
        assert depth <= MAX_DEPTH


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_random_text_parses_or_raises_our_error(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as error:
        span = error.span
        assert span is not None
        assert 0 <= span.start <= span.end <= len(text) + 1


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(from_lark(_lark(), start="start"))
def test_grammar_generated_text_parses_or_raises_our_error(text: str) -> None:
    try:
        tree = parse_condition(text)
    except ConditionSyntaxError as error:
        assert error.code.startswith("RE2")
    else:
        assert parse_condition(unparse(tree)) == tree


@settings(max_examples=300)
@given(st.text(alphabet=" abcdinotrul()[]=<>!+-*/%.\"',0123456789_", max_size=40))
def test_operator_soup_parses_or_raises_our_error(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as error:
        assert error.code.startswith("RE2")
