"""Per-item conditions as generated code: inlined, and fused into one pass over the basket lines.

The earning base's `exclude`, a discount's `applies_to`, an earn rule's `for_each_item` and
`exclude`, a multiplier's: each is a per-line condition, and the stages evaluate each one line by
line through a line context (`conditions.holding`: a call of the compiled function per line, the
context's `item` replaced each time). Most are simple — `item.category == "coffee"`, `item.qty >=
2`, `item.sku in [...]` — and the condition compiler made of each a function whose body is one
Python expression over `ctx`. `inlined` takes that expression (the compiler's own `ast`, not the
program's text) and reads it over the line's record (`_it`) and the event's context (`_c`), its
constants moved into the generated module's namespace; `Lines` puts every such condition of the
program into one comprehension over the lines, at the start of the function, each line's truths
as a tuple (identical conditions once).

Errors stay where they were. The fused pass evaluates a condition on every line, where a stage
asks it only of some lines and only when its rule is admitted; a line whose condition raises
(a missing attribute: false; anything else: the stage's error) must behave as on the stage. So
when any condition raises anything on any line, the pass leaves that condition undecided (None),
and the code that reads it calls the stage's function (`_truths`, code_writer.line_truths) on the
lines it asks, at the moment the stage asks: same truths, same errors, same order. A condition
whose function is not one expression (a comprehension inside, a loop budget) is always asked that
way.

Input: a `Writer` and expressions. Output: `ast` expressions and the pass's statements.
"""

from __future__ import annotations

import ast as py
import operator
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rules_engine.dsl.expression import Expression
from rules_engine.engine.generate_aggregates import LINE_FIELDS, NotInlinedError, copied, is_name

if TYPE_CHECKING:  # code_writer.py imports this module: its Writer is only named here
    from rules_engine.engine.code_writer import Writer

_TEMP = re.compile(r"_t\d+$")


def inlined(writer: Writer, expression: Expression, prefix: str, *, lines: bool = False) -> py.expr | None:
    """The compiled function's body as an expression over `_it` (the line, for `ctx["item"]`) and
    the event's values, or None when the function is more than `return <expression>` (helpers for
    comprehensions, a loop budget). The compiler's temporaries are renamed with `prefix`, its
    globals become the writer's.

    What the context holds that the run has as a plain value (`DIRECT`: `basket.total`,
    `event.time`, `customer.tier` …) is read from a local of the function, computed once per
    event (`Writer.direct`); anything else of the context from `_c` (the context, which the
    code that reads it builds first: `reads_context`). With `lines`, `_it` is the line itself
    (`run.items[i]`) and a standard attribute of it is read as the line's field; an expression
    that reads a custom attribute of the line is then not inlined (None): its caller reads it
    over the line's record instead (the context's `basket.items`), `lines` false."""
    if expression.budget is not None:
        return None
    module = expression._module
    *helpers, function = module.body
    if not isinstance(function, py.FunctionDef) or len(function.body) != 1:
        return None
    returned = function.body[0]
    if not isinstance(returned, py.Return) or returned.value is None:
        return None
    names: dict[str, Any] = expression._function.__globals__
    aggregates = writer.aggregates(expression, helpers) if helpers else {}
    if aggregates is None:
        return None
    try:
        reader = _Reader(writer, names, prefix, lines, aggregates)
        return reader.visit(copied(returned.value))  # type: ignore[no-any-return]
    except NotInlinedError:
        return None


def reads_context(node: py.AST) -> bool:
    """Whether inlined code reads the event's context `_c` (then it is built first)."""
    return any(isinstance(n, py.Name) and n.id == "_c" for n in py.walk(node))


# What the condition context (conditions.build_context) holds that the generated function reads
# from the run directly: (record, attribute) → the local it is read from, and the template of
# its value, the same value as the context's (computed once, at the function's start, when some
# inlined condition reads it). On the generated path the event is a purchase without coupons and
# explain is off; the context's other attributes (`basket.items`, `customer.purchases`, the
# custom attributes) are read from the context.
DIRECT: dict[tuple[str, str], tuple[str, str]] = {
    ("event", "id"): ("_e_id", "run.event.id"),
    ("event", "type"): ("_e_type", "run.event.type"),
    ("event", "time"): ("_e_time", "run.local"),
    ("event", "date"): ("_day", "run.local.date()"),  # the schedules' day too
    ("event", "channel"): ("_e_channel", "run.event.channel"),
    ("event", "store"): ("_e_store", "run.event.store"),
    ("basket", "total"): ("_b_total", "_sum(run.amounts, _ZERO)"),
    # `basket.total` in minor units, for its comparisons with constants (`_Reader.visit_Compare`)
    ("basket", "total_minor"): ("_b_minor", "_sum(_rm)"),
    ("basket", "item_count"): ("_b_count", "_sum([_l.qty for _l in run.items], _ZERO)"),
    ("basket", "shipping"): ("_b_shipping", "run.event.shipping"),
    ("basket", "tax"): ("_b_tax", "run.event.tax"),
    ("basket", "currency"): ("_b_currency", "run.program.currency"),
    ("basket", "coupons"): ("_b_coupons", "_tuple(run.event.coupons)"),
    ("customer", "id"): ("_u_id", "run.event.customer"),
    ("customer", "tier"): ("_u_tier", "run.before.tier"),
    ("customer", "points"): ("_u_points", "run.points_before"),
    ("customer", "tags"): ("_u_tags", "_tuple(run.before.profile.tags)"),
    ("customer", "visits"): ("_u_visits", "run.before.visits"),
    ("customer", "signup_date"): ("_u_signup", "run.before.profile.signup_date"),
    ("customer", "birthday"): ("_u_birthday", "run.before.profile.birthday"),
}


class _Reader(py.NodeTransformer):
    def __init__(
        self, writer: Writer, names: dict[str, Any], prefix: str, lines: bool, aggregates: dict[str, str]
    ) -> None:
        self.writer = writer
        self.names = names
        self.prefix = prefix
        self.lines = lines
        self.aggregates = aggregates

    def visit_Call(self, node: py.Call) -> py.expr:
        """An aggregate's helper called on `basket.items`: its function over the lines (`aggregate`)."""
        if isinstance(node.func, py.Name) and node.func.id in self.aggregates:
            argument = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if not (
                isinstance(argument, py.Subscript)
                and _read_of(argument.value) == "basket"
                and isinstance(argument.slice, py.Constant)
                and argument.slice.value == "items"
            ):
                raise NotInlinedError(node.func.id)
            name = self.aggregates[node.func.id]
            called = self.writer.expr(f"{name}(run.items)")
            # answered from the fused pass's truths, unless it left them undecided (not inside the
            # pass itself, a per-line test `_l…`: those truths are not made yet)
            form = self.writer.in_c.get(name) if self.prefix != "_l" else None
            if form is not None:
                kind, getter, line, record = form
                truths = self.writer.lines.fused(line, record)
                answer = {
                    "any": f"_any({truths})",
                    "count": f"_sum({truths})",
                    "sum": f"_sum(_compress(_map(GETTER, run.fields), {truths}))",
                }[kind]
                called = self.writer.expr(
                    f"(CALLED if {truths} is None else {answer})", CALLED=called, GETTER=getter
                )
            return py.copy_location(called, node)
        self.generic_visit(node)
        return node

    def visit_Compare(self, node: py.Compare) -> py.expr:
        """`basket.total` compared with a constant that is a whole number of minor units (`>=
        200`): the ints compared instead (`_b_minor >= 20000`, the sum of the lines' minor units),
        the same truth (both sides scaled by 10 ** the currency's exponent, exactly)."""
        if len(node.ops) == 1 and isinstance(node.ops[0], _ORDERS):
            sides = [node.left, node.comparators[0]]
            for place in (0, 1):
                scaled = self._minor_units(sides[1 - place])
                if _is_total(sides[place]) and scaled is not None:
                    self.writer.read_direct("basket", "total_minor")
                    sides[place] = py.copy_location(py.Name("_b_minor", py.Load()), sides[place])
                    sides[1 - place] = py.copy_location(py.Constant(scaled), sides[1 - place])
                    node.left, node.comparators = sides[0], [sides[1]]
                    return node
        self.generic_visit(node)
        return node

    def _minor_units(self, node: py.expr) -> int | None:
        """The constant `node` (an int, or a decimal of the expression's names) in minor units
        when that is a whole number, else None."""
        value: Any
        if isinstance(node, py.Constant):
            value = node.value
        elif isinstance(node, py.Name) and isinstance(node.ctx, py.Load) and node.id in self.names:
            value = self.names[node.id]
        else:
            return None
        if type(value) is int:
            return int(value * 10**self.writer.exponent)
        if type(value) is Decimal and value.is_finite():
            numerator, denominator = value.as_integer_ratio()
            scaled, left = divmod(numerator * 10**self.writer.exponent, denominator)
            return None if left else scaled
        return None

    def visit_Subscript(self, node: py.Subscript) -> py.expr:
        record = _read_of(node.value)
        if record is not None and isinstance(node.slice, py.Constant) and type(node.slice.value) is str:
            key = node.slice.value
            if record == "item" and self.lines:
                if key not in LINE_FIELDS:
                    raise NotInlinedError(f"item.{key}")
                return py.copy_location(py.Attribute(py.Name("_it", py.Load()), key, py.Load()), node)
            direct = DIRECT.get((record, key))
            if direct is not None:
                name, _ = direct
                self.writer.read_direct(record, key)
                return py.copy_location(py.Name(name, py.Load()), node)
        if _read_of(node) == "item":
            return py.copy_location(py.Name("_it", py.Load()), node)
        node.value = self.visit(node.value)
        if not (isinstance(node.slice, py.Constant) and type(node.slice.value) is str):
            node.slice = self.visit(node.slice)  # an attribute's name (an identifier) stays a key
        return node

    def visit_Constant(self, node: py.Constant) -> py.expr:
        if type(node.value) is str:  # a literal of the program: a name in the namespace
            return py.copy_location(self.writer.const(node.value, named=True), node)
        return node

    def visit_Name(self, node: py.Name) -> py.expr:
        if node.id == "ctx":
            return py.copy_location(py.Name("_c", py.Load()), node)
        if _TEMP.match(node.id):
            return py.copy_location(py.Name(self.prefix + node.id, node.ctx), node)
        if isinstance(node.ctx, py.Load) and node.id in self.names and node.id != "__builtins__":
            return py.copy_location(self.writer.const(self.names[node.id]), node)
        raise NotInlinedError(node.id)


_ORDERS = (py.Lt, py.LtE, py.Gt, py.GtE, py.Eq, py.NotEq)


def _is_total(node: py.expr) -> bool:
    """Whether `node` reads `basket.total` (`ctx['basket']['total']`)."""
    return (
        isinstance(node, py.Subscript)
        and _read_of(node.value) == "basket"
        and isinstance(node.slice, py.Constant)
        and node.slice.value == "total"
    )


def _read_of(node: py.expr) -> str | None:
    """The record `node` reads when it is `ctx["<record>"]` (a name of the context), else None."""
    if (
        isinstance(node, py.Subscript)
        and isinstance(node.value, py.Name)
        and node.value.id == "ctx"
        and isinstance(node.slice, py.Constant)
        and type(node.slice.value) is str
    ):
        return node.slice.value
    return None


def _fields_read(tests: list[py.expr]) -> list[str]:
    """The line's fields the tests read (`_it.<field>`), in a fixed order; none when a test reads
    `_it` otherwise."""
    fields: set[str] = set()
    for test in tests:
        for node in py.walk(test):
            if isinstance(node, py.Attribute) and is_name(node.value, "_it"):
                fields.add(node.attr)
    reads = sum(
        1 for test in tests for node in py.walk(test) if isinstance(node, py.Name) and node.id == "_it"
    )
    attributes = sum(
        1
        for test in tests
        for node in py.walk(test)
        if isinstance(node, py.Attribute) and is_name(node.value, "_it")
    )
    return sorted(fields) if reads == attributes else []


class _FieldReads(py.NodeTransformer):
    """`_it.<field>` → `_f_<field>` (the field read once per line, `_fields_read`)."""

    def visit_Attribute(self, node: py.Attribute) -> py.expr:
        if is_name(node.value, "_it"):
            return py.copy_location(py.Name(f"_f_{node.attr}", py.Load()), node)
        self.generic_visit(node)
        return node


class Lines:
    """The program's per-line conditions read in one pass (the module docstring)."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.names: dict[str, str] = {}  # the inlined expression's dump → its truths' name
        # Each condition over the line itself (None: it reads a custom attribute) and over its record.
        self.tests: list[tuple[py.expr | None, py.expr]] = []

    def fused(self, line: py.expr, record: py.expr) -> str:
        """The name of a per-line test's truths in the pass (None there when it raised on some
        line), over the line and over its record; a test already in the pass is read from it."""
        key = py.dump(record)
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = f"_lt{len(self.tests)}"
            self.tests.append((line, record))
        return name

    def truths(self, expression: Expression, lines: str) -> py.expr:
        """Truths of `expression` on `lines` (an expression over the function's names, evaluated
        once), in order: from the fused pass when it decided them, else by the stage's function."""
        asked = f"_truths(run, F, {lines})"
        test = inlined(self.writer, expression, "_l")
        if test is None:
            return self.writer.expr(asked, F=expression._function)
        key = py.dump(test)
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = f"_lt{len(self.tests)}"
            self.tests.append((inlined(self.writer, expression, "_l", lines=True), test))
        if lines == "_range(_n)":
            return self.writer.expr(f"({asked} if {name} is None else {name})", F=expression._function)
        return self.writer.expr(
            f"({asked} if {name} is None else [{name}[_i] for _i in {lines}])", F=expression._function
        )

    def keep(
        self, expression: Expression, lines: str, *, held: bool = True, first: str | None = None
    ) -> list[py.stmt]:
        """`lines` (the name of a list of line indexes) kept to those where `expression` holds
        (or, not `held`, does not): read from the fused pass when it decided the condition, else
        asked of the stage's function on those lines (`truths`). With `first` (a test of line
        `_i`), `lines` is made here, of the lines that pass it: in one comprehension with the
        pass's truths when it decided them (both are pure: the order of the two tests is free),
        else first by `first`, then asked of the stage's function on those only."""
        truths = self.truths(expression, lines)
        test = "_h" if held else "not _h"
        keep = f"{lines} = [_i for _i, _h in _zip({lines}, TRUTHS) if {test}]"
        start = self.writer.stmts(f"{lines} = [_i for _i in _range(_n) if {first}]") if first else []
        if not (isinstance(truths, py.IfExp) and isinstance(truths.test, py.Compare)):
            return start + self.writer.stmts(keep, TRUTHS=truths)  # never in the pass: always asked
        asked = self.writer.stmts(keep, TRUTHS=truths.body)
        name = truths.test.left
        assert isinstance(name, py.Name)
        read = f"{name.id}[_i]" if held else f"not {name.id}[_i]"
        if first:
            fused = f"{lines} = [_i for _i in _range(_n) if {read} and {first}]"
        else:
            fused = f"{lines} = [_i for _i in {lines} if {read}]"
        return self.writer.stmts(
            f"if {name.id} is None:\n    START\n    ASKED\nelse:\n    {fused}", START=start, ASKED=asked
        )

    def statements(self) -> list[py.stmt]:
        """The pass: each line's truths of every condition, then each condition's truths; a
        condition that raised on some line undecided (None), asked of the stage's function. Over
        the lines themselves when no condition reads a custom attribute of a line, else over
        their records in the context."""
        if not self.tests:
            return []
        writer = self.writer
        names = list(self.names.values())
        over_lines = all(line is not None for line, _ in self.tests)
        tests = [line if over_lines else record for line, record in self.tests]
        each: list[py.expr] = [py.Compare(test, [py.Is()], [py.Constant(True)]) for test in tests]  # type: ignore[arg-type]
        target = "_it"
        if over_lines:
            start = writer.stmts("_c = _ctx(run)") if any(reads_context(test) for test in each) else []
            fields = _fields_read(each)
            if fields:  # each field of a line read once from its field dict, in C, into a local
                each = [_FieldReads().visit(test) for test in each]
                target = ", ".join(f"_f_{name}" for name in fields)
                writer.namespace["_get_fields"] = operator.itemgetter(*fields)
                start += writer.stmts("_records = _map(_get_fields, run.fields)")
            else:
                start += writer.stmts("_records = run.items")
        else:
            start = writer.stmts('_c = _ctx(run)\n_records = _c["basket"]["items"]')
        if len(each) == 1:
            fused = writer.stmts(f"{names[0]} = [TEST for {target} in _records]", TEST=each[0])
        else:
            fused = writer.stmts(
                f"_lt = [TESTS for {target} in _records]\n" + ", ".join(names) + " = _zip(*_lt)",
                TESTS=py.Tuple(each, py.Load()),
            )
        one_by_one: list[py.stmt] = []  # some line raised: each condition on its own
        if target != "_it":  # the fields again (the map is spent)
            one_by_one += writer.stmts("_records = _list(_map(_get_fields, run.fields))")
        for name, test in zip(names, each, strict=True):
            one_by_one += writer.stmts(
                f"try:\n    {name} = [TEST for {target} in _records]\nexcept _Exception:\n    {name} = None",
                TEST=copied(test),
            )
        if len(each) == 1:  # nothing to tell apart: the one condition is undecided
            one_by_one = writer.stmts(f"{names[0]} = None")
        return start + writer.stmts(
            "try:\n    FUSED\nexcept _Exception:\n    ONE_BY_ONE", FUSED=fused, ONE_BY_ONE=one_by_one
        )
