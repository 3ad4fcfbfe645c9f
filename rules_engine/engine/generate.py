"""A program's pricing and earning stages as one generated Python function: `Plan` → `ast`.

The second back end of issue 13, first slice. `pricing.discounts(run)` then `earning.earn(run)`
decide every program alike: they loop over the plan's rules, ask the admission gate generic
questions, and take every option's branch at run time. For a given program most of those
questions have one answer, known when the engine is made. `generate(plan)` writes the two stages
out for that program: the discounts and earn rules in their order, each one's admission (group,
schedule, condition) as plain `if`s, its kind of points (a rate, an award, a per-line award, a
multiplier, the tier's multiplier) as the code of that kind only, and the rounding of
`points.round: per_award` on integers (numerators over one denominator, as `rounding.Rounding`
keeps them) without the object. It fills the run exactly as the two stages do: the same
discounts, earning base, awards, counters, negative awards and trace verdicts in the same order,
so the mechanics and settle run after it unchanged (evaluator.py, `_decide`), and the same
outcome and state come out byte for byte (tests/engine/test_generated.py holds the two paths
equal on every example program and on random programs and streams).

What is generated: discounts (percent, amount, free shipping, `applies_to`, `when`, `active`,
exclusive groups, priorities; an amount by `pricing.take_off`), the tier's discount and free
shipping (by `pricing.tier_benefits`), the earning base, earn rules with `rate`, `award` (a number or an
expression), `for_each_item`, `exclude`, `when`, `active`, caps of any period, exclusive groups,
priorities, `multiply` rules and the tier's `earn_multiplier`, `points.pending`. What is not,
decided once here (`unsupported`): `points.round` other than `per_award`, rules with a `budget`,
a plan made without its shortcuts (tests hold the shortcuts to the general paths). A program
with any of those runs the evaluator's stages for every event; `generated.covers` says which
events the generated function takes (purchases of at least one line, without a coupon or points
tendered, explain off).

How the code is made: each piece is a template of engine-written Python (never a program's
text) parsed anew for each use, whose placeholder names are replaced by the program's values as `ast`
constants, or as names of values the module's namespace holds (decimals, expressions, schedules);
every statement is stamped with its rule's line and column in the program file, so a traceback
through the function points into the program. The module runs with no builtins: the few it needs
are in its namespace by name (`_len`, `_sum` …). Expressions are called as the functions the
condition compiler made of them (their own frames point into the program too).

Input: a `Plan`. Output: `Generated` (the module as `ast`, and the namespace it runs in).
"""

from __future__ import annotations

import ast as py
import math
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from types import MappingProxyType
from typing import Any

from rules_engine.dsl import values
from rules_engine.dsl.context import Context
from rules_engine.dsl.expression import Expression
from rules_engine.engine import conditions, earning, pricing, schedule
from rules_engine.engine.money import ONE, SMALL, split, split_points
from rules_engine.engine.plan import DiscountStep, EarnStep, Plan
from rules_engine.engine.result import award_of, discount_of
from rules_engine.engine.rounding import scaled
from rules_engine.engine.trusted import fired_verdict, simple_verdict
from rules_engine.errors import ContextError
from rules_engine.periods import without_past
from rules_engine.source import SourceFile

ENTRY = "decide"
ZERO = Decimal(0)


def unsupported(plan: Plan) -> str | None:
    """Why the program's pricing and earning cannot be generated yet (None: they can)."""
    if not plan.shortcuts:
        return "the plan was made without its shortcuts (the general paths, for tests)"
    program = plan.program
    if program.points.round != "per_award":
        return f"points.round is {program.points.round} (only per_award is generated)"
    budgeted = [rule.id for rule in program.earn if rule.budget is not None]
    if budgeted:
        return f"earn rule `{budgeted[0]}` has a budget (budgets are not generated)"
    return None


@dataclass(frozen=True)
class Generated:
    """The generated module (`ast`, positions in the program file) and the namespace it runs in."""

    module: py.Module
    namespace: dict[str, Any]
    filename: str


def whole(points: int) -> Decimal:
    """`rounding._whole`: whole points as a decimal (refused past 28 digits, as there)."""
    if 0 <= points < 1024:
        return SMALL[points]
    return Decimal(points).quantize(ONE)


def multiplied_base(added: list[tuple[list[int], int]], slots: int) -> tuple[list[int], int]:
    """Each line's exact points of the rules before the multipliers, over one denominator: what
    `Rounding._base` adds up (the values matter, not their terms)."""
    if not added:
        return [0] * slots, 1
    common = math.lcm(*[d for _, d in added])
    sums = [0] * slots
    for numerators, d in added:
        k = common // d
        sums = [s + n * k for s, n in zip(sums, numerators, strict=True)]
    return sums, common


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


_RUNTIME: dict[str, Any] = {
    "_len": len,
    "_list": list,
    "_sum": sum,
    "_range": range,
    "_enumerate": enumerate,
    "_zip": zip,
    "_tuple": tuple,
    "_any": any,
    "_str": str,
    "_int": int,
    "_Decimal": Decimal,
    "_Exception": Exception,
    "_KE": (KeyError, ContextError),
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
    "_award_of": award_of,
    "_discount_of": discount_of,
    "_split": split,
    "_split_points": split_points,
    "_scaled": scaled,
    "_whole": whole,
    "_mbase": multiplied_base,
    "_period_key": earning.cap_period_key,
    "_without_past": without_past,
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


def _fill(node: py.AST, values: dict[str, Any], may_track: bool) -> py.AST:
    """Replace, in a template's fresh tree, placeholder names by expressions and placeholder
    statements by statement lists (made already: not visited again); leave out `if _track:`
    blocks when no multiplier may apply (`may_track`). In place; returns `node`."""
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
                    not may_track
                    and isinstance(item, py.If)
                    and isinstance(item.test, py.Name)
                    and item.test.id == "_track"
                ):
                    out += [_fill(statement, values, may_track) for statement in item.orelse]
                    continue
                out.append(_fill(item, values, may_track) if isinstance(item, py.AST) else item)
            setattr(node, name, out)
        elif isinstance(child, py.Name) and child.id in values and not isinstance(values[child.id], list):
            setattr(node, name, values[child.id])
        elif isinstance(child, py.AST):
            _fill(child, values, may_track)
    return node


class _Writer:
    """Collects the module's constants and writes statements from templates."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.namespace: dict[str, Any] = {"__builtins__": {}, **_RUNTIME}
        self._names: dict[int, str] = {}
        self._kept: list[Any] = []  # keep every constant alive: names are by identity
        self.file, self.positions = _positions(plan)
        self.uses_day = False  # some schedule compares the event's local date (`_day`)
        # Whether a multiplier may apply to some purchase: else no line's exact points are kept.
        self.may_track = any("purchase" in step.on for step in plan.multipliers) or any(
            level.benefits.earn_multiplier is not None for level in plan.tiers.values()
        )

    def const(self, value: Any) -> py.expr:
        if value is None or type(value) in (int, str, bool):
            return py.Constant(value)
        name = self._names.get(id(value))
        if name is None:
            name = f"_k{len(self._names)}"
            self._names[id(value)] = name
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
        return list(_fill(tree, filled, self.may_track).body)  # type: ignore[attr-defined]

    def at(self, statements: list[py.stmt], path: tuple[str | int, ...], label: str) -> list[py.stmt]:
        """`statements` stamped with the position of the program's part at `path`, after a label
        (a string statement, which compiles to nothing and shows in `loyalty compile --python`)."""
        line, column = self.positions.get(path) or self.positions.get(path[:1]) or (1, 0)
        where = f"{self.file}:{line}" if path[:1] in self.positions or path in self.positions else self.file
        marked: list[py.stmt] = [py.Expr(py.Constant(f"{label} ({where})")), *statements]
        for statement in marked:
            for node in py.walk(statement):
                if "lineno" in node._attributes:
                    node.lineno = node.end_lineno = line  # type: ignore[attr-defined]
                    node.col_offset = node.end_col_offset = column  # type: ignore[attr-defined]
        return marked


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


# -- pricing -----------------------------------------------------------------------------------

_SHADOWED = """
if WINNER is not None:
    _append(_sv(RULE, KIND, False, "shadowed", "`" + WINNER + SHADOW_WORDS))
"""
_ACTIVE = """
if (_where := _within(ACTIVE, run.local)) is not None:
    _append(_sv(RULE, KIND, False, "outside_schedule", "not active: " + _where))
"""
# A schedule of dates only (no weekdays, no hours): the day compared at once, the words made
# by `schedule.within` only when the event is outside.
_WHEN = """
_c = _ctx(run)
try:
    _ok = WHEN(_c) is True
except _KE:
    _ok = False
if not _ok:
    _append(_ctrace(run, RULE, KIND, EXPRESSION, _c, "condition is false"))
"""


def _admission(
    writer: _Writer,
    rule: str,
    kind: str,
    group: str | None,
    winner: str | None,
    active: Any,
    when: Expression | None,
    body: list[py.stmt],
) -> list[py.stmt]:
    """The admission gate (admission.py) for a rule of the run's event type: shadowed by its
    group's winner → outside its schedule → its condition false; else `body`."""
    statements = body
    if when is not None:
        checked = writer.stmts(
            _WHEN, WHEN=writer.const(when._function), EXPRESSION=when, RULE=rule, KIND=kind
        )
        branch = checked[-1]
        assert isinstance(branch, py.If)
        branch.orelse = statements
        statements = checked
    if active is not None:
        dated = _dates_gate(writer, active, rule, kind, statements)
        if dated is not None:
            statements = dated
        else:
            (branch,) = writer.stmts(_ACTIVE, ACTIVE=active, RULE=rule, KIND=kind)
            assert isinstance(branch, py.If)
            branch.orelse = statements
            statements = [branch]
    if group is not None:
        assert winner is not None
        words = f"` of exclusive group `{group}` applies instead" + (
            " (higher priority)" if kind == "earn" else ""
        )
        (branch,) = writer.stmts(
            _SHADOWED, WINNER=py.Name(winner, py.Load()), RULE=rule, KIND=kind, SHADOW_WORDS=words
        )
        assert isinstance(branch, py.If)
        branch.orelse = statements
        statements = [branch]
    return statements


def _dates_gate(
    writer: _Writer, active: Any, rule: str, kind: str, body: list[py.stmt]
) -> list[py.stmt] | None:
    """A schedule of dates only (one `Schedule`, no weekdays or hours): the event's local date
    compared at once, each refusal's trace entry made here (what `schedule.within` would say);
    None for any other schedule."""
    if isinstance(active, list) or active.weekdays is not None or active.hours is not None:
        return None
    if active.start is None and active.end is None:
        return body
    writer.uses_day = True
    statements = body
    if active.end is not None:
        after = simple_verdict(
            rule, kind, False, "outside_schedule", f"not active: ended on {active.end.isoformat()}"
        )
        statements = writer.stmts(
            "if _day > END:\n    _append(AFTER)\nelse:\n    BODY",
            END=active.end,
            AFTER=after,
            BODY=statements,
        )
    if active.start is not None:
        before = simple_verdict(
            rule, kind, False, "outside_schedule", f"not active: starts on {active.start.isoformat()}"
        )
        statements = writer.stmts(
            "if _day < START:\n    _append(BEFORE)\nelse:\n    BODY",
            START=active.start,
            BEFORE=before,
            BODY=statements,
        )
    return statements


def _outside_dates(writer: _Writer, active: Any) -> py.expr | None:
    """`_day` outside a schedule of dates only (one `Schedule` without weekdays or hours), as an
    expression; None for any other schedule (`schedule.within` decides it)."""
    if isinstance(active, list) or active.weekdays is not None or active.hours is not None:
        return None
    tests = []
    if active.start is not None:
        tests.append(f"_day < {_name(writer, active.start)}")
    if active.end is not None:
        tests.append(f"_day > {_name(writer, active.end)}")
    if not tests:
        return None
    writer.uses_day = True
    return py.parse(" or ".join(tests), mode="eval").body


def _name(writer: _Writer, value: Any) -> str:
    node = writer.const(value)
    assert isinstance(node, py.Name)
    return node.id


_DISCOUNT = """
_amount = _take_off(run, RULE, PERCENT, AMOUNT, APPLIES, PER)
FREE_SHIPPING
if _amount == 0 and not _waived:
    _append(_sv(RULE, "discount", False, "nothing_eligible", NOTHING))
else:
    WIN
    _gives = [_money(_amount) + " off"] if _amount else []
    WAIVED_WORDS
    _append(_fv(RULE, "discount", "fired", " and ".join(_gives), _amount, "money", None))
"""
_DISCOUNT_PLAIN = """
TAKE_OFF
if _amount == 0:
    _append(_sv(RULE, "discount", False, "nothing_eligible", "no line it applies to"))
else:
    WIN
    _append(_fv(RULE, "discount", "fired", _money(_amount) + " off", _amount, "money", None))
"""
# A percent off (pricing.take_off's first branch), written out: each matching line's cut rounded
# half up to the currency, never more than is left of it.
_PERCENT_OFF = """
_remaining = run.remaining
_matching = [_i for _i in _range(_len(run.items)) if _remaining[_i] > 0]
MATCHING
_cuts = [_ZERO] * _len(run.items)
for _i in _matching:
    _r = _remaining[_i]
    _cut = (_r * PERCENT / _HUNDRED).quantize(QUANTUM, _HALF_UP)
    _cuts[_i] = _r if _r <= _cut else _cut
_amount = _sum(_cuts, _ZERO)
if _amount > 0:
    for _i, _cut in _enumerate(_cuts):
        if _cut:
            _remaining[_i] -= _cut
    _items = run.items
    run.effects_discounts.append(
        _discount_of(
            RULE,
            _amount,
            _tuple([(_i, _items[_i].sku, _part) for _i, _part in _enumerate(_cuts) if _part > 0]),
        )
    )
"""
_WAIVE = """
_waive(run, RULE)
_waived = run.free_shipping is not None and run.free_shipping.rule == RULE
"""
_WAIVED_WORDS = """
if _waived:
    _gives.append("free shipping (" + _money(run.free_shipping.amount) + " waived)")
"""


def _take_off(writer: _Writer, step: DiscountStep) -> list[py.stmt]:
    """The money a discount takes off (`_amount`), its effect recorded: a percent written out, an
    amount by `pricing.take_off`."""
    discount = step.discount
    if discount.percent is None:
        return writer.stmts(
            "_amount = _take_off(run, RULE, PERCENT, AMOUNT, APPLIES, PER)",
            RULE=discount.id,
            PERCENT=discount.percent,
            AMOUNT=discount.amount,
            APPLIES=step.applies_to,
            PER=discount.per,
        )
    matching = (
        writer.stmts(
            "_matching = [_i for _i, _h in _zip(_matching, _truths(run, APPLIES, _matching)) if _h]",
            APPLIES=step.applies_to._function,
        )
        if step.applies_to is not None
        else []
    )
    return writer.stmts(
        _PERCENT_OFF,
        MATCHING=matching,
        PERCENT=discount.percent,
        QUANTUM=writer.plan.quantum,
        RULE=discount.id,
    )


def _discount(writer: _Writer, step: DiscountStep, winners: dict[str, str]) -> list[py.stmt]:
    discount = step.discount
    rule = discount.id
    group = discount.group
    winner = None
    if group is not None:
        winner = winners.setdefault(group, f"_discount_group{len(winners)}")
    body = writer.stmts(
        _DISCOUNT if discount.free_shipping else _DISCOUNT_PLAIN,
        RULE=rule,
        PERCENT=discount.percent,
        AMOUNT=discount.amount,
        APPLIES=step.applies_to,
        PER=discount.per,
        NOTHING="no line it applies to" if not discount.free_shipping else "no shipping to waive",
        FREE_SHIPPING=writer.stmts(_WAIVE, RULE=rule)
        if discount.free_shipping
        else writer.stmts("_waived = False"),
        WIN=writer.stmts(f"{winner} = RULE", RULE=rule) if winner is not None else [],
        WAIVED_WORDS=writer.stmts(_WAIVED_WORDS) if discount.free_shipping else [],
        TAKE_OFF=_take_off(writer, step),
    )
    gate = _admission(writer, rule, "discount", group, winner, discount.active, step.when, body)
    return writer.at(gate, ("discounts", step.index), f"discount {rule}")


# -- earning -----------------------------------------------------------------------------------

_EARN_START = """
_n = _len(run.items)
BASE
run.base = _base
_skus = run.skus
_units = None
_ex_n = 0
_ex_d = 1
_given = 0
"""
_TRACK_START = """
_added = []
_track = False
"""

# What a rate's or a basket award's points weigh: the earning base and shipping, scaled once.
_UNITS = """
if _units is None:
    _units = _scaled([*_base, SHIPPING])
"""
_ELIGIBLE = """
_eligible = _base
_kept = _units[0]
"""
_ELIGIBLE_EXCLUDE = """
_excluded = _truths(run, EXCLUDE, _range(_n))
_eligible = [_ZERO if _out else _b for _out, _b in _zip(_excluded, _base)]
_kept = [*(0 if _out else _u for _out, _u in _zip(_excluded, _units[0])), _units[0][_n]]
"""
_RATE = """
_xn = _sum(_kept) * RN
_xd = DENOMINATOR
_weights = _kept
if _track:
    _parts = [_w * RN for _w in _kept]
"""
_RATE_ONE = """
_xn = _sum(_kept)
_xd = DENOMINATOR
_weights = _kept
if _track:
    _parts = _kept
"""
_AWARD = """
VALUE
NOT_NEGATIVE
if not _any(_eligible):
    _value = _ZERO
_weights = [*_kept[:_n], 0]
_xn, _xd = _value.as_integer_ratio()
if _track:
    _ws = _sum(_weights)
    if _ws:
        _parts = [_xn * _w for _w in _weights]
        _xd = _xd * _ws
    else:
        _parts = [0] * (_n + 1)
        if _xn:
            _parts[0] = _xn
    _xn = _sum(_parts)
"""
_EACH = """
_amounts = run.amounts
_lines = [_i for _i in _range(_n) if not (_eligible[_i] == 0 and _base[_i] == 0 and _amounts[_i] > 0)]
FILTERS
_points = [_ZERO] * (_n + 1)
EACH_VALUE
_exact = _sum(_points, _ZERO)
_xn, _xd = _exact.as_integer_ratio()
if _track:
    _weights = _scaled(_points)[0]
    _ws = _sum(_weights)
    if _ws:
        _parts = [_xn * _w for _w in _weights]
        _xd = _xd * _ws
    else:
        _parts = [0] * (_n + 1)
        if _xn:
            _parts[0] = _xn
    _xn = _sum(_parts)
"""
_EACH_EXCLUDE = """
_lines = [_i for _i, _out in _zip(_lines, _truths(run, EXCLUDE, _lines)) if not _out]
"""
_EACH_MATCH = """
_lines = [_i for _i, _match in _zip(_lines, _truths(run, MATCHES, _lines)) if _match]
"""
_EACH_FIXED = """
for _i in _lines:
    _points[_i] = VALUE
"""
_EACH_EXPRESSION = """
for _i in _lines:
    _v = AWARD.evaluate(_item_ctx(run, _i))
    _v = _ZERO if _v is None else _Decimal(_v)
    if _v < 0:
        run.negative_awards.setdefault(RULE, _v)
        _v = _ZERO
    _points[_i] = _v
"""

# The running exact total (per_award): this award's points are the rounded total after it less
# the points given so far (rounding.Rounding.total).
_TOTAL = """
if _ex_d == _xd:
    _tn = _ex_n + _xn
    _td = _ex_d
else:
    _tn = _ex_n * _xd + _xn * _ex_d
    _td = _ex_d * _xd
_total = _whole(ROUND - _given)
"""
_ROUND = {"floor": "_tn // _td", "ceil": "-(-_tn // _td)", "round": "(2 * _tn + _td) // (2 * _td)"}

_GIVE = """
if _total <= 0:
    NOTHING
    NOTHING_ADDED
    _ex_n = _tn
    _ex_d = _td
    _append(_sv(RULE, KIND, False, "nothing_eligible", _nothing))
else:
    _granted = _total
    _code = "fired"
    ALLOWANCE
    if _allowed < _total:
        _granted = _allowed
        _code = "capped"
    if _granted <= 0:
        CUT_ADDED
        _ex_n = _given
        _ex_d = 1
        _append(_sv(RULE, KIND, False, _code, _limit + " reached: would have given " + _str(_total)))
    else:
        SHARES
        if _granted != _total:
            GIVEN_CUT
            _given += _int(_granted)
            _ex_n = _given
            _ex_d = 1
        else:
            GIVEN_ADDED
            _given += _int(_granted)
            _ex_n = _tn
            _ex_d = _td
        run.effects_points.append(
            _award_of(
                RULE,
                _granted,
                _tuple([(_i, _skus[_i], _s) for _i, _s in _enumerate(_shares) if _s]),
                AVAILABLE,
            )
        )
        COUNT
        _reason = _str(_granted) + POINTS_WORDS
        if _code != "fired":
            _reason += "; " + _limit + " reached, would have given " + _str(_total)
        _append(_fv(RULE, KIND, _code, _reason, _granted, "points", None))
        WIN
"""
# Without a cap an award gives what it comes to (earning.award's cap branches left out).
_GIVE_UNCAPPED = """
if _total <= 0:
    NOTHING
    NOTHING_ADDED
    _ex_n = _tn
    _ex_d = _td
    _append(_sv(RULE, KIND, False, "nothing_eligible", _nothing))
else:
    _granted = _total
    SHARES
    GIVEN_ADDED
    _given += _int(_granted)
    _ex_n = _tn
    _ex_d = _td
    run.effects_points.append(
        _award_of(
            RULE, _granted, _tuple([(_i, _skus[_i], _s) for _i, _s in _enumerate(_shares) if _s]), AVAILABLE
        )
    )
    _append(_fv(RULE, KIND, "fired", _str(_granted) + POINTS_WORDS, _granted, "points", None))
    WIN
"""
_NOT_NEGATIVE = """
if _value < 0:
    run.negative_awards.setdefault(RULE, _value)
    _value = _ZERO
"""
_NEGATIVE = """
if RULE in run.negative_awards:
    _nothing = (
        "the award came to "
        + _str(run.negative_awards[RULE])
        + ", below zero: an earn rule never takes points away"
    )
else:
    _nothing = WORDS
"""


def _earn_rule(writer: _Writer, step: EarnStep, winners: dict[str, str], rounding: str) -> list[py.stmt]:
    """A rate, an award or a per-line award (earning.rule_points and earning.award, per_award)."""
    rule = step.rule
    plan = writer.plan
    shipping = py.Call(py.Name("_shipping_base", py.Load()), [py.Name("run", py.Load())], [])
    each = rule.for_each_item is not None
    body: list[py.stmt] = []
    if not each:
        body += writer.stmts(
            _UNITS,
            SHIPPING=shipping if plan.program.earning_base.include_shipping else py.Name("_ZERO", py.Load()),
        )
    if step.exclude is not None:
        if each:
            body += writer.stmts(
                "_excluded = _truths(run, EXCLUDE, _range(_n))\n"
                "_eligible = [_ZERO if _out else _b for _out, _b in _zip(_excluded, _base)]",
                EXCLUDE=step.exclude._function,
            )
        else:
            body += writer.stmts(_ELIGIBLE_EXCLUDE, EXCLUDE=step.exclude._function)
    else:
        body += writer.stmts("_eligible = _base\n_kept = _units[0]" if not each else "_eligible = _base")
    negative_words = "no eligible amount"
    if rule.rate is not None:
        assert step.ratio is not None
        denominator = "_units[1]" if step.ratio[1] == 1 else f"_units[1] * {step.ratio[1]}"
        body += writer.stmts(
            _RATE if step.ratio[0] != 1 else _RATE_ONE,
            RN=step.ratio[0],
            DENOMINATOR=py.parse(denominator, mode="eval").body,
        )
        share = "_shares = _split_points(_granted, _weights)"
        nothing: list[py.stmt] = writer.stmts("_nothing = WORDS", WORDS="no eligible amount")
    elif not each:
        if step.award is None:
            assert step.fixed is not None
            value = writer.stmts("_value = FIXED", FIXED=step.fixed)
        else:
            value = writer.stmts(
                "_value = AWARD.evaluate(_ctx(run))\n_value = _ZERO if _value is None else _Decimal(_value)",
                AWARD=step.award,
            )
        may_be_negative = step.award is not None or (step.fixed is not None and step.fixed < 0)
        check = writer.stmts(_NOT_NEGATIVE, RULE=rule.id) if may_be_negative else []
        body += writer.stmts(_AWARD, VALUE=value, NOT_NEGATIVE=check)
        share = "_shares = _split_points(_granted, _weights)"
        nothing = (
            writer.stmts(_NEGATIVE, RULE=rule.id, WORDS=negative_words)
            if may_be_negative
            else writer.stmts("_nothing = WORDS", WORDS=negative_words)
        )
    else:
        filters: list[py.stmt] = []
        if step.exclude is not None:
            filters += writer.stmts(_EACH_EXCLUDE, EXCLUDE=step.exclude._function)
        assert step.for_each_item is not None
        filters += writer.stmts(_EACH_MATCH, MATCHES=step.for_each_item._function)
        if step.award is None:
            fixed = step.fixed if step.fixed is not None else ZERO
            if fixed < 0:
                value = writer.stmts(
                    "if _lines:\n    run.negative_awards.setdefault(RULE, FIXED)\n" + _EACH_FIXED,
                    RULE=rule.id,
                    FIXED=fixed,
                    VALUE=py.Name("_ZERO", py.Load()),
                )
            else:
                value = writer.stmts(_EACH_FIXED, VALUE=writer.const(fixed))
        else:
            value = writer.stmts(_EACH_EXPRESSION, AWARD=step.award, RULE=rule.id)
        body += writer.stmts(_EACH, FILTERS=filters, EACH_VALUE=value)
        share = "_shares = _split(_granted, _points, _ONE, _ONE)"  # no multiplier: as earning.award
        if writer.may_track:
            share = "_shares = _split_points(_granted, _weights) if _track else " + share[10:]
        nothing = writer.stmts(_NEGATIVE, RULE=rule.id, WORDS="no line matches for_each_item")
    body += writer.stmts(_TOTAL, ROUND=py.parse(_ROUND[rounding]).body[0].value)  # type: ignore[attr-defined]
    winner = winners.setdefault(rule.group, f"_earn_group{len(winners)}") if rule.group is not None else None
    body += _give(
        writer,
        rule.id,
        "earn",
        nothing,
        rule.cap,
        share,
        " points",
        winner,
        added=True,
    )
    gate = _admission(writer, rule.id, "earn", rule.group, winner, rule.active, step.when, body)
    return writer.at(gate, ("earn", step.index), f"earn {rule.id}")


def _give(
    writer: _Writer,
    rule: Any,
    kind: str,
    nothing: list[py.stmt],
    cap: Any,
    share: str,
    words: Any,
    winner: str | None,
    *,
    added: bool,
    factor: Any = None,
) -> list[py.stmt]:
    """Cap, split, record and trace an award whose `_total` is known (earning.award)."""
    pending = writer.plan.program.points.pending
    available: py.expr = (
        py.BinOp(py.parse("run.event.time").body[0].value, py.Add(), writer.const(pending))  # type: ignore[attr-defined]
        if pending
        else py.Constant(None)
    )
    track = "if _track:\n    "
    give = writer.stmts(
        _GIVE if cap is not None else _GIVE_UNCAPPED,
        RULE=rule,
        KIND=kind,
        NOTHING=nothing,
        NOTHING_ADDED=writer.stmts(track + "_added.append((_parts, _xd))") if added else [],
        CUT_ADDED=writer.stmts(track + "_added.append(([0] * (_n + 1), 1))") if added else [],
        GIVEN_CUT=writer.stmts(track + "_added.append(([_int(_s) for _s in _shares], 1))") if added else [],
        GIVEN_ADDED=writer.stmts(track + "_added.append((_parts, _xd))") if added else [],
        ALLOWANCE=_allowance(writer, rule, cap) if cap is not None else [],
        COUNT=_count(writer, rule, cap) if cap is not None else [],
        SHARES=writer.stmts(share, FACTOR=factor) if factor is not None else writer.stmts(share),
        AVAILABLE=available,
        POINTS_WORDS=words,
        WIN=writer.stmts(f"{winner} = RULE", RULE=rule) if winner is not None else [],
    )
    return give


def _allowance(writer: _Writer, rule: Any, cap: Any) -> list[py.stmt]:
    """What a cap still allows (`_allowed`) and which limit that is (`_limit`): earning.allowance
    for this cap's periods, known here (a rule with a cap has no budget: those are not generated)."""
    statements: list[py.stmt] = []
    first = True
    if cap.per_event is not None:
        statements += writer.stmts('_allowed = LIMIT\n_limit = "per-event cap"', LIMIT=cap.per_event)
        first = False
    periods = writer.plan.cap_periods(cap)
    if periods:
        statements += writer.stmts("_used = run.counters.get(RULE, _EMPTY)", RULE=rule)
    for period, value, words in periods:
        statements += writer.stmts(
            "_left = VALUE - _used.get(_period_key(run, PERIOD), _ZERO)\n"
            "_left = _left if _left > _ZERO else _ZERO",
            VALUE=value,
            PERIOD=period,
        )
        if first:
            statements += writer.stmts("_allowed = _left\n_limit = WORDS", WORDS=words)
            first = False
        else:
            statements += writer.stmts(
                "if _left < _allowed:\n    _allowed = _left\n    _limit = WORDS", WORDS=words
            )
    if first:  # a cap of no limit at all: allows anything
        statements += writer.stmts('_allowed = _total\n_limit = ""')
    return statements


def _count(writer: _Writer, rule: Any, cap: Any) -> list[py.stmt]:
    """The cap's counters after the points given (earning.count)."""
    periods = writer.plan.cap_periods(cap)
    if not periods:
        return []
    statements = writer.stmts("_mine = _dict(run.counters.get(RULE, _EMPTY))", RULE=rule)
    for period, _, _ in periods:
        statements += writer.stmts(
            "_key = _period_key(run, PERIOD)\n_mine = _without_past(_mine, _key)\n"
            "_mine[_key] = _mine.get(_key, _ZERO) + _granted",
            PERIOD=period,
        )
    return statements + writer.stmts("run.counters[RULE] = _mine", RULE=rule)


_MULTIPLIED = """
if _mb is None:
    _mb = _mbase(_added, _n + 1)
"""
_MULTIPLY = """
SELECT
_parts = [_b * FN if _keep else 0 for _b, _keep in _zip(_mb[0], _selected)]
_xd = _mb[1] * FD
_xn = _sum(_parts)
"""
_MULTIPLY_ALL = """
_parts = [_b * FN for _b in _mb[0]]
_xd = _mb[1] * FD
_xn = _sum(_parts)
"""
_BONUS_SHARES = (
    "_shares = _split_points(_granted, _parts) if _any(_parts) else"
    " _split(_granted, [_ZERO] * (_n + 1), _ONE, FACTOR)"
)


def _multiplier(writer: _Writer, step: EarnStep, winners: dict[str, str], rounding: str) -> list[py.stmt]:
    """A `multiply` rule: a bonus on the exact points of the rules before the multipliers."""
    rule = step.rule
    assert rule.multiply is not None
    factor = rule.multiply - 1
    fn, fd = factor.as_integer_ratio()
    body = writer.stmts(_MULTIPLIED)
    if step.exclude is None and step.for_each_item is None:
        body += writer.stmts(_MULTIPLY_ALL, FN=fn, FD=fd)
    else:
        select = writer.stmts("_selected = [True] * (_n + 1)")
        if step.exclude is not None:
            select += writer.stmts(
                "_selected = [_s and not _out for _s, _out in"
                " _zip(_selected, [*_truths(run, EXCLUDE, _range(_n)), False])]",
                EXCLUDE=step.exclude._function,
            )
        if step.for_each_item is not None:
            select += writer.stmts(
                "_selected = [_s and _m for _s, _m in"
                " _zip(_selected, [*_truths(run, MATCHES, _range(_n)), False])]",
                MATCHES=step.for_each_item._function,
            )
        body += writer.stmts(_MULTIPLY, SELECT=select, FN=fn, FD=fd)
    body += writer.stmts(_TOTAL, ROUND=py.parse(_ROUND[rounding]).body[0].value)  # type: ignore[attr-defined]
    each = rule.for_each_item is not None
    nothing = (
        "no points on the lines for_each_item matches: nothing to multiply" if each else "nothing to multiply"
    )
    words = (
        f" points (×{rule.multiply} on the points of the lines for_each_item matches)"
        if each
        else f" points (×{rule.multiply} on this event's points)"
    )
    winner = winners.setdefault(rule.group, f"_earn_group{len(winners)}") if rule.group is not None else None
    body += _give(
        writer,
        rule.id,
        "earn",
        writer.stmts("_nothing = WORDS", WORDS=nothing),
        rule.cap,
        _BONUS_SHARES,
        words,
        winner,
        added=False,
        factor=factor,
    )
    gate = _admission(writer, rule.id, "earn", rule.group, winner, rule.active, step.when, body)
    return writer.at(gate, ("earn", step.index), f"earn {rule.id} (multiplier)")


_TIER = """
_tier = run.tier
if _tier is not None and _tier.id in TIER_FACTORS:
    _fn, _fd, _factor, _words = TIER_FACTORS[_tier.id]
    _rule = "tier:" + _tier.id
    MULTIPLIED
    _parts = [_b * _fn for _b in _mb[0]]
    _xd = _mb[1] * _fd
    _xn = _sum(_parts)
    TOTAL
    GIVE
"""


def _tier_multiplier(writer: _Writer, rounding: str) -> list[py.stmt]:
    """The tier's `earn_multiplier`, after the multiplier rules (kind `tier`, no cap)."""
    factors = {
        level.id: (
            *(level.benefits.earn_multiplier - 1).as_integer_ratio(),
            level.benefits.earn_multiplier - 1,
            f" points (×{level.benefits.earn_multiplier} on this event's points)",
        )
        for level in writer.plan.tiers.values()
        if level.benefits.earn_multiplier is not None
    }
    if not factors:
        return []
    give = _give(
        writer,
        py.Name("_rule", py.Load()),
        "tier",
        writer.stmts('_nothing = "nothing to multiply"'),
        None,
        _BONUS_SHARES.replace("FACTOR", "_factor"),
        py.Name("_words", py.Load()),
        None,
        added=False,
    )
    body = writer.stmts(
        _TIER,
        TIER_FACTORS=factors,
        MULTIPLIED=writer.stmts(_MULTIPLIED),
        TOTAL=writer.stmts(_TOTAL, ROUND=py.parse(_ROUND[rounding]).body[0].value),  # type: ignore[attr-defined]
        GIVE=give,
    )
    return writer.at(body, ("tiers",), "the tier's earn_multiplier")


_MAY_MULTIPLY_TIER = """
if run.tier is not None and run.tier.benefits.earn_multiplier is not None:
    _track = True
"""
_MAY_MULTIPLY = """
if not _track:
    ACTIVE_CHECK
"""
_MAY_WHEN = """
try:
    _c = _ctx(run)
    try:
        _track = WHEN(_c) is True
    except _KE:
        pass
except _Exception:
    _track = True
"""


def _may_multiply(writer: _Writer) -> list[py.stmt]:
    """Whether a multiplier may apply (earning.may_multiply): then each line's exact points are
    kept for it to weigh (`_track`)."""
    statements: list[py.stmt] = []
    if any(level.benefits.earn_multiplier is not None for level in writer.plan.tiers.values()):
        statements += writer.stmts(_MAY_MULTIPLY_TIER)
    for step in writer.plan.multipliers:
        if "purchase" not in step.on:
            continue
        check = (
            writer.stmts("_track = True")
            if step.when is None
            else writer.stmts(_MAY_WHEN, WHEN=step.when._function)
        )
        if step.rule.active is not None:
            outside = _outside_dates(writer, step.rule.active)
            if outside is not None:
                check = writer.stmts("if not (OUTSIDE):\n    CHECK", OUTSIDE=outside, CHECK=check)
            else:
                check = writer.stmts(
                    "if _within(ACTIVE, run.local) is None:\n    CHECK", ACTIVE=step.rule.active, CHECK=check
                )
        statements += writer.stmts(_MAY_MULTIPLY, ACTIVE_CHECK=check)
    return statements


def _wrong_event(writer: _Writer, step: EarnStep) -> list[py.stmt]:
    reason = f"applies to {', '.join(step.rule.on)}, not purchase"
    verdict = simple_verdict(step.rule.id, "earn", False, "wrong_event", reason)
    statements = writer.stmts("_append(VERDICT)", VERDICT=verdict)
    return writer.at(statements, ("earn", step.index), f"earn {step.rule.id}: not on purchases")


def _earning_base(writer: _Writer) -> list[py.stmt]:
    """Each line's earning base (earning.earning_base; paid with points is never generated)."""
    settings = writer.plan.program.earning_base
    if not settings.include_tax:  # tax taken off: the stage's own function
        return writer.stmts("_base = _earning_base(run)")
    statements = writer.stmts("_base = _list(run.remaining)")
    exclude = writer.plan.base_exclude
    if exclude is not None:
        statements += writer.at(
            writer.stmts(
                "_base = [_ZERO if _out else _b for _out, _b in"
                " _zip(_truths(run, EXCLUDE, _range(_n)), _base)]",
                EXCLUDE=exclude._function,
            ),
            ("earning_base",),
            "earning_base: the lines it leaves out earn nothing",
        )
    return statements


def generate(plan: Plan) -> Generated:
    """The module of the program's pricing and earning for a purchase (see the module docstring).

    Raises:
        ValueError: the program uses a part that is not generated (`unsupported`).
    """
    why = unsupported(plan)
    if why is not None:
        raise ValueError(why)
    writer = _Writer(plan)
    rounding = plan.program.points.rounding
    winners: dict[str, str] = {}
    pricing_code: list[py.stmt] = []
    for discount in plan.discounts:
        pricing_code += _discount(writer, discount, winners)
    if any(
        level.benefits.discount_percent is not None or level.benefits.free_shipping
        for level in plan.tiers.values()
    ):
        pricing_code += writer.at(
            writer.stmts(
                "if run.tier is not None:\n    TIER_BENEFITS(run)", TIER_BENEFITS=pricing.tier_benefits
            ),
            ("tiers",),
            "the tier's discount and free shipping",
        )
    earn_winners: dict[str, str] = {}
    earn: list[py.stmt] = []
    for step in plan.base_rules:
        if "purchase" not in step.on:
            earn += _wrong_event(writer, step)
        else:
            earn += _earn_rule(writer, step, earn_winners, rounding)
    if plan.multipliers or any(level.benefits.earn_multiplier is not None for level in plan.tiers.values()):
        earn += writer.stmts("_mb = None")
    for step in plan.multipliers:
        if "purchase" not in step.on:
            earn += _wrong_event(writer, step)
        else:
            earn += _multiplier(writer, step, earn_winners, rounding)
    earn += _tier_multiplier(writer, rounding)
    body: list[py.stmt] = writer.stmts("_append = run.trace.append")
    if writer.uses_day:
        body += writer.stmts("_day = run.local.date()")
    body += [writer.stmts(f"{name} = None")[0] for name in winners.values()]
    body += pricing_code
    body += writer.stmts(_EARN_START, BASE=_earning_base(writer))
    if writer.may_track:
        body += writer.stmts(_TRACK_START)
        body += _may_multiply(writer)
    body += [writer.stmts(f"{name} = None")[0] for name in earn_winners.values()]
    body += earn
    args = py.arguments(posonlyargs=[], args=[py.arg("run")], kwonlyargs=[], kw_defaults=[], defaults=[])
    doc = py.Expr(
        py.Constant(f"Pricing and earning of {plan.program.program} v{plan.program.version}, for a purchase.")
    )
    function = py.FunctionDef(name=ENTRY, args=args, body=[doc, *body], decorator_list=[], returns=None)
    module = py.Module(body=[function], type_ignores=[])
    py.fix_missing_locations(module)
    return Generated(module, writer.namespace, writer.file)
