"""Interval analysis of a checked condition: for which values of the data can it hold?

Input: a checked condition tree (`Expression.tree`) and the program's constants. Output: `Cases`,
the condition as a disjunction of boxes; a box says, for some paths into the data
(`basket.total`, `customer.tier`, `event.time.hour`, `item.price` in a per-item condition), which
values they may take: an interval with open or closed ends, a set of allowed values, values left
out, and whether null is possible. What the analysis does not understand — a loop, a function of
the data, arithmetic on the data, two paths compared — constrains nothing. So the cases always
cover every input for which the condition holds, and no cases at all is a proof that it never
holds: the program's lints (`program/reasoning.py`) warn only on such a proof, never on a guess.

The condition language is two-valued where it matters here: `and`, `or` and `not` treat null as
false and always give true or false (docs/dsl.md, "Null"), so `not` is pushed down to the
comparisons, and the negation of a comparison keeps null possible (`not (x > 5)` holds when x is
null).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from rules_engine.dsl import ast, interpreter
from rules_engine.dsl import types as t

Path: TypeAlias = tuple[str, ...]

# Past this many boxes (a long `or` of `and`s) the analysis gives up on the part: no constraint.
MAX_CASES = 256

_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATED = {
    "==": "!=",
    "!=": "==",
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
    "in": "not in",
    "not in": "in",
}


@dataclass(frozen=True)
class Domain:
    """The values one path may take: null (if `null`), or a value inside the interval from `low`
    to `high` (None: unbounded), among `allowed` (None: any) and not among `excluded`."""

    low: Any = None
    low_closed: bool = False
    high: Any = None
    high_closed: bool = False
    allowed: frozenset[Any] | None = None
    excluded: frozenset[Any] = frozenset()
    null: bool = True

    def meet(self, other: Domain) -> Domain:
        """The values both allow."""
        low, low_closed = _tighter(self.low, self.low_closed, other.low, other.low_closed, above=True)
        high, high_closed = _tighter(self.high, self.high_closed, other.high, other.high_closed, above=False)
        if self.allowed is None or other.allowed is None:
            allowed = self.allowed if other.allowed is None else other.allowed
        else:
            allowed = self.allowed & other.allowed
        return Domain(
            low,
            low_closed,
            high,
            high_closed,
            allowed,
            self.excluded | other.excluded,
            self.null and other.null,
        )

    def inside(self, value: Any) -> bool:
        """Whether a (non-null) value is allowed."""
        if value in self.excluded or (self.allowed is not None and value not in self.allowed):
            return False
        try:
            if self.low is not None and (value < self.low or (value == self.low and not self.low_closed)):
                return False
            if self.high is not None and (value > self.high or (value == self.high and not self.high_closed)):
                return False
        except TypeError:  # values of another kind than the bounds: not provably outside
            return True
        return True

    def empty(self) -> bool:
        """Whether no value at all is allowed, null included."""
        if self.null:
            return False
        if self.allowed is not None:
            return not any(self.inside(value) for value in self.allowed)
        if self.low is None or self.high is None:
            return False
        try:
            if self.low > self.high:
                return True
            if self.low == self.high:
                closed = self.low_closed and self.high_closed
                return not closed or self.low in self.excluded
        except TypeError:
            return False
        return False


def _tighter(a: Any, a_closed: bool, b: Any, b_closed: bool, *, above: bool) -> tuple[Any, bool]:
    """The tighter of two bounds: the larger of two lower bounds (`above`), else the smaller."""
    if a is None:
        return b, b_closed
    if b is None:
        return a, a_closed
    try:
        if a == b:
            return a, a_closed and b_closed
        if (a > b) == above:
            return a, a_closed
        return b, b_closed
    except TypeError:  # bounds of different kinds: keep one, claim nothing about the other
        return a, a_closed


Box: TypeAlias = Mapping[Path, Domain]
Cases: TypeAlias = tuple[Box, ...]

ANYTHING: Cases = ({},)
NOTHING: Cases = ()


def meet_boxes(a: Box, b: Box) -> Box | None:
    """Both boxes' constraints at once; None if no input satisfies them."""
    merged = dict(a)
    for path, domain in b.items():
        merged[path] = domain if path not in merged else merged[path].meet(domain)
        if merged[path].empty():
            return None
    return merged


def both(a: Cases, b: Cases) -> Cases:
    """The inputs for which both hold."""
    out = []
    for left in a:
        for right in b:
            box = meet_boxes(left, right)
            if box is not None:
                out.append(box)
                if len(out) > MAX_CASES:
                    return ANYTHING
    return tuple(out)


def either(a: Cases, b: Cases) -> Cases:
    """The inputs for which one of them holds."""
    return ANYTHING if len(a) + len(b) > MAX_CASES else (*a, *b)


def cases(node: ast.Expr, constants: Mapping[str, Any], negate: bool = False) -> Cases:
    """The inputs for which the condition `node` holds (or, with `negate`, does not)."""
    match node:
        case ast.BoolOp(op=op, left=left, right=right):
            first, second = cases(left, constants, negate), cases(right, constants, negate)
            return both(first, second) if (op == "and") != negate else either(first, second)
        case ast.Not(operand=operand):
            return cases(operand, constants, not negate)
        case ast.Literal(value=bool() as value):
            return ANYTHING if value != negate else NOTHING
        case ast.Compare(op=op, left=left, right=right):
            return _comparison(op, left, right, constants, negate)
    path = data_path(node, constants)
    if path is not None and node.type is not None and node.type.kind is t.Kind.BOOL:
        return ({path: _atom("==" if not negate else "!=", True)},)
    return ANYTHING


def _comparison(
    op: str, left: ast.Expr, right: ast.Expr, constants: Mapping[str, Any], negate: bool
) -> Cases:
    path, value = data_path(left, constants), constant_value(right, constants)
    if path is None or value is _UNKNOWN:
        if op in ("in", "not in"):  # `"vip" in customer.tags`: a path of a list, not understood
            return ANYTHING
        path, value = data_path(right, constants), constant_value(left, constants)
        op = _FLIPPED[op]
    if path is None or value is _UNKNOWN:
        return ANYTHING
    if negate:
        op = _NEGATED[op]
    if op in ("in", "not in"):
        if not isinstance(value, tuple | list):
            return ANYTHING  # `x in "text"`: a substring test
        members = frozenset(value)
        has_null = None in members
        members = frozenset(member for member in members if member is not None)
        if op == "in":
            return ({path: Domain(allowed=members, null=has_null)},)
        return ({path: Domain(excluded=members, null=not has_null)},)
    if value is None:  # `x == null`, `x != null`
        if op == "==":
            return ({path: Domain(allowed=frozenset(), null=True)},)
        if op == "!=":
            return ({path: Domain(null=False)},)
        return ANYTHING
    domain = _atom(op, value)
    if negate and op in ("<", "<=", ">", ">="):  # `not (x >= 5)` holds when x is null too
        domain = replace(domain, null=True)
    return ({path: domain},)


def _atom(op: str, value: Any) -> Domain:
    """The values for which `path <op> value` holds, `value` not null."""
    match op:
        case "==":
            return Domain(allowed=frozenset([value]), null=False)
        case "!=":
            return Domain(excluded=frozenset([value]), null=True)  # null != 5 holds
        case "<" | "<=":
            return Domain(high=value, high_closed=op == "<=", null=False)
        case ">" | ">=":
            return Domain(low=value, low_closed=op == ">=", null=False)
    raise AssertionError(op)


def data_path(node: ast.Expr, constants: Mapping[str, Any] | None = None) -> Path | None:
    """What a sub-expression reads, as a key: `basket.total` → ("basket", "total"); any other part
    that reads the data (`len(customer.purchases)`, `any(…)`) → ("", its canonical text), since the
    same text in one scope has one value; None for a part that reads no data."""
    if constant_value(node, constants or {}) is not _UNKNOWN:
        return None
    parts: list[str] = []
    here = node
    while isinstance(here, ast.Attribute):
        parts.append(here.attr)
        here = here.value
    if isinstance(here, ast.Name):
        parts.append(here.id)
        return tuple(reversed(parts))
    return ("", ast.unparse(node))


class _Unknown:
    pass


_UNKNOWN: Any = _Unknown()


def constant_value(node: ast.Expr, constants: Mapping[str, Any]) -> Any:
    """The value of a sub-expression that reads no data (`50`, `min_spend`, `date("2026-12-01")`,
    `[1, 2]`), else `_UNKNOWN`."""
    stack = [node]
    while stack:
        here = stack.pop()
        if isinstance(here, ast.Comprehension):
            return _UNKNOWN
        if isinstance(here, ast.Name) and here.id not in constants:
            return _UNKNOWN
        stack.extend(ast.children(here))
    try:
        return interpreter.interpret(node, {}, constants)
    except Exception:  # a constant part that fails to evaluate is for the checker to report
        return _UNKNOWN


def holds_for(cases_: Cases, values: Mapping[Path, Any]) -> bool:
    """Whether some box allows these values of the paths (a path not given may be anything):
    the property tests check that every input a condition holds for is covered."""
    for box in cases_:
        if all(
            (values[path] is None and domain.null)
            or (values[path] is not None and domain.inside(values[path]))
            for path, domain in box.items()
            if path in values
        ):
            return True
    return False
