"""An event's canonical JSON text and its digest (`event_digest`): what tells a redelivered event
from another event that reuses its id.

Separate from events.py, which holds the models and their validation: this writes a parsed
event's text, a format of its own that never changes once digests are kept in databases, and is
tuned for speed (basket lines' texts remembered by their values) where events.py is not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from rules_engine.engine.events import AnyEvent, Line, ReturnLine


def event_digest(event: AnyEvent) -> str:
    """The SHA-256 (hex) of the event's canonical JSON: every field of the parsed event, defaults
    filled in, keys sorted, no spaces, numbers exact and without trailing zeros (`500`, `500.00`
    and `5E+2` are one number), the time in UTC (one moment, whatever the offset it was sent with).

    Two deliveries with the same digest are the same event; a store keeps it with every event it
    applies, to tell a redelivery from another event that reuses the id (service.py). Digests are
    kept in databases, so the text hashed never changes: tests/engine/test_event_digest.py holds
    the first implementation (`model_dump`, then a recursive walk) and checks this one against it
    on generated events of every type.

    Why it reads the model's fields itself: `model_dump` copied every field, line and attribute
    into new dicts only to be walked once more by a chain of isinstance tests; reading the
    model's values, with each model class's field names sorted once and each value's text found
    by its exact type, takes a fraction of the time. A value of a type it does not know (only a
    Python caller can put one in `attributes`, where pydantic keeps anything) sends the event
    through `model_dump` as before: the same text either way.
    """
    carried = _CARRIED.pop(id(event), None)
    items = "[" + ",".join(carried[1]) + "]" if carried is not None and carried[0] is event else None
    try:
        text = _model_text(event, event.time.astimezone(dt.UTC), items)
    except _UnknownValueError:
        data = event.model_dump(mode="python")
        data["time"] = event.time.astimezone(dt.UTC)
        text = _canonical(data)
    return hashlib.sha256(text.encode()).hexdigest()


class _UnknownValueError(Exception):
    """A value `_text` does not know: the event goes through `model_dump` and `_canonical`."""


def _model_text(model: BaseModel, time: dt.datetime | None = None, items: str | None = None) -> str:
    """The canonical JSON of a model (an event, a basket line), as `_canonical` writes what
    `model_dump` makes of it; `time` in place of the model's `time` field, and `items`, when
    given, the text of its `items` (the lines' texts `carry` kept)."""
    values = model.__dict__
    keys = _SORTED_FIELDS.get(type(model))
    if keys is None:
        names = sorted(type(model).model_fields)
        keys = _SORTED_FIELDS[type(model)] = tuple((name, _quote(name) + ":") for name in names)
    if len(keys) != len(values):
        raise _UnknownValueError
    try:
        if items is not None:
            values = {**values, "time": time, "items": _Written(items)}
        elif time is not None:
            values = {**values, "time": time}
        text = _TEXT  # each value's text by its type, looked up here (not in `_text`): 80 a purchase
        empty = _EMPTY_TEXT  # and an empty one's without a call: most of an event's fields
        parts = []
        for name, key in keys:
            value = values[name]
            kind = type(value)
            parts.append(key + (empty[kind] if not value and kind in empty else text[kind](value)))
        return "{" + ",".join(parts) + "}"
    except KeyError:  # a field without a value, or a value of a type `_TEXT` does not have
        raise _UnknownValueError from None


def _text(value: Any) -> str:
    """`_canonical(value)` for the values `model_dump` passes through unchanged (text, numbers,
    booleans, None, lists, tuples and dicts of them, dates and times) and the event's own models:
    by the value's exact type (a subclass is unknown: KeyError)."""
    return _TEXT[type(value)](value)


def _number_text(value: int | float) -> str:
    """An int or float as canonical JSON, as `_canonical` writes it (a float: the number it shows;
    an int: its own digits, exact at any size).

    Until 2026-12-06 an int was written through a float (`format(value, "f")`): the same digits
    up to 2**53, where every int is a float, but past it the float's (`12345678901234567891`
    was written `12345678901234567168`, so two such events had one digest) and an int beyond a
    float's range raised OverflowError. docs/stores.md says what this changes for a digest stored
    then (tests/engine/test_canonical_numbers.py holds the two equal wherever they must be)."""
    if type(value) is float:
        return _decimal_text(Decimal(repr(value)))
    return int.__repr__(value)


def _decimal_text(value: Decimal) -> str:
    """A Decimal as canonical JSON: exact, without trailing zeros. `str` is `format(value, "f")`
    unless it is in exponent notation (`5E+2`), and a third of its time."""
    if not value:
        return "0"
    text = str(value)
    if "E" in text:
        text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dict_text(value: dict[Any, Any]) -> str:
    return (
        "{" + ",".join([_quote(str(key)) + ":" + _text(value[key]) for key in sorted(value, key=str)]) + "}"
    )


def _list_text(value: list[Any] | tuple[Any, ...]) -> str:
    text = _TEXT
    return "[" + ",".join([text[type(item)](item) for item in value]) + "]"


def _moment_text(value: dt.date | dt.time) -> str:
    return _quote(value.isoformat())


_TEXT: dict[type, Callable[[Any], str]] = {
    str: json.encoder.encode_basestring,
    Decimal: _decimal_text,
    int: _number_text,
    float: _number_text,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "null",
    dict: _dict_text,
    list: _list_text,
    tuple: _list_text,
    dt.datetime: _moment_text,
    dt.date: _moment_text,
    dt.time: _moment_text,
    ReturnLine: _model_text,
}

# The canonical text of basket lines, by their values: a stream's baskets are made of few
# distinct lines (a product at its price, in a quantity, with its size or colour), and a line's
# text is most of a purchase's. Keyed with the numbers' and attributes' types, so that only lines
# that write the same text meet: equal values of one of these types write one text (`Decimal("3")`
# and `Decimal("3.00")` both `3`), and a value of another type (a float, a date, a list) sends the
# line through `_model_text` every time.
_LINE_TEXTS: dict[tuple[Any, ...], str] = {}
_LINE_TEXTS_KEPT = 8192
_LINE_TEXT_LONGEST = 512
"""Only a line whose text is at most this long is remembered: the memory stays under ~8 MB
(its key holds the line's strings) whatever skus and names a hostile stream sends."""
_SCALARS = frozenset({str, int, Decimal, bool, type(None)})
"""The attribute values whose text depends only on their value and type (a datetime's does not:
two equal moments may be written with other offsets)."""


def _line_text(line: Line) -> str:
    """`_model_text(line)`, remembered for a line whose attributes, if any, are scalars (see
    `_LINE_TEXTS`)."""
    values = line.__dict__
    if len(values) != 6:
        return _model_text(line)
    attributes = values["attributes"]
    shape: tuple[Any, ...] = ()
    if attributes:
        kinds = tuple(map(type, attributes.values()))
        if not _SCALARS.issuperset(kinds):
            return _model_text(line)
        shape = (tuple(attributes.items()), kinds)
    price = values["price"]
    qty = values["qty"]
    key = (values["sku"], values["name"], values["category"], price, type(price), qty, type(qty), shape)
    try:
        text = _LINE_TEXTS.get(key)
    except TypeError:  # a signalling NaN among the attributes (from a Python caller) has no hash
        return _model_text(line)
    if text is None:
        text = _model_text(line)
        if len(text) <= _LINE_TEXT_LONGEST:
            if len(_LINE_TEXTS) >= _LINE_TEXTS_KEPT:
                _LINE_TEXTS.clear()
            _LINE_TEXTS[key] = text
    return text


_TEXT[Line] = _line_text


# -- the lines' texts found as they were read -------------------------------------------------------
# An event read from its JSON text by the fast reader (engine/event_text.py) is carried here with
# its lines' canonical texts, by identity (`carry`): the reader found each by the line's values as
# read (reader.py's `_SEEN`, a line read before: issue 13), and `event_digest` joins them rather
# than finding each again from the `Line`.
_CARRIED: dict[int, tuple[Any, list[str]]] = {}
_CARRIED_KEPT = 256
"""Events carried at once (each event's digest takes it out; when this many are, all are dropped).
`loyalty run` reads an event and decides it, one at a time; the service reads every request's
event on its loop and its lane digests them later, a group at a time: at 64 requests in flight up
to 64 events are read before the first is digested. Until 2026-12-06 this was 4, so that the
service cleared the carried texts three times in four and digested ~97 % of its events from their
`Line`s (counted on a server at 64 in flight: 68 of 2,600 carried). An event whose digest is never
asked for (one refused) stays, with its lines' texts, until this many are: a few hundred kilobytes
at most; an event dropped meanwhile just has its lines' texts written from the `Line`s."""


def carry(event: AnyEvent, texts: list[str]) -> None:
    """Keep `texts`, the canonical texts of `event.items` (a line's each, in order), for the
    event's first digest. The event is kept with them (its id is not reused while it is here); the
    reader's models are frozen, so the lines' texts do not change until `event_digest`."""
    if len(_CARRIED) >= _CARRIED_KEPT:
        _CARRIED.clear()
    _CARRIED[id(event)] = (event, texts)


class _Written:
    """A text already written (the carried lines'): `_TEXT` gives it as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_TEXT[_Written] = operator.attrgetter("text")
_EMPTY_TEXT: dict[type, str] = {type(None): "null", str: '""', dict: "{}", list: "[]", Decimal: "0", int: "0"}
"""The text of a value of these types that is false (None, empty, zero), as `_TEXT` writes it."""

# Each model class's field names, sorted, with their quoted JSON keys.
_SORTED_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _canonical(value: Any) -> str:
    """Canonical JSON text of a parsed event's data (one pass; strings quoted by json's C encoder):
    what `event_digest` hashes when the event holds a value `_text` does not know."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        items = ",".join(_quote(str(key)) + ":" + _canonical(value[key]) for key in sorted(value, key=str))
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):  # its digits, exact (`_number_text`); an IntEnum's value too
        return int.__repr__(value)
    if isinstance(value, float):  # from a Python caller: the number it shows, not a text
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value:
            return "0"
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.date | dt.time):  # a datetime too
        return _quote(value.isoformat())
    return _quote(str(value))


_quote = json.encoder.encode_basestring
