"""The program's conditions as Python `ast` on the whole step's ints: the subset it translates.

The condition compiler (dsl/compiler.py) writes a condition as code over the evaluator's context
(records of decimals). The whole step decides on ints — money in minor units, quantities as ints,
the basket's lines as tuples — so a condition is translated again from its checked tree, for the
forms coffee-club-like programs write: comparisons of `item.category`/`item.sku` with text,
`==`/`!=` of a custom text attribute of the line (`item.size`, declared under `attributes.item`),
`basket.total` with a number, `event.time.hour`/`.weekday` with constants, `and`/`or`/`not`,
`count`/`sum`/`any` over `basket.items`, `len(customer.purchases)`. Anything else raises
`UnsupportedError`, and `covers` refuses the program (the engine's path keeps it).

A line's custom attribute is read as the engine's context has it (engine/conditions.py `_custom`):
the text sent, or null when the line sent none, so `_m.attributes.get(name)`; the step takes only
lines whose attributes the engine takes as sent (whole/step.py `takes`). Null compares as Python's
None does under `==`/`!=` (dsl/compiler.py compares them unguarded); the ordering comparisons, which
the compiler guards (null: false), are not translated on a value that may be null (the category, a
custom attribute): such a program keeps the engine's path.

Input: an `Expression` (dsl/expression.py). Output: a Python `ast.expr` over the step's locals
(`_total`, `_hour`, `_wday`, `_bought`; in a line's scope `_s`, `_c`, `_q`, `_m` the line).
"""

from __future__ import annotations

import ast as py
from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast

_COMPARE = {"==": py.Eq, "!=": py.NotEq, "<": py.Lt, "<=": py.LtE, ">": py.Gt, ">=": py.GtE}
_LINE = {"category": "_c", "sku": "_s", "qty": "_q"}
_EVENT = {"hour": "_hour", "weekday": "_wday"}
_NULLABLE = frozenset({"category"})  # of `_LINE`: may be null (a custom attribute may too)


class UnsupportedError(Exception):
    """A condition the whole step does not translate (its text says which part)."""


def translate(
    tree: ast.Node,
    constants: dict[str, Any],
    decimals: int,
    in_line: bool,
    texts: frozenset[str] = frozenset(),
) -> py.expr:
    """`tree` as Python over the step's locals (the module docstring); `texts`: the line's custom
    text attributes it may read."""
    return _Translator(constants, decimals, texts).expr(tree, in_line)


class _Translator:
    def __init__(self, constants: dict[str, Any], decimals: int, texts: frozenset[str]) -> None:
        self.constants = constants
        self.unit = 10**decimals
        self.texts = texts

    def expr(self, node: ast.Node, in_line: bool) -> py.expr:
        if isinstance(node, ast.BoolOp):
            op = py.And() if node.op == "and" else py.Or()
            return py.BoolOp(op, [self.expr(node.left, in_line), self.expr(node.right, in_line)])
        if isinstance(node, ast.Not):
            return py.UnaryOp(py.Not(), self.expr(node.operand, in_line))
        if isinstance(node, ast.Compare) and node.op in _COMPARE:
            left, right = node.left, node.right
            if node.op not in ("==", "!=") and (self.nullable(left) or self.nullable(right)):
                raise UnsupportedError("an ordering comparison of a value that may be null")
            money = _is_total(left) or _is_total(right)
            return py.Compare(
                self.value(left, in_line, money), [_COMPARE[node.op]()], [self.value(right, in_line, money)]
            )
        if isinstance(node, ast.Comprehension):
            return self.over_lines(node)
        raise UnsupportedError(type(node).__name__)

    def value(self, node: ast.Node, in_line: bool, money: bool) -> py.expr:
        if (
            isinstance(node, ast.Literal)
            and type(node.value) in (int, str, Decimal)
            and type(node.value) is not bool
        ):
            return self.number(node.value, money)
        if isinstance(node, ast.Name) and node.id in self.constants:
            return self.number(self.constants[node.id], money)
        if isinstance(node, ast.Attribute):
            inner = node.value
            if in_line and isinstance(inner, ast.Name) and inner.id == "item":
                if node.attr in _LINE:
                    return py.Name(_LINE[node.attr], py.Load())
                if node.attr in self.texts:  # `_m.attributes.get(name)`: the text sent, or None
                    attributes = py.Attribute(py.Name("_m", py.Load()), "attributes", py.Load())
                    get = py.Attribute(attributes, "get", py.Load())
                    return py.Call(get, [py.Constant(node.attr)], [])
            if _is_total(node):
                return py.Name("_total", py.Load())
            if (
                isinstance(inner, ast.Attribute)
                and inner.attr == "time"
                and isinstance(inner.value, ast.Name)
                and inner.value.id == "event"
                and node.attr in _EVENT
            ):
                return py.Name(_EVENT[node.attr], py.Load())
        if (
            isinstance(node, ast.Call)
            and node.func == "len"
            and len(node.args) == 1
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr == "purchases"
            and isinstance(node.args[0].value, ast.Name)
            and node.args[0].value.id == "customer"
        ):
            return py.Name("_bought", py.Load())
        if isinstance(node, ast.Comprehension):
            return self.over_lines(node)
        raise UnsupportedError(type(node).__name__)

    def nullable(self, node: ast.Node) -> bool:
        """Whether `node` is a line's value that may be null: its category, a custom attribute."""
        return (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "item"
            and (node.attr in _NULLABLE or node.attr in self.texts)
        )

    def number(self, value: Any, money: bool) -> py.expr:
        if type(value) is str:
            return py.Constant(value)
        if money:
            scaled = Decimal(value) * self.unit
            if scaled != scaled.to_integral_value():
                raise UnsupportedError("an amount finer than the currency's unit")
            return py.Constant(int(scaled))
        if type(value) is int:
            return py.Constant(value)
        raise UnsupportedError("a decimal number")

    def over_lines(self, node: ast.Comprehension) -> py.expr:
        """`count`/`sum`/`any` over `basket.items`: a list comprehension over `_lines`."""
        iterable = node.iterable
        if not (
            isinstance(iterable, ast.Attribute)
            and iterable.attr == "items"
            and isinstance(iterable.value, ast.Name)
            and iterable.value.id == "basket"
            and node.var == "item"
            and node.func in ("count", "sum", "any")
        ):
            raise UnsupportedError("a comprehension")
        element = (
            self.expr(node.element, True) if node.func != "sum" else self.value(node.element, True, False)
        )
        condition = None if node.condition is None else self.expr(node.condition, True)
        target = py.Tuple([py.Name(n, py.Store()) for n in ("_s", "_c", "_p", "_q", "_m")], py.Store())
        ifs: list[py.expr] = [] if condition is None else [condition]
        if node.func == "count":  # the lines where the element holds
            made: py.expr = py.Constant(1)
            ifs = [*ifs, element]
        else:
            made = element
        listed = py.ListComp(made, [py.comprehension(target, py.Name("_lines", py.Load()), ifs, 0)])
        function = {"count": "_len", "sum": "_sum", "any": "_any"}[node.func]
        return py.Call(py.Name(function, py.Load()), [listed], [])


def _is_total(node: ast.Node) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "total"
        and isinstance(node.value, ast.Name)
        and node.value.id == "basket"
    )
