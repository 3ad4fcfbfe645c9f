"""The answers about events written by pydantic's own serializer, with exact numbers.

An event's answer is mostly its `Outcome`, a tree of pydantic models. Writing it as
`jsonio.dumps(outcome.model_dump())` built the tree again as Python objects and walked it twice
more in Python (`to_json`, then the writer): the largest cost of a request beside the event's own
work. pydantic's serializer (Rust) writes the models to JSON in one pass; what it cannot do is the
project's number format: it writes a `Decimal` as a string (`"640.2"`), and money is a JSON number,
digit for digit, never a binary float (docs/service.md).

So a `Writer` serializes with a copy of the type's core schema in which every decimal is written
by `_number` as a marked string — a NUL, a nonce drawn at start-up, then the digits as `jsonio`
writes them — and the quotes and the mark are then dropped (`_unmark`: the bytes split at each
mark, each number's digits matched and its closing quote cut; a `re.sub` with a template did the
same in 22 µs of a coffee-club answer's 18 numbers, this in 13). Nothing but `_number`
writes the mark: a client's string is written with its NUL escaped as `\\u0000` like the mark's, but
cannot know the nonce, and only digits are ever unquoted. Dates, times and durations are written as
`jsonio` writes them (`isoformat`: `+00:00`, not pydantic's `Z`; durations as `30d`), and values of
fields typed `Any` (an explain node's value, a state's attributes) through `jsonio`'s own rules, so
an answer reads exactly as before, key for key and digit for digit (tests/http/test_answers.py
compares the two writers on every example program's events).

A value the schema does not expect (which pydantic would write by guessing, a Decimal as a string)
is an error (`warnings="error"`): a 500 rather than an answer with a wrong number in it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, core_schema
from typing_extensions import TypedDict

from rules_engine.dsl.values import to_json
from rules_engine.engine.outcome import Outcome
from rules_engine.http.models import Balance

_NONCE = secrets.token_hex(8)
_MARK = f"\x00{_NONCE}:"
_MARKED = b'"\\u0000' + _NONCE.encode() + b":"
"""A marked number's start in pydantic's JSON: the opening quote, the NUL escaped, the nonce."""
_DIGITS = re.compile(rb'-?[0-9]+(?:\.[0-9]+)?"')
"""A marked number's rest: its digits and the closing quote."""


def _digits(value: Decimal) -> str:
    """A decimal as `jsonio.dumps` writes it: plain digits, no exponent, no trailing zeros.

    `str` writes an amount (`320.00`, `-15.5`, `0.000001`) as `format(value, "f")` does, and
    costs less (no format specification to read); only an exponent (`1E+3`, `1.2E-7`) or a
    value that is no number needs more (tests/http/test_answers.py compares the two)."""
    text = str(value)
    if "E" in text or not value.is_finite():
        if not value.is_finite():
            raise ValueError(f"{value} is not a number JSON can hold")
        text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _number(value: Decimal) -> str:
    return _MARK + _digits(value)


def _plain(value: Any) -> Any:
    """A value of an `Any` field, JSON-ready as `jsonio.dumps` would write it (decimals marked)."""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        raise TypeError("binary floats are not written; use Decimal")
    return to_json(value)


def _isoformat(value: dt.date | dt.time) -> str:
    return value.isoformat()


def _duration(value: dt.timedelta) -> Any:
    return to_json(value)


_WRITERS: dict[str, Callable[[Any], Any]] = {
    "decimal": _number,
    "datetime": _isoformat,
    "date": _isoformat,
    "time": _isoformat,
    "timedelta": _duration,
    "any": _plain,
}


def _exact(schema: Any) -> Any:
    """A copy of a core schema in which the types of `_WRITERS` are written by them (as JSON).
    Serialization schemas and metadata are kept as they are: a `{"type": "decimal"}` there is
    not a field's type."""
    if isinstance(schema, list):
        return [_exact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema  # classes, functions: shared, not copied
    copied = {key: value if key in _KEPT else _exact(value) for key, value in schema.items()}
    writer = _WRITERS.get(schema.get("type"))  # type: ignore[arg-type]
    if writer is not None:
        copied["serialization"] = core_schema.plain_serializer_function_ser_schema(writer, when_used="json")
    return copied


_KEPT = {"metadata", "serialization"}


def _models(schema: Any) -> set[type]:
    """The model classes a core schema names."""
    found: set[type] = set()
    todo = [schema]
    while todo:
        item = todo.pop()
        if isinstance(item, list):
            todo += item
        elif isinstance(item, dict):
            if item.get("type") == "model" and isinstance(item.get("cls"), type):
                found.add(item["cls"])
            todo += [value for key, value in item.items() if key not in _KEPT]
    return found


class Writer:
    """Writes values of one type as JSON with exact numbers (module docstring)."""

    def __init__(self, kind: Any) -> None:
        schema = _exact(TypeAdapter(kind).core_schema)
        # pydantic-core reuses a finished model's own serializer for a model met in a schema
        # (its "prebuilt" serializer, found through the class's `__pydantic_complete__`), which
        # writes decimals as strings: the models look unfinished while this schema is built.
        models = [cls for cls in _models(schema) if cls.__dict__.get("__pydantic_complete__")]
        try:
            for cls in models:
                setattr(cls, "__pydantic_complete__", False)  # noqa: B010
            self._serializer = SchemaSerializer(schema)
        finally:
            for cls in models:
                setattr(cls, "__pydantic_complete__", True)  # noqa: B010

    def dumps(self, value: Any, *, exclude: dict[str, Any] | None = None) -> bytes:
        return _unmark(self._serializer.to_json(value, exclude=exclude, warnings="error"))


def _unmark(raw: bytes) -> bytes:
    """The JSON with every marked number written as a JSON number: its quotes and mark dropped."""
    parts = raw.split(_MARKED)
    if len(parts) == 1:
        return raw
    written = [parts[0]]
    for part in parts[1:]:
        digits = _DIGITS.match(part)
        if digits is None:  # only `_number` writes the mark, and only with digits after it
            raise ValueError("a marked number without its digits")
        end = digits.end()
        written += (part[: end - 1], part[end:])
    return b"".join(written)


class EventAnswer(TypedDict):
    """`POST …/events`' answer (`models.EventResult`, with the engine's own `Outcome`s)."""

    program: str
    version: int
    duplicate: bool
    outcome: Outcome
    balance: Balance
    referrer: Outcome | None


class DryRunAnswer(TypedDict):
    """`POST …/dry-run`'s answer (`models.DryRunResult`)."""

    program: str
    version: int
    outcome: Outcome


EVENT = Writer(EventAnswer)
DRY_RUN = Writer(DryRunAnswer)
