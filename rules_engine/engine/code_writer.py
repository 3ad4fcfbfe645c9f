"""How the generated code is written: engine templates → `ast` statements, and what they run with.

The generator (generate.py) writes a program's code from templates of engine-written Python,
never from the program's text: each template is parsed anew for each use, its placeholder names
(in CAPITALS) replaced by the program's values — `ast` constants for numbers and text, names of
values the module's namespace holds for the rest (decimals, expressions' compiled functions,
schedules, caps) — and its placeholder statements by statement lists written already (`Writer`).
Every statement is stamped with its part's line in the program file (`Writer.at`), so a traceback
through the generated function points into the program. The namespace starts from `RUNTIME`: no
builtins, only what the code calls, by engine-chosen names.

Input: a `Plan`. Output: statements, and the namespace they run in.
"""

from __future__ import annotations

import ast as py
import itertools
import math
import operator
import re
import textwrap
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from types import MappingProxyType
from typing import Any

from rules_engine.dsl import values
from rules_engine.dsl.context import Context
from rules_engine.engine import conditions, earning, pricing, schedule
from rules_engine.engine.generate_aggregates import aggregate, in_c
from rules_engine.engine.generate_lines import DIRECT, Lines
from rules_engine.engine.money import ONE, SMALL, later_shares, line_shares, split, split_points
from rules_engine.engine.plan import Plan
from rules_engine.engine.result import award_of, discount_of
from rules_engine.engine.rounding import scaled_fresh
from rules_engine.engine.trusted import FIRED_GIVEN, Verdict, fired_verdict, simple_verdict
from rules_engine.errors import ContextError
from rules_engine.periods import of_kinds, without_past
from rules_engine.source import SourceFile

ZERO = Decimal(0)


def whole(points: int) -> Decimal:
    """`rounding._whole`: whole points as a decimal (refused past 28 digits, as there)."""
    if 0 <= points < 1024:
        return SMALL[points]
    return Decimal(points).quantize(ONE)


def multiplied_base(added: list[tuple[list[int], int, int]], slots: int) -> tuple[list[int], int]:
    """Each line's exact points of the rules before the multipliers, over one denominator: what
    `Rounding._base` adds up (the values matter, not their terms).

    Each of `added` is a rule's points on each line as `(numerators, factor, denominator)`: line
    i's are numerators[i] × factor / denominator. Rules that weigh the same list (a rate and the
    basket awards all weigh the earning base's units) have their factors added first, over the
    common denominator, so each list is gone through once: integers, the same sums. The first
    list is scaled (or, by 1, taken as it is: the generated code never changes a list it weighs),
    each other one added to it, element by element in C (`map`)."""
    if not added:
        return [0] * slots, 1
    if len(added) == 1:
        numerators, factor, common = added[0]
        return (numerators if factor == 1 else [*_map(_mul, numerators, _repeat(factor))]), common
    common = math.lcm(*[d for _, _, d in added])
    factors: dict[int, tuple[list[int], int]] = {}
    for numerators, factor, d in added:
        k = common // d * factor
        kept = factors.get(id(numerators))
        factors[id(numerators)] = (numerators, k if kept is None else kept[1] + k)
    lists = iter(factors.values())
    numerators, k = next(lists)
    sums = numerators if k == 1 else [*_map(_mul, numerators, _repeat(k))]
    for numerators, k in lists:
        scaled = numerators if k == 1 else _map(_mul, numerators, _repeat(k))
        sums = [*_map(_add, sums, scaled)]
    return sums, common


_map, _mul, _add, _repeat = map, operator.mul, operator.add, itertools.repeat


def line_points(units: int, weights: list[int]) -> list[int]:
    """The whole points each line is given of an award of `units` split by `weights`, as ints:
    `money.line_shares`'s split (per_rule: what a multiplier after it weighs)."""
    points = [0] * len(weights)
    for line, _, share in line_shares(units, weights, [""] * len(weights)):
        points[line] = int(share)
    return points


def cap_key(run: Any, period: str, keys: dict[Any, str]) -> str:
    """`earning.cap_period_key`, remembered in `keys` (the generated module's, one per cap period)
    by the event's local date, of which it is a function: most events of a day find it there."""
    key = earning.cap_period_key(run, period)
    if len(keys) >= _KEYS_KEPT:
        keys.clear()
    keys[run.local.date()] = key
    return key


_KEYS_KEPT = 512  # dates remembered per cap period (emptied when full)


def line_truths(run: Any, function: Callable[[Any], Any], lines: Any) -> list[bool]:
    """A per-line condition's truth on each of `lines`, as `conditions.holding` gives it: false on
    a line where it reads something missing (KeyError, ContextError)."""
    context = run.line_context
    if context is None:
        context = run.line_context = Context(conditions.context_of(run))
    records = conditions.context_of(run)["basket"]["items"]
    out = []
    for index in lines:
        context["item"] = records[index]
        try:
            out.append(function(context) is True)
        except (KeyError, ContextError):
            out.append(False)
    return out


def line_context(run: Any, index: int) -> Context:
    """`conditions.item_context`."""
    return conditions.item_context(run, index)


RUNTIME: dict[str, Any] = {
    "_len": len,
    "_list": list,
    "_map": map,
    "_sum": sum,
    "_range": range,
    "_enumerate": enumerate,
    "_zip": zip,
    "_tuple": tuple,
    "_any": any,
    "_compress": itertools.compress,
    "_str": str,
    "_int": int,
    "_Decimal": Decimal,
    "_Exception": Exception,
    "_KE": (KeyError, ContextError),
    "_KeyError": KeyError,
    "_ZERO": ZERO,
    "_HUNDRED": Decimal(100),
    "_HALF_UP": ROUND_HALF_UP,
    "_ONE": ONE,
    "_ctx": conditions.context_of,
    "_ctrace": conditions.condition_trace,
    "_truths": line_truths,
    "_item_ctx": line_context,
    "_within": schedule.within,
    "_sv": simple_verdict,
    "_fv": fired_verdict,
    # `fired_verdict(...)` spelt out: the verdict's tuple made in C, without a Python call
    "_vt": tuple.__new__,
    "_Verdict": Verdict,
    "_FIRED": FIRED_GIVEN,
    "_award_of": award_of,
    "_discount_of": discount_of,
    "_split": split,
    "_split_points": split_points,
    "_line_shares": later_shares,  # a `LineShares`: split when first read
    "_scaled": scaled_fresh,  # the amounts and points it scales are the event's own
    "_whole": whole,
    "_SMALL": SMALL,
    "_cap_key": cap_key,
    "_mbase": multiplied_base,
    "_line_points": line_points,
    "_lcm": math.lcm,
    "_gcd": math.gcd,
    "_BIG": 1 << 64,  # a denominator past this is reduced (rounding._aligned)
    "_without_past": without_past,
    "_late_from": earning.kept_from,
    "_of_kinds": of_kinds,
    "_dict": dict,
    "_EMPTY": MappingProxyType({}),
    "_earning_base": earning.earning_base,
    "_shipping_base": earning.shipping_base,
    "_take_off": pricing.take_off,
    "_waive": pricing.waive_shipping,
    "_money": values.display,
}


# -- templates: engine-written code; placeholders in CAPITALS become the program's values -------


@cache
def _template(text: str) -> str:
    return textwrap.dedent(text)


def _fill(node: py.AST, values: dict[str, Any], may_track: bool, tracks: bool = False) -> py.AST:
    """Replace, in a template's fresh tree, placeholder names by expressions and placeholder
    statements by statement lists (made already: not visited again); leave out `if _track:`
    blocks when no multiplier may apply (`may_track`), and keep only their body when every event
    tracks (`tracks`: per line). In place; returns `node`."""
    for name in node._fields:
        child = getattr(node, name, None)
        if isinstance(child, list):
            out: list[Any] = []
            for item in child:
                if isinstance(item, py.Expr) and isinstance(item.value, py.Name):
                    spliced = values.get(item.value.id)
                    if isinstance(spliced, list):
                        out += spliced
                        continue
                if isinstance(item, py.Name) and item.id in values:
                    out.append(values[item.id])
                    continue
                if (
                    (tracks or not may_track)
                    and isinstance(item, py.If)
                    and isinstance(item.test, py.Name)
                    and item.test.id == "_track"
                ):
                    kept = item.body if tracks else item.orelse
                    out += [_fill(statement, values, may_track, tracks) for statement in kept]
                    continue
                out.append(_fill(item, values, may_track, tracks) if isinstance(item, py.AST) else item)
            setattr(node, name, out)
        elif isinstance(child, py.Name) and child.id in values and not isinstance(values[child.id], list):
            setattr(node, name, values[child.id])
        elif isinstance(child, py.AST):
            _fill(child, values, may_track, tracks)
    return node


class Writer:
    """Collects the module's constants and writes statements from templates."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.namespace: dict[str, Any] = {"__builtins__": {}, **RUNTIME}
        self._names: dict[Any, str] = {}
        self._kept: list[Any] = []  # keep every constant alive: names are by identity
        self.file, self.positions = _positions(plan)
        self.uses_day = False  # some schedule compares the event's local date (`_day`)
        # The currency's exponent: money is decided in its minor units (generate_pricing.py).
        exponent = plan.quantum.as_tuple().exponent
        assert isinstance(exponent, int)
        self.exponent = -exponent
        # Whether a multiplier may apply to some purchase: else no line's exact points are kept
        # (per line they always are: each line is rounded on its own, generate_rounding.py).
        self.may_track = (
            any("purchase" in step.on for step in plan.multipliers)
            or any(level.benefits.earn_multiplier is not None for level in plan.tiers.values())
            or plan.program.points.round == "per_line"
        )
        # Per line every award keeps its lines' exact points, on every event (`_track` is true).
        self.tracks = plan.program.points.round == "per_line"
        self.lines = Lines(self)  # the per-line conditions, read in one pass (generate_lines.py)
        # The context's values the inlined conditions read from the run (generate_lines.DIRECT):
        # each local's name → the template of its value, computed once at the function's start.
        self.direct: dict[str, str] = {}
        # The module's functions beside the entry: aggregates over the lines (generate_lines.py).
        self.helpers: list[py.FunctionDef] = []
        self._aggregates: dict[int, dict[str, str] | None] = {}
        # An aggregate's form in C over the fused pass's truths, by its function's name (`in_c`).
        self.in_c: dict[str, tuple[str, Any, py.expr, py.expr]] = {}

    def aggregates(self, expression: Any, helpers: list[py.stmt]) -> dict[str, str] | None:
        """The names in the generated module of the expression's aggregates over the lines, each
        helper written once (generate_aggregates.aggregate); None when one of them cannot be."""
        made = self._aggregates.get(id(expression), False)
        if made is not False:
            return made  # type: ignore[return-value]
        names: dict[str, Any] = expression._function.__globals__
        renamed: dict[str, str] | None = {}
        functions: list[py.FunctionDef] = []
        for helper in helpers:
            if not isinstance(helper, py.FunctionDef):
                renamed = None
                break
            name = f"_h{len(self.helpers) + len(functions)}"
            function = aggregate(self, helper, names, name)
            if function is None:
                renamed = None
                break
            functions.append(function)
            form = in_c(self, helper, names)
            if form is not None:
                self.in_c[name] = form
            renamed[helper.name] = name  # type: ignore[index]
        if renamed is not None:
            self.helpers += functions
        self._aggregates[id(expression)] = renamed
        self._kept.append(expression)
        return renamed

    def cap_keys(self, period: str) -> py.expr:
        """The module's memo of a cap period's counter keys by local date (`cap_key`), one per
        period, named after it (`_memo_per_day`)."""
        name = f"_memo_{period}"
        self.namespace.setdefault(name, {})
        return py.Name(name, py.Load())

    def read_direct(self, record: str, key: str) -> None:
        """An inlined condition reads `record.key` from its local (generate_lines.DIRECT)."""
        if (record, key) == ("event", "date"):
            self.uses_day = True
            return
        name, value = DIRECT[record, key]
        self.direct[name] = value

    def direct_statements(self) -> list[py.stmt]:
        """The locals of the context's values the code reads (`read_direct`), and `_day`."""
        statements: list[py.stmt] = []
        direct = self.direct
        if "_b_minor" in direct:  # the amounts' sum in minor units (`_rm`, read just before)
            statements += self.stmts("_b_minor = _sum(_rm)")
        for name, value in direct.items():
            if name == "_b_minor":
                continue
            if name == "_b_total":  # the amounts' sum as minor units × the unit
                total = "_b_minor" if "_b_minor" in direct else "_sum(_rm)"
                statements += self.stmts(f"_b_total = {total} * UNIT", UNIT=Decimal(1).scaleb(-self.exponent))
                continue
            statements += self.stmts(f"{name} = {value}")
        if self.uses_day:
            statements += self.stmts("_day = run.local.date()")
        return statements

    def const(self, value: Any, *, named: bool = False) -> py.expr:
        """`value` as an `ast` constant (numbers, text, None), or a name in the namespace (anything
        else, and text when `named`: an expression's literals stay out of the module's code)."""
        if value is None or type(value) in (int, bool) or (type(value) is str and not named):
            return py.Constant(value)
        key: Any = ("text", value) if type(value) is str else id(value)  # equal texts: one name
        name = self._names.get(key)
        if name is None:
            name = f"_k{len(self._names)}"
            self._names[key] = name
            self._kept.append(value)
            self.namespace[name] = value
        return py.Name(name, py.Load())

    def stmts(self, template: str, **values: Any) -> list[py.stmt]:
        """The template's statements with its placeholders filled (a fresh copy each time)."""
        filled = {
            name: value if isinstance(value, list | py.AST) else self.const(value)
            for name, value in values.items()
        }
        tree = py.parse(_template(template))  # parsed anew: the statements are changed in place
        return list(_fill(tree, filled, self.may_track, self.tracks).body)  # type: ignore[attr-defined]

    def expr(self, template: str, **values: Any) -> py.expr:
        """The template's one expression, its placeholders filled (`stmts`)."""
        (statement,) = self.stmts(template, **values)
        assert isinstance(statement, py.Expr)
        return statement.value

    def at(self, statements: list[py.stmt], path: tuple[str | int, ...], label: str) -> list[py.stmt]:
        """`statements` stamped with the position of the program's part at `path`, after a label
        (a string statement, which compiles to nothing and shows in `loyalty compile --python`)."""
        line, column = self.positions.get(path) or self.positions.get(path[:1]) or (1, 0)
        where = f"{self.file}:{line}" if path[:1] in self.positions or path in self.positions else self.file
        marked: list[py.stmt] = [py.Expr(py.Constant(f"{label} ({where})")), *statements]
        _stamp(marked, line, column)
        return marked


def _stamp(statements: list[py.stmt], line: int, column: int) -> None:
    """Every node under `statements` at (line, column): `ast.walk` spelt out as one loop over a
    stack (about half the time of its generators, measured on the largest example program)."""
    stack: list[Any] = list(statements)
    pop, push, extend = stack.pop, stack.append, stack.extend
    ast_node = py.AST
    while stack:
        node = pop()
        if "lineno" in node._attributes:
            node.lineno = node.end_lineno = line
            node.col_offset = node.end_col_offset = column
        for name in node._fields:
            child = getattr(node, name, None)
            if child.__class__ is list:
                extend([item for item in child if isinstance(item, ast_node)])
            elif isinstance(child, ast_node):
                push(child)


def fix_missing_locations(module: py.Module) -> py.Module:
    """`ast.fix_missing_locations`, as one loop over a stack rather than a recursion through
    generators (about half the time, measured on the module of the largest example program): a node
    without a position takes its parent's, each of the four attributes on its own."""
    stack: list[tuple[Any, int, int, int, int]] = [(module, 1, 0, 1, 0)]
    pop, push = stack.pop, stack.append
    ast_node = py.AST
    while stack:
        node, line, column, end_line, end_column = pop()
        if "lineno" in node._attributes:
            if not hasattr(node, "lineno"):
                node.lineno = line
            else:
                line = node.lineno
            if getattr(node, "end_lineno", None) is None:
                node.end_lineno = end_line
            else:
                end_line = node.end_lineno
            if not hasattr(node, "col_offset"):
                node.col_offset = column
            else:
                column = node.col_offset
            if getattr(node, "end_col_offset", None) is None:
                node.end_col_offset = end_column
            else:
                end_column = node.end_col_offset
        for name in node._fields:
            child = getattr(node, name, None)
            if child.__class__ is list:
                for item in child:
                    if isinstance(item, ast_node):
                        push((item, line, column, end_line, end_column))
            elif isinstance(child, ast_node):
                push((child, line, column, end_line, end_column))
    return module


def _positions(plan: Plan) -> tuple[str, dict[tuple[str | int, ...], tuple[int, int]]]:
    """The program file's name and where its parts start in it, (line, column as a byte offset):
    each discount and earn rule (its list item), `earning_base` and `tiers` (their keys). Read
    from the file's text that the expressions keep (their origin), by a scan of its block-style
    lists: cheap, and only for the positions of the generated code (a part written another way,
    a flow-style list, gets its section's line)."""
    source: SourceFile | None = None
    for expression in plan.compiled.expressions.values():
        source = expression.origin.file
        break
    if source is None or source.name.startswith("<"):
        return f"<program {plan.program.program}>", {}
    lines = source.text.splitlines()
    positions: dict[tuple[str | int, ...], tuple[int, int]] = {}
    for section in ("discounts", "earn", "earning_base", "tiers"):
        header = next((n for n, line in enumerate(lines) if re.match(rf"{section}:(\s|$)", line)), None)
        if header is None:
            continue
        positions[(section,)] = (header + 1, 0)
        items: list[tuple[int, int]] = []
        indent: int | None = None
        for n in range(header + 1, len(lines)):
            line = lines[n]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line[0].isspace() and not line.startswith("-"):
                break  # the next top-level key
            item = re.match(r"(\s*)- ", line)
            if item is not None:
                indent = len(item.group(1)) if indent is None else indent
                if len(item.group(1)) == indent:
                    items.append((n + 1, indent))
        for index, position in enumerate(items):
            positions[(section, index)] = position
    return source.name, positions
