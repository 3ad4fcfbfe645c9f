"""The loop budget: nested loops are counted and bounded, the same way on both back ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from rules_engine import Context, Expression, LoopBudgetError, compile_condition, compile_expression
from rules_engine.dsl import budget
from rules_engine.dsl.parser import parse_condition
from rules_engine.errors import ConditionError, EventError, Severity
from tests.dsl.test_differential import CONTEXTS, ITEMS, bool_expr, compile_generated
from tests.steps import python_steps

QUADRATIC = 'item.category == "coffee" and any(x.category == "pastry" for x in basket.items)'
CUBIC = "any(any(x.sku == y.sku and x != y for y in basket.items) for x in basket.items)"
# Each inner loop stops at line i, after i steps, but is charged for the whole list.
NESTED = "all(any(x.sku == y.sku for y in basket.items) for x in basket.items)"


def basket(lines: int, **extra: Any) -> dict[str, Any]:
    items = [{"sku": f"s{i}", "category": "coffee", "price": 1, "qty": 1} for i in range(lines)]
    return {"basket": {"total": lines, "items": items}, **extra}


def line_context(expression: Expression, lines: int) -> Context:
    data = basket(lines)
    return expression.context({**data, "item": data["basket"]["items"][0]})


def run(expression: Expression, context: Context, backend: str) -> Any:
    return expression.evaluate(context) if backend == "compiled" else expression.interpret(context)


@pytest.fixture
def small_budget() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "MAX_LOOP_STEPS", 40)
        yield


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("basket.total > 1", 0),
        ("any(x.qty > 1 for x in basket.items)", 1),
        (CUBIC, 2),
        # A loop in another loop's list runs once: not nested.
        ("any(x > 1 for x in [sum(i.qty for i in basket.items)])", 1),
        ("count(x > 1 for x in [1] if any(t == 'a' for t in customer.tags))", 2),
    ],
)
def test_nesting_is_the_depth_of_loops_inside_loops(text: str, depth: int) -> None:
    assert budget.nesting(parse_condition(text)) == depth


def test_a_single_loop_is_not_counted_and_compiles_as_before() -> None:
    """The fast path pays nothing: no counter where loops do not nest."""
    for text, per_item in [("any(x.qty > 1 for x in basket.items)", False), ('item.sku == "a"', True)]:
        expression = compile_condition(text, per_item=per_item)
        assert expression.budget is None
        assert "_b" not in expression.python_source


def test_a_loop_in_a_per_item_rule_is_counted() -> None:
    expression = compile_condition(QUADRATIC, per_item=True)
    assert expression.budget is not None
    assert "_b[0] -= _len(_it)" in expression.python_source


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
def test_a_quadratic_per_item_rule_on_a_huge_basket_is_refused_fast(backend: str) -> None:
    """10,000 lines × 10,000: 100,000,000 steps without the bound; each line may take 100."""
    expression = compile_condition(QUADRATIC, per_item=True)
    context = line_context(expression, 10_000)
    with python_steps(limit=5_000), pytest.raises(LoopBudgetError) as caught:  # unbounded: 670,000+
        run(expression, context, backend)
    assert isinstance(caught.value, EventError)  # a refused event, as the engine's callers know it
    assert caught.value.code == "RE470"
    span = caught.value.span
    assert span is not None
    assert QUADRATIC[span.start : span.end] == 'any(x.category == "pastry" for x in basket.items)'


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
def test_nested_loops_are_refused_at_the_inner_loop(backend: str) -> None:
    expression = compile_condition(NESTED)
    context = expression.context(basket(5_000))  # 12,500,000 steps unbounded (25,000,000 charged)
    with pytest.raises(LoopBudgetError) as caught:
        run(expression, context, backend)
    span = caught.value.span
    assert span is not None
    assert (span.line, span.column) == (1, 5)


def test_realistic_baskets_pass() -> None:
    """10,000 lines through linear rules, and a quadratic per-item rule on 1,000 lines."""
    total = compile_expression("sum(x.price * x.qty for x in basket.items if x.category == 'coffee')")
    assert total.evaluate(total.context(basket(10_000))) == 10_000
    quadratic = compile_condition(QUADRATIC, per_item=True)
    assert quadratic.evaluate(line_context(quadratic, 1_000)) is False


def test_each_evaluation_has_its_own_allowance() -> None:
    """A context evaluated many times (a benchmark, a service's cached context) never runs dry."""
    expression = compile_condition("any(any(t == x.sku for t in customer.tags) for x in basket.items)")
    context = expression.context(basket(100, customer={"tags": ["a"] * 100}))
    for _ in range(100):  # 10,100 steps each: 1,010,000 in all, more than one allowance
        assert expression.evaluate(context) is False


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
def test_the_per_item_allowance_is_shared_by_the_lines(small_budget: None, backend: str) -> None:
    """40 steps per event: 4 lines may take 10 each (the loop takes 4), 10 lines 4 each (it takes 10)."""
    expression = compile_condition(QUADRATIC, per_item=True)
    assert run(expression, line_context(expression, 4), backend) is False
    with pytest.raises(LoopBudgetError):
        run(expression, line_context(expression, 10), backend)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=bool_expr(), data=CONTEXTS)
def test_both_back_ends_fail_at_the_same_loop(text: str, data: dict[str, Any]) -> None:
    """With a tiny allowance, random expressions (loops in loops, nulls skipping sides) give the
    same value on both back ends, or the same error at the same span."""
    expression = compile_generated(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "MAX_LOOP_STEPS", 6)
        context = expression.context(data)
        outcomes = []
        for backend in ("compiled", "interpreted"):
            try:
                outcomes.append(("value", run(expression, context, backend)))
            except LoopBudgetError as error:
                outcomes.append(("error", (error.code, error.span)))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=bool_expr(item=True), data=CONTEXTS, item=ITEMS)
def test_both_back_ends_fail_at_the_same_loop_per_item(text: str, data: dict[str, Any], item: Any) -> None:
    try:
        expression = compile_condition(text, per_item=True)
    except ConditionError:  # RE304 and the like: test_differential covers them
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(budget, "MAX_LOOP_STEPS", 6)
        context = expression.context({**data, "item": item})
        outcomes = []
        for backend in ("compiled", "interpreted"):
            try:
                outcomes.append(("value", run(expression, context, backend)))
            except LoopBudgetError as error:
                outcomes.append(("error", (error.code, error.span)))
    assert outcomes[0] == outcomes[1]


# -- the checker's warning (RE312) ------------------------------------------------------------


def warnings(text: str, per_item: bool = False, **options: Any) -> list[tuple[str, int, int]]:
    expression = compile_condition(text, per_item=per_item, **options)
    assert all(d.severity is Severity.WARNING for d in expression.warnings)
    return [(d.code, d.span.line, d.span.column) for d in expression.warnings if d.span is not None]


def test_a_loop_over_the_basket_in_a_per_item_rule_is_warned_about_at_the_loop() -> None:
    assert warnings(QUADRATIC, per_item=True) == [("RE312", 1, 31)]


def test_loops_nested_in_a_basket_level_condition_are_warned_about_at_the_inner_loop() -> None:
    assert warnings(CUBIC) == [("RE312", 1, 5)]


@pytest.mark.parametrize(
    ("text", "per_item"),
    [
        ("any(x.qty > 1 for x in basket.items)", False),  # linear
        ('item.category == "coffee"', True),  # the per-item rule's own loop only
        ('any(item.sku == s for s in ["a", "b"])', True),  # a literal list does not grow
        ("any(item.qty > n for n in limits)", True),  # nor does a constant
        ("any(x > 1 for x in [sum(i.qty for i in basket.items)])", False),  # runs once
    ],
)
def test_no_warning_for_linear_work(text: str, per_item: bool) -> None:
    assert warnings(text, per_item, constants={"limits": [1, 2]}) == []


def test_the_warning_names_how_the_work_grows() -> None:
    (warning,) = compile_condition(CUBIC, per_item=True).warnings
    assert "basket lines × basket.items × …" in warning.message
    assert warning.hint is not None and "RE470" in warning.hint
    assert warning.span is not None and (warning.span.line, warning.span.column) == (1, 1)


# -- `in` over a list from the data: a loop of its own -----------------------------------------

# The reviewer's cases: lines × coupons, uncounted and unwarned before.
COUNT_IN = "count(i.sku in basket.coupons for i in basket.items) > 0"
ITEM_IN = "item.sku in basket.coupons"


def coupon_basket(lines: int, coupons: int, per_item: bool = False) -> dict[str, Any]:
    data = basket(lines)
    data["basket"]["coupons"] = [f"c{i}" for i in range(coupons)]
    if per_item:
        data["item"] = data["basket"]["items"][0]
    return data


@pytest.mark.parametrize(
    ("text", "per_item", "depth"),
    [
        (COUNT_IN, False, 2),
        (ITEM_IN, True, 1),
        ('"vip" in customer.tags', False, 1),
        ('customer.tier in ["gold", "platinum"]', False, 0),  # a literal list does not grow
        ("customer.tier in tiers", False, 0),  # nor does a constant
        ('"latte" in item.name', True, 0),  # text: a substring test, no list walked
        ("any(x.sku not in customer.tags for x in basket.items if x.qty > 1)", False, 2),
        ("count(x > 1 for x in [1] if any(t in basket.coupons for t in customer.tags)) > 0", False, 3),
    ],
)
def test_in_over_a_data_list_is_a_loop_level(text: str, per_item: bool, depth: int) -> None:
    expression = compile_condition(text, per_item=per_item, constants={"tiers": ["gold"]})
    assert budget.nesting(expression.tree, ["tiers"]) == depth


@pytest.mark.parametrize(("text", "per_item", "column"), [(COUNT_IN, False, 13), (ITEM_IN, True, 10)])
def test_in_over_a_data_list_inside_a_loop_is_warned_about_at_the_in(
    text: str, per_item: bool, column: int
) -> None:
    assert warnings(text, per_item) == [("RE312", 1, column)]
    (warning,) = compile_condition(text, per_item=per_item).warnings
    assert "× basket.coupons" in warning.message


@pytest.mark.parametrize(
    ("text", "per_item"),
    [
        ('"vip" in customer.tags', False),  # one search, once per event: linear
        ('item.sku in ["a", "b"]', True),
        ("item.sku in skus", True),
        ('"latte" in item.name', True),
        ('any(x.sku == "a" for x in basket.items) and "vip" in customer.tags', False),  # side by side
    ],
)
def test_a_single_search_is_neither_warned_about_nor_counted(text: str, per_item: bool) -> None:
    expression = compile_condition(text, per_item=per_item, constants={"skus": ["a"]})
    assert expression.warnings == ()
    assert expression.budget is None
    assert "_b" not in expression.python_source and "_in(" not in expression.python_source


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
@pytest.mark.parametrize(("text", "per_item"), [(COUNT_IN, False), (ITEM_IN, True)])
def test_a_search_inside_a_loop_is_refused_fast(text: str, per_item: bool, backend: str) -> None:
    """10,000 lines × 100,000 coupons: 10⁹ comparisons (about 30 s) if the search went uncounted."""
    expression = compile_condition(text, per_item=per_item)
    assert expression.budget is not None
    context = expression.context(coupon_basket(10_000, 100_000, per_item))
    # Refused after a few searches. The interpreter walks each searched list in Python (100,000
    # lines a search); the compiled code searches in C, so it counts the loop's own steps.
    limit = 2_000_000 if backend == "interpreted" else 5_000
    with python_steps(limit), pytest.raises(LoopBudgetError) as caught:
        run(expression, context, backend)
    assert caught.value.code == "RE470"
    span = caught.value.span
    assert span is not None
    assert text[span.start : span.end] == ("i.sku in basket.coupons" if not per_item else ITEM_IN)
    assert "the search" in caught.value.diagnostics[0].message


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
def test_searches_within_the_limit_pass_and_agree(backend: str) -> None:
    """100 lines × 100 coupons: 10,100 steps; and a null-free answer either way."""
    expression = compile_condition(COUNT_IN)
    data = coupon_basket(100, 100)
    data["basket"]["coupons"].append("s7")
    assert run(expression, expression.context(data), backend) is True
    per_item = compile_condition(ITEM_IN, per_item=True)
    assert run(per_item, per_item.context(coupon_basket(10_000, 100, per_item=True)), backend) is False


@pytest.mark.parametrize("backend", ["compiled", "interpreted"])
def test_a_search_takes_its_whole_list_from_the_allowance(small_budget: None, backend: str) -> None:
    """40 steps: 4 lines × (4 for the loop + coupons) per event's share."""
    expression = compile_condition(COUNT_IN)
    assert run(expression, expression.context(coupon_basket(4, 9)), backend) is False  # 4 + 4 × 9
    with pytest.raises(LoopBudgetError):
        run(expression, expression.context(coupon_basket(4, 10)), backend)  # 4 + 4 × 10
