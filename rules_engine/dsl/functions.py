"""The function library: what each function accepts, what it returns, and how it runs.

Every function is null-safe: given null where it needs a value it returns null (and a null
condition counts as false). Implementations are plain Python callables shared by the compiler
and the interpreter. `signature` type-checks one call and returns the result type, or a
message and a hint for the checker to turn into a diagnostic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rules_engine.dsl import types as t
from rules_engine.dsl import values

ORDERABLE = frozenset(
    {t.Kind.NUMBER, t.Kind.TEXT, t.Kind.DATE, t.Kind.TIME, t.Kind.DATETIME, t.Kind.DURATION}
)


class SignatureError(Exception):
    """A call does not fit a function's signature; the checker reports it with the call's span."""

    def __init__(self, message: str, hint: str | None = None, argument: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.argument = argument


@dataclass(frozen=True)
class Function:
    name: str
    usage: str
    doc: str
    signature: Callable[[Sequence[t.DslType]], t.DslType]
    impl: Callable[..., Any]
    # True when the function may return null even for non-null arguments.
    may_be_null: bool = False


def _arity(args: Sequence[t.DslType], low: int, high: int, usage: str) -> None:
    if not low <= len(args) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise SignatureError(
            f"takes {want} argument{'s' if high != 1 else ''}, got {len(args)}", hint=f"write {usage}"
        )


def _expect(args: Sequence[t.DslType], index: int, kinds: set[t.Kind], what: str) -> None:
    kind = args[index].kind
    if kind not in kinds and kind not in (t.Kind.NULL, t.Kind.ANY):
        raise SignatureError(f"argument {index + 1} must be {what}, not {args[index]}", argument=index)


def _nullable(args: Sequence[t.DslType]) -> bool:
    return any(arg.nullable for arg in args)


def _text_fn(name: str, doc: str, impl: Callable[[str], Any], result: t.DslType) -> Function:
    usage = f"{name}(text)"

    def signature(args: Sequence[t.DslType]) -> t.DslType:
        _arity(args, 1, 1, usage)
        _expect(args, 0, {t.Kind.TEXT}, "text")
        return result.as_nullable(_nullable(args))

    return Function(name, usage, doc, signature, lambda s: None if s is None else impl(s))


def _text_pair(name: str, doc: str, impl: Callable[[str, str], bool]) -> Function:
    usage = f"{name}(text, part)"

    def signature(args: Sequence[t.DslType]) -> t.DslType:
        _arity(args, 2, 2, usage)
        _expect(args, 0, {t.Kind.TEXT}, "text")
        _expect(args, 1, {t.Kind.TEXT}, "text")
        return t.BOOL.as_nullable(_nullable(args))

    return Function(name, usage, doc, signature, lambda a, b: None if a is None or b is None else impl(a, b))


def _contains_signature(args: Sequence[t.DslType]) -> t.DslType:
    _arity(args, 2, 2, "contains(text, part) or contains(list, value)")
    whole, part = args
    if whole.kind is t.Kind.LIST:
        assert whole.element is not None
        if not whole.element.same_kind(part):
            raise SignatureError(f"cannot look for {part} in a {whole}", argument=1)
    elif whole.kind is t.Kind.TEXT:
        _expect(args, 1, {t.Kind.TEXT}, "text")
    elif whole.kind not in (t.Kind.NULL, t.Kind.ANY):
        raise SignatureError(f"argument 1 must be text or a list, not {whole}", argument=0)
    return t.BOOL.as_nullable(whole.nullable or (whole.kind is t.Kind.TEXT and part.nullable))


def _contains(whole: Any, part: Any) -> bool | None:
    if whole is None:
        return None
    if isinstance(whole, str):
        return None if part is None else part in whole
    return part in whole


def _len_signature(args: Sequence[t.DslType]) -> t.DslType:
    _arity(args, 1, 1, "len(text) or len(list)")
    _expect(args, 0, {t.Kind.TEXT, t.Kind.LIST}, "text or a list")
    return t.NUMBER.as_nullable(_nullable(args))


def _number_fn(name: str, doc: str, impl: Callable[[Any], Any]) -> Function:
    usage = f"{name}(number)"

    def signature(args: Sequence[t.DslType]) -> t.DslType:
        _arity(args, 1, 1, usage)
        _expect(args, 0, {t.Kind.NUMBER}, "a number")
        return t.NUMBER.as_nullable(_nullable(args))

    return Function(name, usage, doc, signature, impl)


def _round_signature(args: Sequence[t.DslType]) -> t.DslType:
    _arity(args, 1, 2, "round(number) or round(number, places)")
    _expect(args, 0, {t.Kind.NUMBER}, "a number")
    if len(args) == 2:
        _expect(args, 1, {t.Kind.NUMBER}, "a whole number of decimal places")
    return t.NUMBER.as_nullable(_nullable(args))


def _round(value: Any, places: Any = 0) -> Any:
    if places is not None and (places != int(places) or not -28 <= places <= 28):
        return None
    return values.round_half_away(value, places)


def _extreme_signature(name: str) -> Callable[[Sequence[t.DslType]], t.DslType]:
    def signature(args: Sequence[t.DslType]) -> t.DslType:
        _arity(args, 2, 99, f"{name}(a, b, …) or {name}(x for x in list)")
        kinds = {arg.kind for arg in args if arg.kind not in (t.Kind.NULL, t.Kind.ANY)}
        if len(kinds) > 1:
            raise SignatureError(f"arguments must all be of one type, got {', '.join(sorted(kinds))}")
        kind = next(iter(kinds), t.Kind.NULL)
        if kind not in ORDERABLE and kind not in (t.Kind.NULL, t.Kind.ANY):
            raise SignatureError(f"cannot order values of type {kind}")
        return t.DslType(kind, nullable=all(arg.nullable for arg in args))

    return signature


def _minimum(*args: Any) -> Any:
    present = [a for a in args if a is not None]
    return min(present) if present else None


def _maximum(*args: Any) -> Any:
    present = [a for a in args if a is not None]
    return max(present) if present else None


def _parse_date(text: Any) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _parse_time(text: Any) -> dt.time | None:
    if text is None:
        return None
    try:
        value = dt.time.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is None else None  # a time of day is local: no offset


def _parse_datetime(text: Any) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _parser_signature(name: str, result: t.DslType) -> Callable[[Sequence[t.DslType]], t.DslType]:
    def signature(args: Sequence[t.DslType]) -> t.DslType:
        _arity(args, 1, 1, f'{name}("…")')
        _expect(args, 0, {t.Kind.TEXT}, "text")
        # Literal arguments are checked and folded by the checker; others may not parse.
        return result.as_nullable(True)

    return signature


def _days_between_signature(args: Sequence[t.DslType]) -> t.DslType:
    _arity(args, 2, 2, "days_between(from, to)")
    for i in (0, 1):
        _expect(args, i, {t.Kind.DATE, t.Kind.DATETIME}, "a date or a time")
    return t.NUMBER.as_nullable(_nullable(args))


def _days_between(start: Any, end: Any) -> int | None:
    if start is None or end is None:
        return None
    start = start.date() if isinstance(start, dt.datetime) else start
    end = end.date() if isinstance(end, dt.datetime) else end
    return int((end - start).days)


def _coalesce_signature(args: Sequence[t.DslType]) -> t.DslType:
    _arity(args, 2, 99, "coalesce(value, fallback, …)")
    first = next((arg for arg in args if arg.kind not in (t.Kind.NULL, t.Kind.ANY)), t.NULL)
    for i, arg in enumerate(args):
        if not arg.same_kind(first):
            raise SignatureError(f"argument {i + 1} is {arg}, but the first is {first}", argument=i)
    return first.as_nullable(all(arg.nullable for arg in args))


def _coalesce(*args: Any) -> Any:
    return next((a for a in args if a is not None), None)


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in (
        _text_fn("lower", "Text in lower case.", str.lower, t.TEXT),
        _text_fn("upper", "Text in upper case.", str.upper, t.TEXT),
        _text_fn("trim", "Text without leading and trailing spaces.", str.strip, t.TEXT),
        _text_pair("starts_with", "Whether text begins with a part.", str.startswith),
        _text_pair("ends_with", "Whether text ends with a part.", str.endswith),
        Function(
            "contains",
            "contains(text, part) or contains(list, value)",
            "Whether text holds a part, or a list holds a value.",
            _contains_signature,
            _contains,
        ),
        Function(
            "len",
            "len(text) or len(list)",
            "Characters in text, or values in a list.",
            _len_signature,
            lambda v: None if v is None else len(v),
        ),
        _number_fn("abs", "The number without its sign.", lambda v: None if v is None else abs(v)),
        Function(
            "round",
            "round(number) or round(number, places)",
            "Round half away from zero: round(2.5) is 3, round(-2.5) is -3.",
            _round_signature,
            _round,
            may_be_null=True,
        ),
        _number_fn("floor", "The whole number at or below.", values.floor),
        _number_fn("ceil", "The whole number at or above.", values.ceil),
        Function(
            "min",
            "min(a, b, …)",
            "The smallest value; nulls are ignored.",
            _extreme_signature("min"),
            _minimum,
        ),
        Function(
            "max",
            "max(a, b, …)",
            "The largest value; nulls are ignored.",
            _extreme_signature("max"),
            _maximum,
        ),
        Function(
            "date",
            'date("2026-12-24")',
            "A calendar date.",
            _parser_signature("date", t.DATE),
            _parse_date,
            may_be_null=True,
        ),
        Function(
            "time",
            'time("09:30")',
            "A time of day.",
            _parser_signature("time", t.TIME),
            _parse_time,
            may_be_null=True,
        ),
        Function(
            "datetime",
            'datetime("2026-12-24T09:30:00+03:00")',
            "A moment, with its timezone offset.",
            _parser_signature("datetime", t.DATETIME),
            _parse_datetime,
            may_be_null=True,
        ),
        Function(
            "days_between",
            "days_between(from, to)",
            "Whole calendar days from one date to another (negative when `to` is earlier).",
            _days_between_signature,
            _days_between,
        ),
        Function(
            "coalesce",
            "coalesce(value, fallback, …)",
            "The first value that is not null.",
            _coalesce_signature,
            _coalesce,
        ),
    )
}

# Aggregates over a collection, written in Python's generator form: any(x > 1 for x in xs if …).
AGGREGATES = ("any", "all", "count", "sum", "min", "max")
