"""The reference interpreter: walks a typed tree, applying the language's rules literally.

It is the explain path — with `record=True` it keeps every sub-expression's value in a `Trace` —
and the oracle the compiler is tested against. It ignores the checker's nullability facts and
tests for null everywhere, so a wrong inference in the compiler shows up as a disagreement.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules_engine.dsl import ast, values
from rules_engine.dsl import types as t
from rules_engine.dsl.budget import LoopBudget, searches_data
from rules_engine.dsl.functions import FUNCTIONS

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": values.divide,
    "%": values.modulo,
}
MAX_TRACED_ITERATIONS = 20
_TEMPORAL = (dt.date, dt.timedelta)


@dataclass
class Trace:
    """One evaluated sub-expression: its source span, its value, and its parts' traces.

    `note` says what a child stands for when that is not obvious (`item 2 of 5`, `skipped`).
    """

    node: ast.Expr
    value: Any = None
    children: list[Trace] = field(default_factory=list)
    note: str | None = None

    def walk(self) -> list[Trace]:
        out, stack = [], [self]
        while stack:
            trace = stack.pop()
            out.append(trace)
            stack.extend(reversed(trace.children))
        return out


def truth(value: Any) -> bool:
    """The truth value of a condition: null (and anything but `true`) counts as false."""
    return value is True


def interpret(
    expr: ast.Expr,
    context: Mapping[str, Any],
    constants: Mapping[str, Any] | None = None,
    budget: LoopBudget | None = None,
) -> Any:
    """Evaluate a checked expression on a normalized context.

    With a `budget`, loops are counted as the compiled code counts them (`budget.py`), and the
    same loop raises the same `LoopBudgetError`.
    """
    return _Interpreter(context, constants or {}, None, budget).eval(expr, {})


def explain(
    expr: ast.Expr,
    context: Mapping[str, Any],
    constants: Mapping[str, Any] | None = None,
    budget: LoopBudget | None = None,
) -> Trace:
    """Evaluate and keep every sub-expression's value."""
    root = Trace(expr)
    root.value = _Interpreter(context, constants or {}, root, budget).eval(expr, {})
    return root.children[0] if root.children else root


class _Interpreter:
    def __init__(
        self,
        context: Mapping[str, Any],
        constants: Mapping[str, Any],
        trace: Trace | None,
        budget: LoopBudget | None = None,
    ) -> None:
        self.context = context
        self.constants = constants
        self.trace = trace
        self.budget = budget
        self.steps = budget.allowance(context) if budget is not None else 0

    def eval(self, node: ast.Expr, scope: Mapping[str, Any], note: str | None = None) -> Any:
        parent = self.trace
        if parent is None:
            return self._eval(node, scope)
        mine = Trace(node, note=note)
        parent.children.append(mine)
        self.trace = mine
        try:
            mine.value = self._eval(node, scope)
        finally:
            self.trace = parent
        return mine.value

    def _eval(self, node: ast.Expr, scope: Mapping[str, Any]) -> Any:
        match node:
            case ast.Literal(value=value):
                return value
            case ast.ListExpr(items=items):
                return tuple(self.eval(item, scope) for item in items)
            case ast.Name(id=name):
                if name in scope:
                    return scope[name]
                if name in self.constants:
                    return self.constants[name]
                return self.context[name]  # a missing root is a KeyError, as in compiled code
            case ast.Attribute(value=value_node, attr=attr):
                value = self.eval(value_node, scope)
                if value is None:
                    return None
                if isinstance(value, Mapping):
                    return value.get(attr)
                return values.temporal_attribute(value, attr)
            case ast.Not(operand=operand):
                return not truth(self.eval(operand, scope))
            case ast.BoolOp(op=op, left=left, right=right):
                first = truth(self.eval(left, scope))
                if first is (op == "or"):
                    if self.trace is not None:
                        # An explanation shows every part, even one the answer did not need.
                        self.eval(right, scope, note="not needed")
                    return first
                return truth(self.eval(right, scope))
            case ast.Neg(operand=operand):
                return values.negate(self.eval(operand, scope))
            case ast.Compare(op=op, left=left, right=right):
                if self.budget is not None and self.trace is None:
                    return self.counted_compare(node, scope)
                a, b = self.eval(left, scope), self.eval(right, scope)
                self.charge_search(node, b)
                return self.compare(op, a, b)
            case ast.Binary(op=op, left=left, right=right):
                if (  # counted: skip the right side where the compiled code does (a null left)
                    self.budget is not None
                    and self.trace is None
                    and op in ("+", "-", "*")
                    and not _temporal(left)
                    and not _temporal(right)
                ):
                    a = self.eval(left, scope)
                    if a is None:
                        return None
                    b = self.eval(right, scope)
                    return None if b is None else _ARITHMETIC[op](a, b)
                a, b = self.eval(left, scope), self.eval(right, scope)
                if a is None or b is None:
                    return None
                if isinstance(a, _TEMPORAL) or isinstance(b, _TEMPORAL):
                    return values.temporal_add(a, b) if op == "+" else values.temporal_sub(a, b)
                return _ARITHMETIC[op](a, b)
            case ast.Call(func=func, args=args):
                return FUNCTIONS[func].impl(*(self.eval(arg, scope) for arg in args))
            case ast.Comprehension():
                return self.aggregate(node, scope)
        raise AssertionError(node)

    def counted_compare(self, node: ast.Compare, scope: Mapping[str, Any]) -> bool:
        """`compare`, with its sides evaluated in the compiled code's order and skipped where it
        skips them: with loops counted, which loops run matters. The compiled code first tests
        the sides that may be null (left, then right), stopping at a null, then reads the rest."""
        op, left, right = node.op, node.left, node.right
        if op in ("==", "!="):
            return self.compare(op, self.eval(left, scope), self.eval(right, scope))
        if op in ("in", "not in"):
            right_type = right.type
            guard_left = right_type is not None and right_type.kind is t.Kind.TEXT and _nullable(left)
        else:
            guard_left = _nullable(left)
        guard_right = _nullable(right)
        a: Any = None
        b: Any = None
        if guard_left:
            a = self.eval(left, scope)
            if a is None:
                return op == "not in"
        if guard_right:
            b = self.eval(right, scope)
            if b is None:
                return op == "not in"
        if not guard_left:
            a = self.eval(left, scope)
        if not guard_right:
            b = self.eval(right, scope)
        self.charge_search(node, b)
        return self.compare(op, a, b)

    def charge_search(self, node: ast.Compare, found_in: Any) -> None:
        """An `in` over a list from the data walks it: charge its length, as the compiled code
        does, once both sides are read (a null list costs nothing)."""
        if self.budget is None or found_in is None or not searches_data(node, self.constants):
            return
        self.steps -= len(found_in)
        if self.steps < 0:
            raise self.budget.exceeded(self.context, node.span[0], node.span[1], search=True)

    @staticmethod
    def compare(op: str, a: Any, b: Any) -> bool:
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if op in ("in", "not in"):
            if b is None or (isinstance(b, str) and a is None):
                found = False
            else:
                found = any(a == candidate for candidate in b) if isinstance(b, tuple) else a in b
            return found if op == "in" else not found
        if a is None or b is None:
            return False
        return _ORDER[op](a, b)

    def aggregate(self, node: ast.Comprehension, scope: Mapping[str, Any]) -> Any:
        collection = self.eval(node.iterable, scope) or ()
        if self.budget is not None:  # as the compiled loop: the whole list, before the first step
            self.steps -= len(collection)
            if self.steps < 0:
                raise self.budget.exceeded(self.context, node.span[0], node.span[1])
        func = node.func
        count = 0
        total: Any = 0  # an int or a Decimal, as the elements are
        best: Any = None
        for index, element in enumerate(collection):
            inner = {**scope, node.var: element}
            note = f"{node.var} {index + 1} of {len(collection)}"
            tracing = self.trace is not None and index < MAX_TRACED_ITERATIONS
            saved = self.trace
            if not tracing:
                self.trace = None
            try:
                kept = node.condition is None or truth(
                    self.eval(node.condition, inner, note=f"{note}: filter")
                )
                value = self.eval(node.element, inner, note=note) if kept else None
            finally:
                self.trace = saved
            if not kept:
                continue
            if func == "any" and truth(value):
                return True
            if func == "all" and not truth(value):
                return False
            if func == "count" and truth(value):
                count += 1
            if value is None:
                continue
            if func == "sum":
                total = total + value
            elif (func == "min" and (best is None or value < best)) or (
                func == "max" and (best is None or value > best)
            ):
                best = value
        return {"any": False, "all": True, "count": count, "sum": total}.get(func, best)


def _temporal(node: ast.Expr) -> bool:
    return node.type is not None and node.type.kind in (t.Kind.DURATION, t.Kind.DATE, t.Kind.DATETIME)


def _nullable(node: ast.Expr) -> bool:
    return node.type is None or node.type.nullable
