"""The answers about events written by pydantic's own serializer, with exact numbers.

An event's answer is mostly its `Outcome`, a tree of pydantic models. Writing it as
`jsonio.dumps(outcome.model_dump())` built the tree again as Python objects and walked it twice
more in Python (`to_json`, then the writer): the largest cost of a request beside the event's own
work. pydantic's serializer (Rust) writes the models to JSON in one pass; what it cannot do is the
project's number format: it writes a `Decimal` as a string (`"640.2"`), and money is a JSON number,
digit for digit, never a binary float (docs/service.md).

So a `Writer` serializes with a copy of the type's core schema in which every decimal is written
by `_number` as a marked string — an opening mark (a NUL, a nonce drawn at start-up, `<`), the
digits as `jsonio` writes them, a closing mark (a NUL, the nonce, `>`) — and the marks are then
dropped with the quotes around them (`_unmark`: two `bytes.replace`, in C; splitting at each mark
and matching each number's digits in Python took 32 µs of a coffee-club answer's 23 numbers on a
busy machine, this 2). Nothing but `_number` writes a mark: a client's string is written with its
NUL escaped as `\\u0000` like the marks', but cannot know the nonce, and what lies between two marks
is digits. Dates, times and durations are written as `jsonio` writes them (`isoformat`: `+00:00`,
not pydantic's `Z`, called by a C `methodcaller` rather than a Python function; durations as
`30d`), and values of fields typed `Any` (an explain node's value, a state's attributes) through
`jsonio`'s own rules, so an answer reads exactly as before, key for key and digit for digit
(tests/http/test_answers.py compares the two writers on every example program's events).

A value the schema does not expect (which pydantic would write by guessing, a Decimal as a string)
is an error (`warnings="error"`): a 500 rather than an answer with a wrong number in it.
"""

from __future__ import annotations

import datetime as dt
import operator
import secrets
from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from pydantic import TypeAdapter
from pydantic_core import SchemaSerializer, core_schema
from typing_extensions import TypedDict

from rules_engine.dsl.values import to_json
from rules_engine.engine.outcome import Outcome
from rules_engine.engine.outcome_json import OutcomeTexts, OutcomeWriter, UnexpectedValueError
from rules_engine.engine.result import Result
from rules_engine.http.models import Balance, points_of
from rules_engine.state.customer import CustomerState

_NONCE = secrets.token_hex(8)
_OPEN = f"\x00{_NONCE}<"
_CLOSE = f"\x00{_NONCE}>"
_OPENED = b'"\\u0000' + _NONCE.encode() + b"<"
"""A marked number's start in pydantic's JSON: the opening quote, the NUL escaped, the nonce."""
_CLOSED = b"\\u0000" + _NONCE.encode() + b'>"'
"""A marked number's end: the NUL escaped, the nonce, the closing quote."""


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
    """`_digits` between the marks, called once per decimal of an answer: its common case (no
    exponent, a finite value: `str` writes no `E`, `N` or `n`) done here without another call."""
    text = str(value)
    if "E" in text or "N" in text or "n" in text:  # an exponent, Infinity, NaN, sNaN
        text = _digits(value)
    elif "." in text:
        text = text.rstrip("0").rstrip(".")
    return _OPEN + text + _CLOSE


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


_ISOFORMAT = operator.methodcaller("isoformat")
"""A date's, a time's or a datetime's `isoformat()`, called from pydantic's serializer without a
Python frame."""


def _duration(value: dt.timedelta) -> Any:
    return to_json(value)


_WRITERS: dict[str, Callable[[Any], Any]] = {
    "decimal": _number,
    "datetime": _ISOFORMAT,
    "date": _ISOFORMAT,
    "time": _ISOFORMAT,
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
    """The JSON with every marked number written as a JSON number: its quotes and marks dropped."""
    return raw.replace(_OPENED, b"").replace(_CLOSED, b"")


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


# -- an event's answer written from the engine's `Result` (engine/outcome_json.py) ----------------


def _result_number(value: Decimal) -> str:
    """A decimal of a result as `EVENT` writes it: a JSON number (`_digits`)."""
    if type(value) is not Decimal:
        raise UnexpectedValueError(f"{value!r} is not a Decimal")
    return _digits(value)


def _result_models(kind: Any) -> Callable[[Any], str]:
    writer = Writer(kind)
    return lambda value: writer.dumps(value).decode()


def _moment(value: dt.datetime) -> str:
    """A moment as `EVENT` writes it: its `isoformat()` (digits and `T:.+-`: nothing to escape)."""
    if not isinstance(value, dt.datetime):
        raise UnexpectedValueError(f"{value!r} is not a datetime")
    return f'"{value.isoformat()}"'


OUTCOME = OutcomeWriter(_result_number, _moment, _result_models, ledger_by_model=False)
"""A result's outcome as it is in `EVENT`'s answer: numbers as numbers, `jsonio`'s moments. The
ledger entries are written by the writer: `Writer`'s every call costs more than pydantic's own
(its numbers and moments are Python calls, and the marks are taken out after)."""


TEXTS = OutcomeTexts()
"""The stored outcome and the answer's in one pass (engine/outcome_json.py): what the service's
`Loyalty` writes with (`Loyalty(texts=TEXTS)`), the answer's outcome kept on its `Handled`."""


def _balance(state: CustomerState, customer: str) -> str:
    """`Balance.of(state, customer)` as `EVENT` writes it (its numbers, without the model)."""
    total, available, pending, at = points_of(state)
    tier = state.tier
    number = _result_number
    return (
        f'{{"customer":{encode_basestring(customer)},'
        f'"tier":{"null" if tier is None else encode_basestring(tier)},'
        f'"total":{number(total)},"available":{number(available)},'
        f'"pending":{number(pending)},"as_of":{"null" if at is None else _moment(at)}}}'
    )


def event_answer_of(result: Result, duplicate: bool, referrer: Result | None, *, trace: bool) -> bytes:
    """`EVENT.dumps` of the answer to an event the engine decided now (`Result`s, not outcomes a
    store kept): the same bytes, written without building the pydantic `Outcome` (building it
    cost more than writing it). Raises `UnexpectedValueError` for a value the models would write their own
    way: write the outcomes with `EVENT` then."""
    balance = _balance(result.state, result.customer)
    referred = "null" if referrer is None else OUTCOME.write(referrer, trace=trace)
    text = (
        f'{{"program":{encode_basestring(result.program)},"version":{_version(result.version)},'
        f'"duplicate":{"true" if duplicate else "false"},"outcome":{OUTCOME.write(result, trace=trace)},'
        f'"balance":{balance},"referrer":{referred}}}'
    )
    return text.encode()


def _version(version: int) -> int:
    if type(version) is not int:
        raise UnexpectedValueError(f"{version!r} is not an int")
    return version


def event_answer_from(result: Result, duplicate: bool, outcome: str) -> bytes:
    """`event_answer_of(result, duplicate, None, trace=False)`, the outcome's text written already
    (`TEXTS.write`, with the stored outcome): the same bytes."""
    balance = _balance(result.state, result.customer)
    text = (
        f'{{"program":{encode_basestring(result.program)},"version":{_version(result.version)},'
        f'"duplicate":{"true" if duplicate else "false"},"outcome":{outcome},'
        f'"balance":{balance},"referrer":null}}'
    )
    return text.encode()
