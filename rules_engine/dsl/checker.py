"""Type-check a parsed expression against the symbol table: `check(expr, symbols) -> typed expr`.

Every name is resolved (unknown ones get "did you mean …"), every operator and call is typed,
and nullability is inferred: a sub-expression typed non-null can never be null at run time,
which lets the compiler use plain Python operators there. All problems in one expression are
reported at once; a sub-expression already reported is typed `any` so it causes no echo.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal

from rules_engine.dsl import ast
from rules_engine.dsl import types as t
from rules_engine.dsl.budget import MAX_LOOP_STEPS, from_data, searches_data
from rules_engine.dsl.functions import AGGREGATES, FUNCTIONS, ORDERABLE, SignatureError
from rules_engine.errors import ConditionTypeError, Diagnostic, Severity
from rules_engine.source import Origin

_ARITHMETIC: dict[str, dict[tuple[t.Kind, t.Kind], t.Kind]] = {
    "+": {
        (t.Kind.NUMBER, t.Kind.NUMBER): t.Kind.NUMBER,
        (t.Kind.TEXT, t.Kind.TEXT): t.Kind.TEXT,
        (t.Kind.DURATION, t.Kind.DURATION): t.Kind.DURATION,
        (t.Kind.DATETIME, t.Kind.DURATION): t.Kind.DATETIME,
        (t.Kind.DATE, t.Kind.DURATION): t.Kind.DATE,
    },
    "-": {
        (t.Kind.NUMBER, t.Kind.NUMBER): t.Kind.NUMBER,
        (t.Kind.DURATION, t.Kind.DURATION): t.Kind.DURATION,
        (t.Kind.DATETIME, t.Kind.DURATION): t.Kind.DATETIME,
        (t.Kind.DATE, t.Kind.DURATION): t.Kind.DATE,
        (t.Kind.DATETIME, t.Kind.DATETIME): t.Kind.DURATION,
        (t.Kind.DATE, t.Kind.DATE): t.Kind.DURATION,
    },
    "*": {(t.Kind.NUMBER, t.Kind.NUMBER): t.Kind.NUMBER},
    "/": {(t.Kind.NUMBER, t.Kind.NUMBER): t.Kind.NUMBER},
    "%": {(t.Kind.NUMBER, t.Kind.NUMBER): t.Kind.NUMBER},
}
_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take the remainder of"}
MAX_LOOP_NESTING = 3
_LINES = "basket lines"
_ITEM_SCOPE_HINT = "`item` exists in per-item rules, or inside any(… for item in basket.items)"


def check(
    expr: ast.Expr, symbols: t.Symbols, origin: Origin | None = None, *, expect: t.DslType | None = None
) -> ast.Expr:
    """Resolve names and infer types; return the same tree with every node's `type` set.

    Args:
        expr: a parsed expression.
        symbols: what the expression may read.
        origin: where the text came from, for diagnostics (defaults to the unparsed text).
        expect: the type the whole must have, e.g. `BOOL` for a condition.

    Raises:
        ConditionTypeError: every problem found, each with a span and a hint (codes RE3xx).
    """
    checker = _Checker(symbols, origin or Origin.standalone(ast.unparse(expr)))
    typed = checker.visit(expr, {})
    result = typed.type
    assert result is not None
    if expect is not None and not checker.errors and not result.same_kind(expect):
        message, hint = _not_expected(expect, result)
        checker.error("RE306", message, typed.span, hint)
    if checker.errors:
        raise ConditionTypeError(checker.errors)
    return typed


def _not_expected(expect: t.DslType, result: t.DslType) -> tuple[str, str | None]:
    """RE306's words: a condition that is not true/false, or an amount that is not a number."""
    if expect.kind is t.Kind.BOOL:
        hint = "compare it with something, e.g. … > 0" if result.kind is t.Kind.NUMBER else None
        if result.kind is t.Kind.TEXT:
            hint = 'compare it with something, e.g. … == "gold"'
        return f"a condition must be true or false, but this is {result}", hint
    if result.kind is t.Kind.BOOL:
        return (
            "an amount must be a number, but this is a condition (true or false)",
            "put the condition in `when` and the number in this field, e.g. `when: basket.total >= 10` "
            "and `award: 50`",
        )
    return f"an amount must be a number, but this is {result}", "write a number, or an expression giving one"


def check_condition(expr: ast.Expr, symbols: t.Symbols, origin: Origin | None = None) -> ast.Expr:
    return check(expr, symbols, origin, expect=t.BOOL)


def loop_warnings(
    typed: ast.Expr, origin: Origin, *, per_item: bool = False, constants: Collection[str] = ()
) -> list[Diagnostic]:
    """RE312 warnings: loops over the data nested two deep, the per-item rule's own loop counted.

    Their work multiplies (lines × lines for `any(… for x in basket.items)` in a per-item rule),
    and at run time `budget.py` refuses an event past `MAX_LOOP_STEPS` (RE470). A loop over a
    literal list or a constant does not count: its length does not grow with the data. An `in`
    over a list from the data (`item.sku in basket.coupons`) walks it: a loop level of its own.
    """
    warnings: list[Diagnostic] = []

    def over_data(node: ast.Comprehension) -> bool:
        return from_data(node.iterable, constants)

    def depth(node: ast.Expr) -> int:
        if isinstance(node, ast.Comprehension):
            inner = max(depth(node.element), depth(node.condition) if node.condition is not None else 0)
            return max(depth(node.iterable), inner + over_data(node))
        below = max((depth(child) for child in ast.children(node)), default=0)
        return max(below, 1) if searches_data(node, constants) else below

    def warn(inner: tuple[str, ...], outer: tuple[str, ...], below: int, what: str, at: ast.Loc) -> None:
        growth = " × ".join(inner) + " × …" * below
        where = "a per-item rule" if per_item and outer == (_LINES,) else f"a loop over {outer[0]}"
        message = f"{what} inside {where}: the work per event grows as {growth}"
        if below:
            message += f" (loops nest {2 + below} deep)"
        hint = f"an event whose loops would take more than {MAX_LOOP_STEPS:,} steps is refused (RE470): "
        if where == "a per-item rule":
            hint += "test the basket-wide part once, in the rule's `when`"
        else:
            hint += "compute the inner part once, or go through a shorter list"
        warnings.append(Diagnostic("RE312", message, origin.span(*at), hint, Severity.WARNING))

    def visit(node: ast.Expr, outer: tuple[str, ...]) -> None:
        if not isinstance(node, ast.Comprehension):
            for child in ast.children(node):
                visit(child, outer)
            if isinstance(node, ast.Compare) and len(outer) == 1 and searches_data(node, constants):
                # Both sides are read once; the search itself walks the list once per outer step.
                listed = ast.unparse(node.right)
                warn(
                    (*outer, listed),
                    outer,
                    0,
                    f"`{node.op} {listed}` (a search through a list)",
                    node.op_span,
                )
            return
        visit(node.iterable, outer)
        inner = (*outer, ast.unparse(node.iterable)) if over_data(node) else outer
        if len(inner) == 2 and len(outer) == 1:
            below = max(depth(node.element), depth(node.condition) if node.condition is not None else 0)
            warn(inner, outer, below, "a loop", node.func_span)
        visit(node.element, inner)
        if node.condition is not None:
            visit(node.condition, inner)

    visit(typed, (_LINES,) if per_item else ())
    return warnings


def literal_type(value: object) -> t.DslType:
    if value is None:
        return t.NULL
    if isinstance(value, bool):
        return t.BOOL
    if isinstance(value, int | Decimal):
        return t.NUMBER
    if isinstance(value, str):
        return t.TEXT
    if isinstance(value, dt.timedelta):
        return t.DURATION
    if isinstance(value, dt.datetime):
        return t.DATETIME
    if isinstance(value, dt.date):
        return t.DATE
    if isinstance(value, dt.time):
        return t.TIME
    if isinstance(value, tuple):
        return t.list_of(literal_type(value[0]) if value else t.NULL)
    raise TypeError(f"no language type for {type(value).__name__}")


def suggest(name: str, candidates: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return None


class _Checker:
    def __init__(self, symbols: t.Symbols, origin: Origin) -> None:
        self.symbols = symbols
        self.origin = origin
        self.errors: list[Diagnostic] = []
        self.loop_depth = 0

    def error(self, code: str, message: str, span: ast.Loc, hint: str | None = None) -> t.DslType:
        self.errors.append(Diagnostic(code, message, self.origin.span(*span), hint))
        return t.ANY

    def visit(self, node: ast.Expr, scope: Mapping[str, t.DslType]) -> ast.Expr:
        method = getattr(self, f"visit_{type(node).__name__}")
        result: ast.Expr = method(node, scope)
        return result

    @staticmethod
    def typed(node: ast.Expr, typ: t.DslType, **changes: object) -> ast.Expr:
        return dataclasses.replace(node, type=typ, **changes)  # type: ignore[arg-type]

    def visit_Literal(self, node: ast.Literal, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        return self.typed(node, literal_type(node.value))

    def visit_ListExpr(self, node: ast.ListExpr, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        items = tuple(self.visit(item, scope) for item in node.items)
        element = t.NULL
        for item in items:
            assert item.type is not None
            if element.kind in (t.Kind.NULL, t.Kind.ANY):
                element = item.type.as_nullable(element.nullable or item.type.nullable)
            elif not element.same_kind(item.type):
                self.error(
                    "RE303",
                    f"a list holds values of one type: this is {item.type}, the first is {element}",
                    item.span,
                    "put values of one type in a list",
                )
            else:
                element = element.as_nullable(element.nullable or item.type.nullable)
        if element.kind is t.Kind.LIST or element.kind is t.Kind.RECORD:
            self.error("RE303", "lists of lists or objects cannot be written as literals", node.span)
        return self.typed(node, t.list_of(element), items=items)

    def visit_Name(self, node: ast.Name, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        if node.id in scope:
            return self.typed(node, scope[node.id])
        if node.id in self.symbols.roots:
            return self.typed(node, self.symbols.roots[node.id])
        if node.id in self.symbols.constants:
            return self.typed(node, self.symbols.constants[node.id][0])
        candidates = [*scope, *self.symbols.names()]
        if node.id == "item":
            hint = _ITEM_SCOPE_HINT
        elif node.id in FUNCTIONS or node.id in AGGREGATES:
            usage = FUNCTIONS[node.id].usage if node.id in FUNCTIONS else f"{node.id}(…)"
            hint = f"`{node.id}` is a function: call it, e.g. {usage}"
        elif node.id in ("True", "False", "None", "TRUE", "FALSE", "NULL", "nil", "none"):
            hint = "write true, false or null in lower case"
        else:
            hint = suggest(node.id, candidates) or f"known names: {', '.join(candidates)}"
        return self.typed(node, self.error("RE301", f"unknown name `{node.id}`", node.span, hint))

    def visit_Attribute(self, node: ast.Attribute, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        value = self.visit(node.value, scope)
        base = value.type
        assert base is not None
        if base.kind is t.Kind.ANY:
            return self.typed(node, t.ANY, value=value)
        attributes: Mapping[str, t.DslType] | None = None
        if base.kind is t.Kind.RECORD:
            assert base.record is not None
            attributes = base.record.attributes
        elif base.kind in t.TEMPORAL_ATTRIBUTES:
            attributes = t.TEMPORAL_ATTRIBUTES[base.kind]
        if attributes is None:
            hint = None
            if base.kind is t.Kind.LIST:
                hint = "a list has no attributes; use len(…), any(…) or sum(… for x in …)"
            return self.typed(
                node,
                self.error("RE302", f"{base} has no attribute `{node.attr}`", node.attr_span, hint),
                value=value,
            )
        if node.attr not in attributes:
            owner = ast.unparse(node.value)
            hint = suggest(node.attr, list(attributes))
            if hint is None:
                hint = f"{owner} has: {', '.join(attributes)}"
                if base.kind is t.Kind.RECORD:
                    hint += "; a program can declare its own attributes under `attributes:`"
            return self.typed(
                node,
                self.error("RE302", f"`{owner}` has no attribute `{node.attr}`", node.attr_span, hint),
                value=value,
            )
        result = attributes[node.attr]
        return self.typed(node, result.as_nullable(result.nullable or base.nullable), value=value)

    def _truth(self, node: ast.Expr, what: str) -> None:
        assert node.type is not None
        if node.type.kind not in (t.Kind.BOOL, t.Kind.NULL, t.Kind.ANY):
            hint = None
            if node.type.kind is t.Kind.TEXT or node.type.nullable:
                hint = f"to test for a missing value write {ast.unparse(node)} != null"
            if node.type.kind is t.Kind.LIST:
                hint = f"to test for an empty list write len({ast.unparse(node)}) > 0"
            self.error("RE304", f"{what} needs true or false, but this is {node.type}", node.span, hint)

    def visit_Not(self, node: ast.Not, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        operand = self.visit(node.operand, scope)
        self._truth(operand, "`not`")
        return self.typed(node, t.BOOL, operand=operand)

    def visit_BoolOp(self, node: ast.BoolOp, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        left, right = self.visit(node.left, scope), self.visit(node.right, scope)
        self._truth(left, f"`{node.op}`")
        self._truth(right, f"`{node.op}`")
        return self.typed(node, t.BOOL, left=left, right=right)

    def visit_Neg(self, node: ast.Neg, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        operand = self.visit(node.operand, scope)
        typ = operand.type
        assert typ is not None
        if typ.kind not in (t.Kind.NUMBER, t.Kind.DURATION, t.Kind.NULL, t.Kind.ANY):
            typ = self.error(
                "RE305", f"cannot negate {typ}", node.span, "`-` applies to numbers and durations"
            )
        elif typ.kind is t.Kind.DURATION:
            typ = typ.as_nullable()  # negating the longest duration leaves the range: null
        return self.typed(node, typ, operand=operand)

    def visit_Compare(self, node: ast.Compare, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        left, right = self.visit(node.left, scope), self.visit(node.right, scope)
        lt, rt = left.type, right.type
        assert lt is not None and rt is not None
        result = self.typed(node, t.BOOL, left=left, right=right)
        if t.Kind.ANY in (lt.kind, rt.kind):
            return result
        if node.op in ("in", "not in"):
            if rt.kind is t.Kind.LIST:
                assert rt.element is not None
                if not rt.element.same_kind(lt):
                    self.error(
                        "RE303", f"cannot look for {lt} in a {rt}", node.op_span, _mismatch_hint(left, right)
                    )
            elif rt.kind is t.Kind.TEXT:
                if lt.kind not in (t.Kind.TEXT, t.Kind.NULL):
                    self.error(
                        "RE303", f"cannot look for {lt} in text", node.op_span, _mismatch_hint(left, right)
                    )
            elif rt.kind is not t.Kind.NULL:
                self.error(
                    "RE303",
                    f"`{node.op}` needs a list or text on its right, not {rt}",
                    right.span,
                    'write e.g. customer.tier in ["gold", "platinum"]',
                )
            return result
        if not lt.same_kind(rt):
            where = right.span if isinstance(right, ast.Literal) else node.op_span
            self.error("RE303", f"cannot compare {lt} with {rt}", where, _mismatch_hint(left, right))
            return result
        if node.op in ("==", "!="):
            return result
        if t.Kind.NULL in (lt.kind, rt.kind):
            self.error(
                "RE304",
                f"`{node.op}` with null is always false",
                node.op_span,
                "to test for a missing value write == null or != null",
            )
        elif lt.kind not in ORDERABLE:
            self.error("RE303", f"values of type {lt} have no order", node.op_span, "use == or != instead")
        return result

    def visit_Binary(self, node: ast.Binary, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        left, right = self.visit(node.left, scope), self.visit(node.right, scope)
        lt, rt = left.type, right.type
        assert lt is not None and rt is not None
        if t.Kind.ANY in (lt.kind, rt.kind):
            return self.typed(node, t.ANY, left=left, right=right)
        if t.Kind.NULL in (lt.kind, rt.kind):
            other = rt if lt.kind is t.Kind.NULL else lt
            return self.typed(node, t.DslType(other.kind, nullable=True), left=left, right=right)
        kind: t.Kind | None = _ARITHMETIC[node.op].get((lt.kind, rt.kind))
        if (
            kind is None
            and node.op == "+"
            and (rt.kind, lt.kind) in _ARITHMETIC["+"]
            and lt.kind is t.Kind.DURATION
        ):
            kind = _ARITHMETIC["+"][(rt.kind, lt.kind)]
        if kind is None:
            hint = _mismatch_hint(left, right)
            if lt.kind is t.Kind.LIST or rt.kind is t.Kind.LIST:
                hint = "to test membership write value in list; to count, len(list)"
            message = f"cannot {_VERBS[node.op]} {lt} and {rt}"
            return self.typed(node, self.error("RE305", message, node.op_span, hint), left=left, right=right)
        temporal = {lt.kind, rt.kind} & {t.Kind.DURATION, t.Kind.DATE, t.Kind.DATETIME}
        nullable = lt.nullable or rt.nullable or node.op in ("/", "%") or bool(temporal)
        return self.typed(node, t.DslType(kind, nullable=nullable), left=left, right=right)

    def visit_Call(self, node: ast.Call, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        args = tuple(self.visit(arg, scope) for arg in node.args)
        function = FUNCTIONS.get(node.func)
        if function is None:
            if node.func in AGGREGATES:
                message = f"`{node.func}` works over a list: {node.func}(… for x in list)"
                hint = f"write e.g. {node.func}(item.price > 10 for item in basket.items)"
                return self.typed(node, self.error("RE308", message, node.func_span, hint), args=args)
            hint = suggest(node.func, [*FUNCTIONS, *AGGREGATES]) or "see docs/dsl.md for the function list"
            return self.typed(
                node, self.error("RE307", f"unknown function `{node.func}`", node.func_span, hint), args=args
            )
        arg_types = [arg.type for arg in args]
        assert all(typ is not None for typ in arg_types)
        try:
            result = function.signature(arg_types)  # type: ignore[arg-type]
        except SignatureError as problem:
            span = args[problem.argument].span if problem.argument is not None else node.span
            hint = problem.hint or f"write {function.usage}"
            return self.typed(
                node, self.error("RE309", f"{node.func}(): {problem.message}", span, hint), args=args
            )
        if any(typ.kind is t.Kind.ANY for typ in arg_types if typ is not None):
            return self.typed(node, t.ANY, args=args)
        if node.func in ("date", "time", "datetime") and isinstance(args[0], ast.Literal):
            if function.impl(args[0].value) is None:
                example = {
                    "date": '"2026-12-24"',
                    "time": '"09:30"',
                    "datetime": '"2026-12-24T09:30:00+03:00"',
                }
                message = f"{args[0].value!r} is not a valid {node.func}"
                self.error("RE310", message, args[0].span, f"write it as {example[node.func]}")
            result = result.as_nullable(False)
        elif function.may_be_null:
            result = result.as_nullable(True)
        return self.typed(node, result, args=args)

    def visit_Comprehension(self, node: ast.Comprehension, scope: Mapping[str, t.DslType]) -> ast.Expr:  # noqa: N802
        iterable = self.visit(node.iterable, scope)
        it = iterable.type
        assert it is not None
        element_type = t.ANY
        if it.kind is t.Kind.LIST:
            assert it.element is not None
            element_type = it.element
        elif it.kind not in (t.Kind.ANY, t.Kind.NULL):
            self.error(
                "RE311",
                f"can only go through a list, not {it}",
                iterable.span,
                "write e.g. for item in basket.items",
            )
        if element_type.kind is t.Kind.NULL:
            element_type = t.ANY  # looping over []: nothing to check the element against
        if self.loop_depth >= MAX_LOOP_NESTING:
            self.error(
                "RE213",
                f"more than {MAX_LOOP_NESTING} nested any/all/count/sum/min/max",
                node.func_span,
                "nest at most three: deeper loops multiply and could run for ages",
            )
        inner = {**scope, node.var: element_type}
        self.loop_depth += 1
        element = self.visit(node.element, inner)
        condition = self.visit(node.condition, inner) if node.condition is not None else None
        self.loop_depth -= 1
        if condition is not None:
            self._truth(condition, "the `if` filter")
        changes = {"element": element, "iterable": iterable, "condition": condition}
        if node.func not in AGGREGATES:
            hint = suggest(node.func, list(AGGREGATES)) or f"use one of {', '.join(AGGREGATES)}"
            return self.typed(
                node,
                self.error("RE308", f"`{node.func}` cannot go through a list", node.func_span, hint),
                **changes,
            )
        et = element.type
        assert et is not None
        if node.func in ("any", "all", "count"):
            self._truth(element, f"{node.func}()")
            return self.typed(node, t.NUMBER if node.func == "count" else t.BOOL, **changes)
        if et.kind is t.Kind.ANY:
            return self.typed(node, t.ANY, **changes)
        if node.func == "sum":
            if et.kind not in (t.Kind.NUMBER, t.Kind.NULL):
                return self.typed(
                    node,
                    self.error(
                        "RE309",
                        f"sum() adds numbers, not {et}",
                        element.span,
                        "sum a number, e.g. sum(item.price * item.qty for item in …)",
                    ),
                    **changes,
                )
            return self.typed(node, t.NUMBER, **changes)
        if et.kind not in ORDERABLE and et.kind is not t.Kind.NULL:
            return self.typed(
                node,
                self.error("RE309", f"{node.func}() needs values with an order, not {et}", element.span),
                **changes,
            )
        return self.typed(node, et.as_nullable(True), **changes)


def _mismatch_hint(left: ast.Expr, right: ast.Expr) -> str | None:
    """A hint for two sides of different types: the usual causes, in marketers' words."""
    for a, b in ((left, right), (right, left)):
        assert a.type is not None and b.type is not None
        if isinstance(b, ast.Literal) and isinstance(b.value, str) and a.type.kind is t.Kind.NUMBER:
            try:
                Decimal(b.value)
            except ArithmeticError:
                continue
            return f"write the number without quotes: {b.value}"
        if a.type.kind is t.Kind.DATETIME and b.type.kind is t.Kind.DATE:
            return "compare dates with dates: use event.date, or event.time.date"
        if a.type.kind is t.Kind.DATE and isinstance(b, ast.Literal) and isinstance(b.value, str):
            return f'write the date as date("{b.value}")'
        if a.type.kind is t.Kind.TIME and isinstance(b, ast.Literal) and isinstance(b.value, str):
            return f'write the time as time("{b.value}")'
        if a.type.kind is t.Kind.LIST and b.type.kind is not t.Kind.LIST and a is right:
            return f"the value and the list must match: {ast.unparse(a)} holds {a.type.element}"
        if a.type.kind is t.Kind.LIST and b.type.kind is not t.Kind.LIST:
            return f"to test membership write {ast.unparse(b)} in {ast.unparse(a)}"
        if a.type.kind is t.Kind.TEXT and isinstance(b, ast.Literal) and b.type.kind is t.Kind.NUMBER:
            return f'{ast.unparse(a)} is text: write "{ast.unparse(b)}" in quotes'
        if a.type.kind is t.Kind.NUMBER and b.type.kind is t.Kind.TEXT:
            return "numbers and text do not mix; check the attribute's type in docs/dsl.md"
    return None
