"""The condition language's syntax tree: frozen dataclasses, one per grammar rule.

Every node has a `span` — (start, end) character offsets inside the expression text — and a
`type`, filled in by the checker. Neither takes part in equality, so `parse(unparse(e)) == e`
holds for any tree. `unparse` prints a tree back as canonical source text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias

from rules_engine.dsl.types import DslType

Loc: TypeAlias = tuple[int, int]


@dataclass(frozen=True)
class Node:
    span: Loc = field(default=(0, 0), compare=False, kw_only=True)
    type: DslType | None = field(default=None, compare=False, kw_only=True)


@dataclass(frozen=True)
class Literal(Node):
    """A number (int or Decimal), text, true/false, null, or a duration (timedelta)."""

    value: Any


@dataclass(frozen=True)
class ListExpr(Node):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Name(Node):
    id: str


@dataclass(frozen=True)
class Attribute(Node):
    value: Expr
    attr: str
    attr_span: Loc = field(default=(0, 0), compare=False, kw_only=True)


@dataclass(frozen=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True)
class Neg(Node):
    operand: Expr


@dataclass(frozen=True)
class BoolOp(Node):
    """`and` / `or`: both sides are truth values; null counts as false."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Compare(Node):
    """`== != < <= > >= in` and `not in`."""

    op: str
    left: Expr
    right: Expr
    op_span: Loc = field(default=(0, 0), compare=False, kw_only=True)


@dataclass(frozen=True)
class Binary(Node):
    """Arithmetic: `+ - * / %`."""

    op: str
    left: Expr
    right: Expr
    op_span: Loc = field(default=(0, 0), compare=False, kw_only=True)


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Expr, ...]
    func_span: Loc = field(default=(0, 0), compare=False, kw_only=True)


@dataclass(frozen=True)
class Comprehension(Node):
    """`func(element for var in iterable if condition)`: any, all, count, sum, min, max."""

    func: str
    element: Expr
    var: str
    iterable: Expr
    condition: Expr | None
    func_span: Loc = field(default=(0, 0), compare=False, kw_only=True)
    var_span: Loc = field(default=(0, 0), compare=False, kw_only=True)


Expr: TypeAlias = (
    Literal | ListExpr | Name | Attribute | Not | Neg | BoolOp | Compare | Binary | Call | Comprehension
)


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions, in source order."""
    match node:
        case Literal() | Name():
            return ()
        case ListExpr(items=items):
            return items
        case Attribute(value=value):
            return (value,)
        case Not(operand=operand) | Neg(operand=operand):
            return (operand,)
        case (
            BoolOp(left=left, right=right) | Compare(left=left, right=right) | Binary(left=left, right=right)
        ):
            return (left, right)
        case Call(args=args):
            return args
        case Comprehension(element=element, iterable=iterable, condition=condition):
            return (element, iterable) if condition is None else (element, iterable, condition)
    raise AssertionError(node)


# Binding strength for unparse: higher binds tighter (mirrors grammar.lark).
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}
_ATOM = 8


def _precedence(node: Expr) -> int:
    match node:
        case BoolOp(op=op):
            return _PRECEDENCE[op]
        case Not():
            return _PRECEDENCE["not"]
        case Compare():
            return _PRECEDENCE["compare"]
        case Binary(op=op):
            return _PRECEDENCE[op]
        case Neg():
            return _PRECEDENCE["neg"]
        case Literal(value=value) if (
            isinstance(value, int | Decimal) and not isinstance(value, bool) and value < 0
        ):
            return _PRECEDENCE["neg"]
    return _ATOM


def format_literal(value: Any) -> str:
    """Source text for a literal value: the inverse of the parser's literal rules."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        escaped = escaped.replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def format_duration(value: dt.timedelta) -> str:
    """The one spelling of a duration, wherever people or files see one: largest units first, as
    a program may write it (`30d`, `12h`, `1d12h`, `1h30m`), read back by `values.parse_duration`
    to the same value."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + ("".join(parts) or "0s")


def unparse(node: Expr) -> str:
    """Canonical source text for a tree; parsing it gives an equal tree."""

    def wrap(child: Expr, minimum: int) -> str:
        text = unparse(child)
        return f"({text})" if _precedence(child) < minimum else text

    match node:
        case Literal(value=value):
            return format_literal(value)
        case ListExpr(items=items):
            return "[" + ", ".join(unparse(item) for item in items) + "]"
        case Name(id=name):
            return name
        case Attribute(value=value, attr=attr):
            return f"{wrap(value, _ATOM)}.{attr}"
        case Not(operand=operand):
            return f"not {wrap(operand, _PRECEDENCE['not'])}"
        case Neg(operand=operand):
            return f"-{wrap(operand, _PRECEDENCE['neg'])}"
        case BoolOp(op=op, left=left, right=right):
            level = _PRECEDENCE[op]
            return f"{wrap(left, level)} {op} {wrap(right, level + 1)}"
        case Compare(op=op, left=left, right=right):
            level = _PRECEDENCE["compare"]
            return f"{wrap(left, level + 1)} {op} {wrap(right, level + 1)}"
        case Binary(op=op, left=left, right=right):
            level = _PRECEDENCE[op]
            return f"{wrap(left, level)} {op} {wrap(right, level + 1)}"
        case Call(func=func, args=args):
            return f"{func}(" + ", ".join(unparse(arg) for arg in args) + ")"
        case Comprehension(func=func, element=element, var=var, iterable=iterable, condition=condition):
            text = f"{func}({unparse(element)} for {var} in {wrap(iterable, _PRECEDENCE['or'])}"
            if condition is not None:
                text += f" if {wrap(condition, _PRECEDENCE['or'])}"
            return text + ")"
    raise AssertionError(node)
