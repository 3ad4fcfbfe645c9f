"""Typed tree → a Python function, built as `ast` nodes and compiled once.

The fast path. Every generated node carries the expression's position in its file, so even an
escaped traceback points into the program. The function runs with no builtins, in a namespace of
its own that is never written after compilation (safe to share between threads), and reads only
what the language defines: context values by key, helpers from `values` and `functions`. User
identifiers never become Python names or attributes: loop variables are renamed `v_<name>`,
attributes are dictionary keys, literals are constants.

The checker's nullability facts let plain operators stand where no null can occur; elsewhere
the code tests for null exactly as the interpreter does. Aggregates become explicit loops
(faster than `any(<generator>)`), one helper function each.
"""

from __future__ import annotations

import ast as py
import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rules_engine.dsl import ast, values
from rules_engine.dsl import types as t
from rules_engine.dsl.budget import LoopBudget, searches_data
from rules_engine.dsl.functions import FUNCTIONS
from rules_engine.source import Origin

_NATIVE_CONSTANT = (int, str, bool, type(None))
_COMPARE = {
    "==": py.Eq,
    "!=": py.NotEq,
    "<": py.Lt,
    "<=": py.LtE,
    ">": py.Gt,
    ">=": py.GtE,
    "in": py.In,
    "not in": py.NotIn,
}
_ARITHMETIC = {"+": py.Add, "-": py.Sub, "*": py.Mult}
_TEMPORAL_NATIVE = {"year", "month", "day", "hour", "minute"}
ENTRY = "_evaluate"


def compile_tree(
    typed: ast.Expr, origin: Origin, constants: dict[str, Any] | None = None, budget: LoopBudget | None = None
) -> tuple[Callable[[Any], Any], py.Module]:
    """Compile a checked tree; return the function `f(context) -> value` and its Python module.

    With a `budget` (nested loops: see `budget.py`), each evaluation starts with its allowance
    in `_b` and every loop takes its list's length from it before it starts; without one the
    code counts nothing.
    """
    generator = _Generator(origin, constants or {}, budget)
    body = generator.expr(typed, {})
    statements: list[py.stmt] = [py.Return(body)]
    if budget is not None:
        allowance = py.Call(generator.helper("_allow", budget.allowance), [_load("ctx")], [])
        statements.insert(0, py.Assign([_store("_b")], py.List([allowance], py.Load())))
    function = generator.function(ENTRY, ["ctx"], statements, typed)
    module = py.Module(body=[*generator.helpers, function], type_ignores=[])
    py.fix_missing_locations(module)
    code = compile(module, origin.file.name, "exec")
    namespace: dict[str, Any] = {"__builtins__": {}, **generator.globals}
    exec(code, namespace)
    return namespace[ENTRY], module


def compile_parts(
    comprehension: ast.Comprehension, origin: Origin, constants: dict[str, Any] | None = None
) -> Callable[[Any], list[Any]]:
    """`count(E for x in L [if C])` or `sum(…)`, checked, as a function `f(context)` of what each
    element of L adds to it, in order: for `count` 1 where C and E hold, else 0; for `sum` `0 + E`
    where C holds and E is not null, else 0. The aggregate is the list's sum from 0, in its order,
    as the compiled loop adds them (the same value, the same exponent). One list comprehension, no
    function call per element: what a challenge keeps of each basket line it counts (engine/
    mechanics/challenges.py). Without a budget: the caller takes no comprehension with loops inside.
    """
    if comprehension.func not in ("count", "sum"):
        raise ValueError(f"compile_parts: {comprehension.func}, not count or sum")
    generator = _Generator(origin, constants or {}, None)
    var = f"v_{comprehension.var}"
    inner = {comprehension.var: var}
    element = generator.expr(comprehension.element, inner)
    part: py.expr
    if comprehension.func == "count":
        part = py.IfExp(element, py.Constant(1), py.Constant(0))
    elif not _nullable(comprehension.element):
        part = py.BinOp(py.Constant(0), py.Add(), element)
    else:  # 0 where the element is null
        part = py.IfExp(
            py.Compare(_walrus("_v", element), [py.Is()], [py.Constant(None)]),
            py.Constant(0),
            py.BinOp(py.Constant(0), py.Add(), _load("_v")),
        )
    if comprehension.condition is not None:
        part = py.IfExp(generator.expr(comprehension.condition, inner), part, py.Constant(0))
    loop = py.comprehension(_store(var), _load("_it"), [], 0)
    statements: list[py.stmt] = [py.Assign([_store("_it")], generator.expr(comprehension.iterable, {}))]
    if _nullable(comprehension.iterable):
        empty = py.Return(py.List([], py.Load()))
        statements.append(py.If(py.Compare(_load("_it"), [py.Is()], [py.Constant(None)]), [empty], []))
    statements.append(py.Return(py.ListComp(part, [loop])))
    function = generator.function(ENTRY, ["ctx"], statements, comprehension)
    module = py.Module(body=[*generator.helpers, function], type_ignores=[])
    py.fix_missing_locations(module)
    namespace: dict[str, Any] = {"__builtins__": {}, **generator.globals}
    exec(compile(module, origin.file.name, "exec"), namespace)
    return namespace[ENTRY]  # type: ignore[no-any-return]


class _Generator:
    def __init__(self, origin: Origin, constants: dict[str, Any], budget: LoopBudget | None) -> None:
        self.origin = origin
        self.constants = constants
        self.budget = budget
        self.globals: dict[str, Any] = {
            "_div": values.divide,
            "_mod": values.modulo,
            "_ta": values.temporal_attribute,
            "_WD": values.WEEKDAYS,
        }
        self.helpers: list[py.stmt] = []
        self._temps = 0
        self._globals_by_id: dict[tuple[type, Any], str] = {}

    # -- positions ---------------------------------------------------------------------------
    def at(self, node: py.AST, source: ast.Expr) -> Any:
        """Stamp a generated node with the file position of the expression it comes from."""
        span = self.origin.span(*source.span)
        file = span.file
        line, column = span.line, span.column
        end_line, end_column = span.end_line, span.end_column
        node.lineno, node.end_lineno = line, end_line  # type: ignore[attr-defined]
        node.col_offset = len(file.line_text(line)[: column - 1].encode())  # type: ignore[attr-defined]
        node.end_col_offset = len(file.line_text(end_line)[: end_column - 1].encode())  # type: ignore[attr-defined]
        return node  # helper nodes inside get this position from fix_missing_locations

    # -- names -------------------------------------------------------------------------------
    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def const(self, value: Any) -> py.expr:
        if type(value) in _NATIVE_CONSTANT:
            return py.Constant(value)
        key = (type(value), value if not isinstance(value, tuple | frozenset) else repr(value))
        name = self._globals_by_id.get(key)
        if name is None:
            name = f"_k{len(self._globals_by_id)}"
            self._globals_by_id[key] = name
            self.globals[name] = value
        return py.Name(name, py.Load())

    def helper(self, name: str, obj: Any) -> py.expr:
        self.globals.setdefault(name, obj)
        return py.Name(name, py.Load())

    def function(self, name: str, params: list[str], body: list[py.stmt], source: ast.Expr) -> py.FunctionDef:
        args = py.arguments(
            posonlyargs=[], args=[py.arg(p) for p in params], kwonlyargs=[], kw_defaults=[], defaults=[]
        )
        node = py.FunctionDef(name=name, args=args, body=body, decorator_list=[], returns=None)
        return self.at(node, source)  # type: ignore[no-any-return]

    # -- expressions -------------------------------------------------------------------------
    def expr(self, node: ast.Expr, scope: dict[str, str]) -> py.expr:
        method: Callable[[Any, dict[str, str]], py.expr] = getattr(self, f"expr_{type(node).__name__}")
        return self.at(method(node, scope), node)  # type: ignore[no-any-return]

    def expr_Literal(self, node: ast.Literal, scope: dict[str, str]) -> py.expr:  # noqa: N802
        return self.const(node.value)

    def expr_ListExpr(self, node: ast.ListExpr, scope: dict[str, str]) -> py.expr:  # noqa: N802
        if all(isinstance(item, ast.Literal) for item in node.items):
            return self.const(tuple(item.value for item in node.items))  # type: ignore[union-attr]
        return py.Tuple([self.expr(item, scope) for item in node.items], py.Load())

    def expr_Name(self, node: ast.Name, scope: dict[str, str]) -> py.expr:  # noqa: N802
        if node.id in scope:
            return py.Name(scope[node.id], py.Load())
        if node.id in self.constants:
            return self.const(self.constants[node.id])
        return py.Subscript(py.Name("ctx", py.Load()), py.Constant(node.id), py.Load())

    def expr_Attribute(self, node: ast.Attribute, scope: dict[str, str]) -> py.expr:  # noqa: N802
        base_type = node.value.type
        assert base_type is not None
        base = self.expr(node.value, scope)
        if base_type.kind is t.Kind.RECORD:
            if not base_type.nullable:
                return py.Subscript(base, py.Constant(node.attr), py.Load())
            temp = self.temp()
            return _if_none(_walrus(temp, base), py.Subscript(_load(temp), py.Constant(node.attr), py.Load()))
        if base_type.nullable or base_type.kind is t.Kind.DURATION:
            return py.Call(self.helper("_ta", values.temporal_attribute), [base, py.Constant(node.attr)], [])
        if node.attr in _TEMPORAL_NATIVE:
            return py.Attribute(base, node.attr, py.Load())
        if node.attr == "weekday":
            return py.Subscript(_load("_WD"), _method(base, "weekday"), py.Load())
        return _method(base, node.attr)  # date(), time()

    def expr_Not(self, node: ast.Not, scope: dict[str, str]) -> py.expr:  # noqa: N802
        return py.UnaryOp(py.Not(), self.expr(node.operand, scope))

    def expr_BoolOp(self, node: ast.BoolOp, scope: dict[str, str]) -> py.expr:  # noqa: N802
        op = py.And() if node.op == "and" else py.Or()
        combined = py.BoolOp(op, [self.expr(node.left, scope), self.expr(node.right, scope)])
        if _nullable(node.left) or _nullable(node.right):
            # `None and x` is None in Python; the language's `and`/`or` always give true/false.
            return py.Compare(combined, [py.Is()], [py.Constant(True)])
        return combined

    def expr_Neg(self, node: ast.Neg, scope: dict[str, str]) -> py.expr:  # noqa: N802
        operand = self.expr(node.operand, scope)
        if _temporal(node.operand):
            return py.Call(self.helper("_neg", values.negate), [operand], [])
        if not _nullable(node.operand):
            return py.UnaryOp(py.USub(), operand)
        temp = self.temp()
        return _if_none(_walrus(temp, operand), py.UnaryOp(py.USub(), _load(temp)))

    def expr_Compare(self, node: ast.Compare, scope: dict[str, str]) -> py.expr:  # noqa: N802
        left = self.expr(node.left, scope)
        right_type = node.right.type
        assert right_type is not None
        if (
            node.op in ("in", "not in")
            and isinstance(node.right, ast.ListExpr)
            and all(isinstance(item, ast.Literal) for item in node.right.items)
        ):
            right: py.expr = self.at(
                self.const(frozenset(item.value for item in node.right.items)),  # type: ignore[union-attr]
                node.right,
            )
        else:
            right = self.expr(node.right, scope)
        op = node.op
        guards: list[py.expr] = []
        if op in ("in", "not in"):
            if right_type.nullable:
                right, guard = self._guard(right)
                guards.append(guard)
            if right_type.kind is t.Kind.TEXT and _nullable(node.left):
                left, guard = self._guard(left)
                guards.insert(0, guard)
            if self.budget is not None and searches_data(node, self.constants):
                # `left in _in(ctx, _b, list, start, end)`: charged after both sides are read,
                # as the interpreter charges; the guard above already left out a null list.
                right = py.Call(
                    self.helper("_in", self.budget.charge),
                    [_load("ctx"), _load("_b"), right, py.Constant(node.span[0]), py.Constant(node.span[1])],
                    [],
                )
            if not guards:
                return py.Compare(left, [_COMPARE[op]()], [right])
            found = py.BoolOp(py.And(), [*guards, py.Compare(left, [py.In()], [right])])
            return found if op == "in" else py.UnaryOp(py.Not(), found)
        if op not in ("==", "!="):
            if _nullable(node.left):
                left, guard = self._guard(left)
                guards.append(guard)
            if _nullable(node.right):
                right, guard = self._guard(right)
                guards.append(guard)
        comparison = py.Compare(left, [_COMPARE[op]()], [right])
        return py.BoolOp(py.And(), [*guards, comparison]) if guards else comparison

    def _guard(self, value: py.expr) -> tuple[py.expr, py.expr]:
        """(name to use, `(name := value) is not None`), to test a value for null once."""
        temp = self.temp()
        return _load(temp), py.Compare(_walrus(temp, value), [py.IsNot()], [py.Constant(None)])

    def expr_Binary(self, node: ast.Binary, scope: dict[str, str]) -> py.expr:  # noqa: N802
        left, right = self.expr(node.left, scope), self.expr(node.right, scope)
        if node.op == "/":
            return py.Call(_load("_div"), [left, right], [])
        if _temporal(node.left) or _temporal(node.right):
            helper = "_tadd" if node.op == "+" else "_tsub"
            return py.Call(
                self.helper(helper, values.temporal_add if node.op == "+" else values.temporal_sub),
                [left, right],
                [],
            )
        if node.op == "%":
            return py.Call(_load("_mod"), [left, right], [])
        op = _ARITHMETIC[node.op]()
        if not _nullable(node.left) and not _nullable(node.right):
            return py.BinOp(left, op, right)
        a, b = self.temp(), self.temp()
        is_null = py.BoolOp(
            py.Or(),
            [
                py.Compare(_walrus(a, left), [py.Is()], [py.Constant(None)]),
                py.Compare(_walrus(b, right), [py.Is()], [py.Constant(None)]),
            ],
        )
        return py.IfExp(is_null, py.Constant(None), py.BinOp(_load(a), op, _load(b)))

    def expr_Call(self, node: ast.Call, scope: dict[str, str]) -> py.expr:  # noqa: N802
        function = FUNCTIONS[node.func]
        if node.func in ("date", "time", "datetime") and isinstance(node.args[0], ast.Literal):
            return self.const(function.impl(node.args[0].value))  # folded: checked valid already
        args = [self.expr(arg, scope) for arg in node.args]
        return py.Call(self.helper(f"_f_{node.func}", function.impl), args, [])

    def expr_Comprehension(self, node: ast.Comprehension, scope: dict[str, str]) -> py.expr:  # noqa: N802
        name = f"_q{len(self.helpers) + 1}"
        self.helpers.append(py.Constant(None))  # type: ignore[arg-type]  # reserve the slot, in nesting order
        slot = len(self.helpers) - 1
        outer = list(scope.values())
        var = f"v_{node.var}"
        inner = {**scope, node.var: var}
        element = self.expr(node.element, inner)
        element_nullable = _nullable(node.element)
        func = node.func
        start: dict[str, py.expr] = {
            "any": py.Constant(False),
            "all": py.Constant(True),
            "count": py.Constant(0),
            "sum": py.Constant(0),
            "min": py.Constant(None),
            "max": py.Constant(None),
        }
        body: list[py.stmt]
        if func == "any":
            body = [py.If(element, [py.Return(py.Constant(True))], [])]
        elif func == "all":
            body = [py.If(py.UnaryOp(py.Not(), element), [py.Return(py.Constant(False))], [])]
        elif func == "count":
            body = [py.If(element, [py.AugAssign(_store("_acc"), py.Add(), py.Constant(1))], [])]
        elif func == "sum" and not element_nullable:
            body = [py.AugAssign(_store("_acc"), py.Add(), element)]
        elif func == "sum":
            body = [
                py.Assign([_store("_v")], element),
                py.If(
                    py.Compare(_load("_v"), [py.IsNot()], [py.Constant(None)]),
                    [py.AugAssign(_store("_acc"), py.Add(), _load("_v"))],
                    [],
                ),
            ]
        else:
            better = py.Compare(_load("_v"), [py.Lt() if func == "min" else py.Gt()], [_load("_acc")])
            test = py.BoolOp(py.Or(), [py.Compare(_load("_acc"), [py.Is()], [py.Constant(None)]), better])
            if element_nullable:
                test = py.BoolOp(py.And(), [py.Compare(_load("_v"), [py.IsNot()], [py.Constant(None)]), test])
            body = [
                py.Assign([_store("_v")], element),
                py.If(test, [py.Assign([_store("_acc")], _load("_v"))], []),
            ]
        if node.condition is not None:
            body = [py.If(self.expr(node.condition, inner), body, [])]
        loop = py.For(_store(var), _load("_it"), body, [])
        finish = py.Return(start[func] if func in ("any", "all") else _load("_acc"))
        statements: list[py.stmt] = []
        if _nullable(node.iterable):
            statements.append(
                py.If(py.Compare(_load("_it"), [py.Is()], [py.Constant(None)]), [py.Return(start[func])], [])
            )
        if self.budget is not None:
            # _b[0] -= len(_it); if _b[0] < 0: raise _over(ctx, start, end)
            overrun = py.Call(
                self.helper("_over", self.budget.exceeded),
                [_load("ctx"), py.Constant(node.span[0]), py.Constant(node.span[1])],
                [],
            )
            steps = py.Subscript(_load("_b"), py.Constant(0), py.Store())
            statements += [
                py.AugAssign(steps, py.Sub(), py.Call(self.helper("_len", len), [_load("_it")], [])),
                py.If(
                    py.Compare(
                        py.Subscript(_load("_b"), py.Constant(0), py.Load()), [py.Lt()], [py.Constant(0)]
                    ),
                    [py.Raise(overrun, None)],
                    [],
                ),
            ]
        if func not in ("any", "all"):
            statements.append(py.Assign([_store("_acc")], start[func]))
        statements += [loop, finish]
        reads_context = any(isinstance(n, py.Name) and n.id == "ctx" for s in statements for n in py.walk(s))
        passed = ["ctx", *outer] if reads_context else outer
        if self.budget is not None:  # the budget's loops read ctx (for the error) and share _b
            passed = ["ctx", "_b", *outer]
        self.helpers[slot] = self.function(name, [*passed, "_it"], statements, node)
        iterable = self.expr(node.iterable, scope)
        return py.Call(_load(name), [*(_load(v) for v in passed), iterable], [])


def _temporal(node: ast.Expr) -> bool:
    return node.type is not None and node.type.kind in (t.Kind.DURATION, t.Kind.DATE, t.Kind.DATETIME)


def _nullable(node: ast.Expr) -> bool:
    return node.type is None or node.type.nullable


def _load(name: str) -> py.Name:
    return py.Name(name, py.Load())


def _store(name: str) -> py.Name:
    return py.Name(name, py.Store())


def _walrus(name: str, value: py.expr) -> py.NamedExpr:
    return py.NamedExpr(_store(name), value)


def _if_none(test_value: py.expr, otherwise: py.expr) -> py.IfExp:
    return py.IfExp(py.Compare(test_value, [py.Is()], [py.Constant(None)]), py.Constant(None), otherwise)


def _method(value: py.expr, name: str) -> py.Call:
    return py.Call(py.Attribute(value, name, py.Load()), [], [])


def is_exact_constant(value: Any) -> bool:
    return isinstance(value, int | str | bool | Decimal | dt.date | dt.time | dt.timedelta) or value is None
