"""Aggregates over the basket lines as generated code, and what the inliner's pieces share.

The condition compiler writes `any(item.category == "coffee" for item in basket.items)`,
`count(...)` and `sum(item.qty for item in basket.items if ...)` as helper functions that loop
over the lines' records in the context. `aggregate` rewrites such a helper into a function of the
generated module that loops over the lines themselves (each `item.<field>` read as the line's
field); `in_c` recognises the forms the fused line pass's truths answer without a Python loop
(`_any`, `_sum`, `_sum(_compress(...))`). Apart from generate_lines.py, which inlines a whole
condition and fuses the per-line ones, because these read the compiler's helpers rather than
its expressions; both share `copied`, `LINE_FIELDS` and `NotInlinedError`, kept here.

Input: a `Writer`, the compiler's helper and its names. Output: an `ast` function or form, or None.
"""

from __future__ import annotations

import ast as py
import operator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # code_writer.py imports this module: its Writer is only named here
    from rules_engine.engine.code_writer import Writer

# A line's standard attributes: the record's value is the line's field (conditions.build_context).
LINE_FIELDS = frozenset({"sku", "name", "category", "price", "qty"})


def copied(node: Any) -> Any:
    """A fresh copy of an `ast` tree (`copy.deepcopy` without its memo: about half the time)."""
    if isinstance(node, list):
        return [copied(item) for item in node]
    if not isinstance(node, py.AST):
        return node  # a constant's value, a name: immutable
    return node.__class__(**{name: copied(value) for name, value in node.__dict__.items()})


class NotInlinedError(Exception):
    """A name the inliner does not know: the expression stays a call of its function."""


def is_name(node: py.AST, name: str) -> bool:
    return isinstance(node, py.Name) and node.id == name


def aggregate(writer: Writer, helper: py.stmt, names: dict[str, Any], name: str) -> py.FunctionDef | None:
    """The condition compiler's helper of an aggregate over `basket.items` (`any(item.category ==
    "coffee" for item in basket.items)`, `sum(item.qty for item in basket.items if …)`), as a
    function of the generated module named `name` that loops over the lines themselves: each
    `item.<attribute>` read as the line's field. None when the helper is anything else (it
    reads a custom attribute, another record, the context, or loops over something else): the
    condition is then called as its compiled function."""
    if not isinstance(helper, py.FunctionDef) or len(helper.args.args) != 1 or helper.args.vararg:
        return None
    parameter = helper.args.args[0].arg
    fresh = copied(helper)
    loops = {
        node.target.id
        for node in py.walk(fresh)
        if isinstance(node, py.For) and isinstance(node.target, py.Name) and is_name(node.iter, parameter)
    }
    local = {n.id for n in py.walk(fresh) if isinstance(n, py.Name) and isinstance(n.ctx, py.Store)}
    # engine names for its locals (a loop variable's is the program's: `v_item`)
    renamed = {old: f"_v{n}" for n, old in enumerate(sorted({parameter, *loops, *local}))}
    try:
        body = [_Aggregate(writer, names, renamed, loops).visit(statement) for statement in fresh.body]
    except NotInlinedError:
        return None
    fresh.name = name
    fresh.args.args[0].arg = renamed[parameter]
    fresh.body = body
    return fresh  # type: ignore[no-any-return]


def in_c(writer: Writer, helper: py.stmt, names: dict[str, Any]) -> tuple[str, Any, py.expr, py.expr] | None:
    """An aggregate's helper (the condition compiler's, over the lines' records) that the fused
    pass's truths answer in C: `any(TEST for item in basket.items)` as `_any(truths)`,
    `count(TEST …)` as `_sum(truths)`, `sum(item.FIELD for item in basket.items if TEST)` as
    `_sum(_compress(<each line's FIELD>, truths))` — the same values added in the same order, so
    the same result, without a Python loop. As (kind, the field's getter or None, TEST over the
    line `_it`, TEST over its record); None for any other helper, or a TEST that is not a
    comparison (or `and`/`or`/`not` of them: a bool, so its truth is its value `is True`, what the
    pass keeps) over the line's standard fields and constants."""
    if not isinstance(helper, py.FunctionDef) or len(helper.args.args) != 1 or helper.args.vararg:
        return None
    parameter, body = helper.args.args[0].arg, helper.body
    if len(body) == 2 and _returns(body[1], False):  # any: return True on the first that holds
        loop, accumulator = body[0], None
    elif (
        len(body) == 3
        and isinstance(body[0], py.Assign)
        and len(body[0].targets) == 1
        and isinstance(body[0].targets[0], py.Name)
        and _is_int(body[0].value, 0)
        and isinstance(body[2], py.Return)
        and is_name(body[2].value, body[0].targets[0].id)  # type: ignore[arg-type]
    ):
        loop, accumulator = body[1], body[0].targets[0].id
    else:
        return None
    if not (
        isinstance(loop, py.For)
        and isinstance(loop.target, py.Name)
        and is_name(loop.iter, parameter)
        and not loop.orelse
        and len(loop.body) == 1
        and isinstance(loop.body[0], py.If)
        and not loop.body[0].orelse
        and len(loop.body[0].body) == 1
        and _boolean(loop.body[0].test)
    ):
        return None
    variable, test, then = loop.target.id, loop.body[0].test, loop.body[0].body[0]
    if accumulator is None:
        if not _returns(then, True):
            return None
        kind, getter = "any", None
    elif isinstance(then, py.AugAssign) and isinstance(then.op, py.Add) and is_name(then.target, accumulator):
        if _is_int(then.value, 1):
            kind, getter = "count", None
        else:
            field = _field_of(then.value, variable)
            if field is None:
                return None
            kind, getter = "sum", operator.itemgetter(field)
    else:
        return None
    try:
        line = _LineTest(writer, names, variable, lines=True).visit(copied(test))
        record = _LineTest(writer, names, variable, lines=False).visit(copied(test))
    except NotInlinedError:
        return None
    return kind, getter, line, record


def _returns(node: py.stmt, value: bool) -> bool:
    return isinstance(node, py.Return) and isinstance(node.value, py.Constant) and node.value.value is value


def _is_int(node: py.expr | None, value: int) -> bool:
    return isinstance(node, py.Constant) and type(node.value) is int and node.value == value


def _boolean(node: py.expr) -> bool:
    """Whether `node` is sure to be a bool (or raise): a comparison, `not`, `and`/`or` of them."""
    if isinstance(node, py.Compare):
        return True
    if isinstance(node, py.UnaryOp):
        return isinstance(node.op, py.Not)
    return isinstance(node, py.BoolOp) and all(_boolean(value) for value in node.values)


def _field_of(node: py.expr, variable: str) -> str | None:
    """The standard field `node` reads of the loop's record (`v_item['qty']`), else None."""
    if (
        isinstance(node, py.Subscript)
        and is_name(node.value, variable)
        and isinstance(node.slice, py.Constant)
        and node.slice.value in LINE_FIELDS
    ):
        return str(node.slice.value)
    return None


class _LineTest(py.NodeTransformer):
    """An aggregate's test over the line `_it`: its fields as attributes (`lines`) or, as the
    fused pass reads a record, as keys; constants in the writer's namespace (`in_c`)."""

    def __init__(self, writer: Writer, names: dict[str, Any], variable: str, *, lines: bool) -> None:
        self.writer = writer
        self.names = names
        self.variable = variable
        self.lines = lines

    def visit_Subscript(self, node: py.Subscript) -> py.expr:
        field = _field_of(node, self.variable)
        if field is None:
            raise NotInlinedError("another subscript")
        line = py.Name("_it", py.Load())
        if self.lines:
            return py.copy_location(py.Attribute(line, field, py.Load()), node)
        return py.copy_location(py.Subscript(line, py.Constant(field), py.Load()), node)

    def visit_Constant(self, node: py.Constant) -> py.expr:
        if type(node.value) is str:
            return py.copy_location(self.writer.const(node.value, named=True), node)
        return node

    def visit_Name(self, node: py.Name) -> py.expr:
        if (
            isinstance(node.ctx, py.Load)
            and node.id in self.names
            and not callable_helper(self.names[node.id])
        ):
            return py.copy_location(self.writer.const(self.names[node.id]), node)
        raise NotInlinedError(node.id)


class _Aggregate(py.NodeTransformer):
    """An aggregate's helper rewritten over the lines (`aggregate`); anything it does not know
    raises `NotInlinedError`."""

    def __init__(self, writer: Writer, names: dict[str, Any], renamed: dict[str, str], loops: set[str]):
        self.writer = writer
        self.names = names
        self.renamed = renamed
        self.loops = loops

    def visit_For(self, node: py.For) -> py.For:
        if not (isinstance(node.target, py.Name) and node.target.id in self.loops and not node.orelse):
            raise NotInlinedError("a loop over something else than the lines")
        node.target = self.visit(node.target)
        node.iter = self.visit(node.iter)
        node.body = [self.visit(statement) for statement in node.body]
        return node

    def visit_Subscript(self, node: py.Subscript) -> py.expr:
        if (
            isinstance(node.value, py.Name)
            and node.value.id in self.loops
            and isinstance(node.slice, py.Constant)
            and node.slice.value in LINE_FIELDS
        ):
            line = py.Name(self.renamed[node.value.id], py.Load())
            return py.copy_location(py.Attribute(line, node.slice.value, py.Load()), node)
        raise NotInlinedError("another subscript")

    def visit_Constant(self, node: py.Constant) -> py.expr:
        if type(node.value) is str:
            return py.copy_location(self.writer.const(node.value, named=True), node)
        return node

    def visit_Name(self, node: py.Name) -> py.expr:
        if node.id in self.renamed:
            return py.copy_location(py.Name(self.renamed[node.id], node.ctx), node)
        if (
            isinstance(node.ctx, py.Load)
            and node.id in self.names
            and not callable_helper(self.names[node.id])
        ):
            return py.copy_location(self.writer.const(self.names[node.id]), node)
        raise NotInlinedError(node.id)


def callable_helper(value: Any) -> bool:
    """Whether a compiled expression's global is one of its own helpers (a function of its module)."""
    return getattr(value, "__code__", None) is not None and value.__code__.co_name.startswith("_q")
