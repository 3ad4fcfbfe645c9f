"""The fast reader: an event's data checked by hand and built into its model, or nothing when unsure.

Why it exists: validating a 10-line purchase with its pydantic model costs ~27-40 µs, and
`loyalty run`, the HTTP service and `simulate` read every event they decide (issue 13). Nearly
every event is well formed; this reader checks such an event with a few type and range tests per
field and builds the same instances pydantic would, without validating them again (as
state/records.py does for the state's records): about half the model's time (bench_reader.py).

Why the errors stay the same: the reader never describes a problem. On anything it is not sure
of — a type other than the plain one (a bool, a float, a subclass), an unknown or missing key, a
number near a bound, text where a number belongs, a time in a format other than
`YYYY-MM-DDTHH:MM:SS[.ffffff](Z|±HH:MM)`, a lone surrogate, a schema it does not know — it
returns None and `parse_event` asks the model, which raises the usual `EventError` with every
diagnostic (code, path, message, hint). An accepted event is exactly what the model gives: the
same field values of the same types (the same Decimal digits and exponent, aware times with the
shared timezone object of `fixed_offset`), the same defaults (the model's own default objects),
the same fields set, the field validators of events.py applied (`_aware`, `_known_zone`).
tests/engine/test_reader.py checks this against the model on generated valid and broken events.

The reader knows each model's fields by name; a model that gains a field, a validator or a
layout it does not know is read by pydantic alone (`_shape` returns None for it). The checks of
single values are in reader_checks.py; this module holds the shapes and the instances built.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable
from decimal import Decimal, getcontext
from typing import Any

from pydantic import BaseModel

from rules_engine.engine.canonical import _line_text
from rules_engine.engine.events import (
    KNOWN_TYPES,
    MAX_ID,
    MAX_LINES,
    MAX_NAME,
    MONEY_DIGITS,
    AnyEvent,
    AppOpen,
    Custom,
    Line,
    Purchase,
    Redeem,
    ReferralReward,
    Return,
    ReturnLine,
    Review,
    Signup,
    Survey,
    validate_event,
)
from rules_engine.engine.line_texts import KnownLines
from rules_engine.engine.reader_checks import (
    _BAD,
    _MAX_MONEY,
    _SMALL,
    _SURROGATE,
    _attributes,
    _bounded,
    _coupons,
    _currency,
    _custom_type,
    _customer,
    _date_or_none,
    _known_type,
    _money,
    _quantity,
    _rating_or_none,
    _some_text,
    _some_text_or_none,
    _text,
    _text_or_none,
    _texts,
    _time,
    _zone_or_none,
)
from rules_engine.unvalidated import _FAST

_new = object.__new__
if _FAST:  # the slots' own setters (rules_engine/unvalidated.py checked the layout): module globals here
    from rules_engine.unvalidated import _set_dict, _set_extra, _set_fields, _set_private

_MISSING: Any = object()  # a key the event's JSON does not give

# -- lines ----------------------------------------------------------------------------------------

# Line's fields set for each combination of its optional fields given (bit 0 name, 1 category,
# 2 attributes); shared between instances as state/records.py shares them: pydantic only reads it.
_LINE_OPTIONAL = ("name", "category", "attributes")
_LINE_GIVEN = [
    {"sku", "price", "qty", *(name for bit, name in enumerate(_LINE_OPTIONAL) if mask >> bit & 1)}
    for mask in range(1 << len(_LINE_OPTIONAL))
]


# The common lines: a line's fields but its attributes, or all, in one C call (KeyError: another shape).
_named = operator.itemgetter("sku", "name", "category", "price", "qty")
_named_attributes = operator.itemgetter("sku", "name", "category", "price", "qty", "attributes")


def _line(data: Any) -> Any:
    """One `Line`: the bulk of a purchase. A line that names its product and category in ASCII
    text, at a price and in a quantity that are small whole numbers or a plain price, with or
    without attributes, is read by the prepared path here; any other by `_any_line`, which finds
    it the same or not sure (tests/engine/test_reader.py holds the two equal)."""
    if type(data) is not dict:
        return _BAD
    try:
        if len(data) == 5:
            sku, name, category, price, qty = _named(data)
            attributes: Any = {}
            given = _LINE_GIVEN[3]
        elif len(data) == 6:
            sku, name, category, price, qty, attributes = _named_attributes(data)
            if type(attributes) is not dict:
                return _BAD
            if not _bounded(attributes):  # ASCII names, within bounds: else read with care
                return _any_line(data)
            attributes = dict(attributes)
            given = _LINE_GIVEN[7]
        else:
            return _any_line(data)
    except KeyError:
        return _any_line(data)
    if not (
        type(sku) is str
        and type(name) is str
        and type(category) is str
        and sku
        and len(sku) + len(name) + len(category) <= MAX_ID  # so each within its bound; else spelt out
        and sku.isascii()
        and name.isascii()
        and category.isascii()
        and type(qty) is int
        and 0 < qty < 1024
    ):
        return _any_line(data)
    if type(price) is int and 0 <= price < _MAX_MONEY:
        price = _SMALL[price] if price < 1024 else Decimal(price)
    elif type(price) is Decimal:
        text = str(price)
        if len(text) > MONEY_DIGITS or not "0" <= text[0] <= "9" or "E" in text:
            return _BAD
    else:
        return _any_line(data)
    line = _new(Line)
    _set_dict(
        line,
        {
            "sku": sku,
            "name": name,
            "category": category,
            "price": price,
            "qty": _SMALL[qty],
            "attributes": attributes,
        },
    )
    _set_fields(line, given)
    _set_extra(line, None)
    _set_private(line, None)
    return line


def _any_line(data: dict[str, Any]) -> Any:
    """One `Line` of any shape, spelt out."""
    sku = _some_text(data.get("sku"))
    if sku is _BAD:
        return _BAD
    price = data.get("price")
    if type(price) is int and 0 <= price < 1024:  # as `_money` does, spelt out for the common cases
        price = _SMALL[price]
    elif type(price) is Decimal:
        text = str(price)
        if len(text) > MONEY_DIGITS or not "0" <= text[0] <= "9" or "E" in text:
            return _BAD
    else:
        price = _money(price)
        if price is _BAD:
            return _BAD
    qty = data.get("qty")
    if type(qty) is int and 0 < qty < 1024:  # as `_quantity` does
        qty = _SMALL[qty]
    else:
        qty = _quantity(qty)
        if qty is _BAD:
            return _BAD
    given = 3
    mask = 0
    name = data.get("name", _MISSING)
    if name is _MISSING:
        name = None
    elif name is None or (
        type(name) is str and len(name) <= MAX_NAME and (name.isascii() or _SURROGATE.search(name) is None)
    ):
        given += 1
        mask = 1
    else:
        return _BAD
    category = data.get("category", _MISSING)
    if category is _MISSING:
        category = None
    elif category is None or _text(category) is not _BAD:
        given += 1
        mask |= 2
    else:
        return _BAD
    attributes = data.get("attributes", _MISSING)
    if attributes is _MISSING:
        attributes = {}
    else:
        attributes = _attributes(attributes)
        if attributes is _BAD:
            return _BAD
        given += 1
        mask |= 4
    if len(data) != given:  # a key that is no field
        return _BAD
    line = _new(Line)
    _set_dict(
        line,
        {
            "sku": sku,
            "name": name,
            "category": category,
            "price": price,
            "qty": qty,
            "attributes": attributes,
        },
    )
    _set_fields(line, _LINE_GIVEN[mask])
    _set_extra(line, None)
    _set_private(line, None)
    return line


def _lines(value: Any) -> Any:
    """`Purchase.items`: 1 to 10,000 lines."""
    if type(value) is not list or not 0 < len(value) <= MAX_LINES:
        return _BAD
    lines = []
    for data in value:
        line = _line(data)
        if line is _BAD:
            return _BAD
        lines.append(line)
    return lines


# -- lines read from JSON before --------------------------------------------------------------------
# A stream's baskets are made of few distinct lines. A line of JSON data (`read_json_event`: the C
# scanner's values, of exact types) whose values were read before is built without its checks, with
# its canonical text (the digest, engine/canonical.py), found by its values as read (an `itemgetter`'s
# tuple, its attributes' items after). Equal keys may differ in type (`1`, `1.0`, `true`): a line is
# remembered only with an int quantity, an int or Decimal price and text attributes, and found only
# with an int quantity and a price of that type and, a Decimal, of the same digits (`320.0` is not
# `320`). A line's key → its price and quantity as the model holds them, the price's text, its text.
# (engine/line_texts.py finds whole lines by their JSON text, before they are scanned.)
_SEEN: dict[tuple[Any, ...], tuple[Any, str | None, Any, str]] = {}
_SEEN_KEPT = 8192
_SEEN_LONGEST = 512  # a line of a longer text is not kept: ~8 MB at most, whatever a stream sends
_READ = threading.local()  # what this thread's last purchase read from JSON found (`read_lines`)


def _json_lines(value: Any) -> Any:
    """`_lines` for JSON data, each line found among those read before (`_SEEN`) or read by `_line`
    and remembered, or lines found by their texts; their texts and keys are kept for `read_lines`."""
    if type(value) is KnownLines:  # found by their texts (engine/line_texts.py)
        _READ.lines = value.texts, value.keys
        return value.lines
    if type(value) is not list or not 0 < len(value) <= MAX_LINES:
        return _BAD
    lines = []
    texts: list[str] | None = []
    keys = 0  # of the lines' objects and their attributes, while every line's text is known
    seen = _SEEN
    for data in value:
        key: Any = None
        found = None
        attributes: Any = None
        if type(data) is dict:
            size = len(data)
            try:
                if size == 5:
                    named = key = _named(data)
                elif size == 6:
                    attributes = data["attributes"]
                    if type(attributes) is dict and attributes:  # `{}`: given, not the 5-key line
                        named = _named(data)
                        key = (*named, *attributes.items())
                if key is not None:
                    found = seen.get(key)
            except (KeyError, TypeError):  # another shape; an attribute without a hash (a list)
                key = None
        if found is not None:
            price, text, qty, written = found
            sku, name, category, sent, count = named
            if type(count) is int and (
                type(sent) is int if text is None else type(sent) is Decimal and str(sent) == text
            ):
                line = _new(Line)
                _set_dict(
                    line,
                    {
                        "sku": sku,
                        "name": name,
                        "category": category,
                        "price": price,
                        "qty": qty,
                        "attributes": {} if attributes is None else attributes,  # the scanner's
                    },
                )
                _set_fields(line, _LINE_GIVEN[3 if attributes is None else 7])
                _set_extra(line, None)
                _set_private(line, None)
                lines.append(line)
                if texts is not None:
                    texts.append(written)
                    keys += size if attributes is None else size + len(attributes)
                continue
        line = _line(data)
        if line is _BAD:
            return _BAD
        lines.append(line)
        if texts is not None:
            remembered = _remember(key, line) if key is not None else None
            if remembered is None:
                texts = None
            else:
                texts.append(remembered)
                keys += size if attributes is None else size + len(attributes)
    _READ.lines = None if texts is None else (texts, keys)
    return lines


def _remember(key: tuple[Any, ...], line: Line) -> str | None:
    """The text of `line` read from the JSON values `key`, remembered by them if it may be; else None."""
    sent, count = key[3], key[4]
    kind = type(sent)
    if type(count) is not int or (kind is not int and kind is not Decimal):
        return None
    for item in key[5:]:
        if type(item[1]) is not str:
            return None
    values = line.__dict__
    if type(values["name"]) is not str or type(values["category"]) is not str:
        return None
    written = _line_text(line)
    if len(written) <= _SEEN_LONGEST:
        if len(_SEEN) >= _SEEN_KEPT:
            _SEEN.clear()
        _SEEN[key] = (values["price"], None if kind is int else str(sent), values["qty"], written)
    return written


def read_lines() -> tuple[list[str], int] | None:
    """What `read_json_event` found of the lines of the purchase it read last on this thread: their
    texts, in order (`canonical.carry`), and the keys of their objects and attributes, all text
    (event_text.py counts an event's keys); None if a line's text was not known."""
    lines: tuple[list[str], int] | None = getattr(_READ, "lines", None)
    _READ.lines = None
    return lines


_RETURN_LINE_GIVEN = {"sku", "qty"}


def _return_lines(value: Any) -> Any:
    """`Return.items`: 1 to 10,000 `ReturnLine`s, each spelt out."""
    if type(value) is not list or not 0 < len(value) <= MAX_LINES:
        return _BAD
    lines = []
    for data in value:
        if type(data) is not dict or len(data) != 2:
            return _BAD
        sku = _some_text(data.get("sku"))
        qty = _quantity(data.get("qty"))
        if sku is _BAD or qty is _BAD:
            return _BAD
        line = _new(ReturnLine)
        _set_dict(line, {"sku": sku, "qty": qty})
        _set_fields(line, _RETURN_LINE_GIVEN)
        _set_extra(line, None)
        _set_private(line, None)
        lines.append(line)
    return lines


def _spelt_out(cls: type[BaseModel], defaults: dict[str, Any]) -> bool:
    """Whether `cls` is the line model spelt out above: these fields in this order, with these
    defaults (`_MISSING`: required; `dict`: a new dict), and nothing that validation would add."""
    fields = cls.model_fields
    if not _plain(cls, set()) or tuple(fields) != tuple(defaults):
        return False
    for name, default in defaults.items():
        info = fields[name]
        if default is _MISSING:
            same = info.is_required()
        elif default is dict:
            same = info.default_factory is dict
        else:
            same = info.default is default and info.default_factory is None
        if not same:
            return False
    return True


def _plain(cls: type[BaseModel], validators: set[str]) -> bool:
    """Whether the reader may build `cls` itself (`object.__new__` and pydantic's four slots, as
    rules_engine/unvalidated.py does): its field validators (by name) are `validators`, which the checks
    here apply, it has no other validator and no private attribute, refuses extra keys, and
    reads no field under another name."""
    decorators = cls.__pydantic_decorators__
    return (
        _FAST
        and not cls.__private_attributes__
        and cls.model_config.get("extra") == "forbid"
        and set(decorators.field_validators) == validators
        and not any(
            (
                decorators.validators,
                decorators.root_validators,
                decorators.model_validators,
                decorators.computed_fields,
            )
        )
        and all(info.alias is None and info.validation_alias is None for info in cls.model_fields.values())
    )


# -- events ---------------------------------------------------------------------------------------

Check = Callable[[Any], Any]
_CHECKS: dict[str, Check] = {
    "id": _some_text,
    "time": _time,
    "customer": _customer,
    "channel": _text_or_none,
    "store": _text_or_none,
    "attributes": _attributes,
    "device": _some_text_or_none,
    "payment": _some_text_or_none,
    "household": _some_text_or_none,
    "currency": _currency,
    "shipping": _money,
    "tax": _money,
    "paid_with_points": _money,
    "coupons": _coupons,
    "basket_attributes": _attributes,
    "purchase": _some_text,
    "referral_code": _text_or_none,
    "birthday": _date_or_none,
    "tags": _texts,
    "timezone": _zone_or_none,
    "product": _text_or_none,
    "rating": _rating_or_none,
    "survey": _text_or_none,
    "referee": _some_text,
    "qualifying_event": _some_text,
    "item": _some_text,
}
_LINES_READ = _spelt_out(
    Line,
    {"sku": _MISSING, "name": None, "category": None, "price": _MISSING, "qty": _MISSING, "attributes": dict},
)
_RETURN_LINES_READ = _spelt_out(ReturnLine, {"sku": _MISSING, "qty": _MISSING})
_GIVEN_KEPT = 256  # fields sets kept per model, one per combination of fields given


class _Shape:
    """How to read one event model: each field's check, and the defaults of those not given."""

    def __init__(self, cls: type[BaseModel], fields: list[tuple[str, Check, Any, Any]]) -> None:
        self.cls = cls
        self.names = [name for name, *_ in fields]
        # the defaults in declaration order, which the fields given replace in place
        self.defaults = {name: default for name, _, default, _ in fields}
        self.checks = {name: (check, 1 << bit) for bit, (name, check, _, _) in enumerate(fields)}
        self.required = sum(1 << bit for bit, (_, _, default, _) in enumerate(fields) if default is _MISSING)
        self.factories = [(1 << bit, name, make) for bit, (name, _, _, make) in enumerate(fields) if make]
        self.given: dict[int, set[str]] = {}

    def read(self, data: dict[str, Any]) -> Any:
        values = self.defaults.copy()
        checks = self.checks
        mask = 0
        for name, value in data.items():
            entry = checks.get(name)
            if entry is None:  # a key that is no field
                return None
            check, bit = entry
            value = check(value)
            if value is _BAD:
                return None
            values[name] = value
            mask |= bit
        if mask & self.required != self.required:
            return None
        for bit, name, make in self.factories:
            if not mask & bit:
                values[name] = make()  # a new list or dict for each event, as pydantic makes
        given = self.given.get(mask)
        if given is None:
            given = {name for bit, name in enumerate(self.names) if mask >> bit & 1}
            if len(self.given) < _GIVEN_KEPT:
                self.given[mask] = given
        event = _new(self.cls)
        _set_dict(event, values)
        _set_fields(event, given)
        _set_extra(event, None)
        _set_private(event, None)
        return event


def _shape(cls: type[BaseModel], validators: set[str], lines: Check = _lines) -> _Shape | None:
    """The reader of `cls` (a purchase's lines read by `lines`); None if the model is not the one
    the checks here were written for (a field without a check, a validator they do not apply,
    lines of another shape)."""
    if not _plain(cls, validators):
        return None
    checks: dict[str, Check] = {**_CHECKS, "type": _custom_type if cls is Custom else _known_type}
    if cls is Purchase and _LINES_READ:
        checks["items"] = lines
    elif cls is Return and _RETURN_LINES_READ:
        checks["items"] = _return_lines
    fields: list[tuple[str, Check, Any, Any]] = []
    for name, info in cls.model_fields.items():
        check = checks.get(name)
        if check is None:
            return None
        fields.append((name, check, _MISSING if info.is_required() else info.default, info.default_factory))
    return _Shape(cls, fields)


_TIME_ONLY = {"_aware", "_not_a_pseudonym"}  # every event's validators (`_customer` does the second)
_SHAPES: dict[str, _Shape] = {}
_JSON_SHAPES: dict[str, _Shape] = {}  # the same, a purchase's lines read by `_json_lines`
for _cls, _validators in (
    (Purchase, _TIME_ONLY),
    (Return, _TIME_ONLY),
    (Signup, {*_TIME_ONLY, "_known_zone"}),
    (AppOpen, _TIME_ONLY),
    (Review, _TIME_ONLY),
    (Survey, _TIME_ONLY),
    (Redeem, _TIME_ONLY),
    (ReferralReward, _TIME_ONLY),
):
    _read = _shape(_cls, _validators)
    if _read is not None:
        _SHAPES[_cls.model_fields["type"].default] = _read
        _JSON_SHAPES[_cls.model_fields["type"].default] = _shape(_cls, _validators, _json_lines) or _read
_CUSTOM = _shape(Custom, _TIME_ONLY)


def read_event(data: dict[str, Any], shapes: dict[str, _Shape] = _SHAPES) -> AnyEvent | None:
    """The event model for `data`, exactly as validation would make it; None when the reader is
    not sure the model would accept `data` as it is (the caller then validates it)."""
    if getcontext().prec < MONEY_DIGITS:  # pydantic counts the digits of a number rounded to it
        return None
    kind = data.get("type")
    if type(kind) is not str:
        return None
    shape = shapes.get(kind)
    if shape is None:
        if kind in KNOWN_TYPES:  # a model the reader does not know
            return None
        shape = _CUSTOM
        if shape is None:
            return None
    event: AnyEvent | None = shape.read(data)
    return event


def read_json_event(data: dict[str, Any]) -> AnyEvent | None:
    """`read_event` for data the JSON scanner gave (values of exact types: `str`, `int`, `bool`,
    `Decimal`, `None`, lists and dicts): a purchase's lines found among those read before (then
    `read_lines`), a line's attributes the data's own dict (nothing else holds the scanner's). Not
    for a Python caller's data, whose values may be subclasses equal to the ones remembered."""
    return read_event(data, _JSON_SHAPES)


def parse_event(data: Any) -> AnyEvent:
    """Validate event data (a JSON-like mapping, numbers exact) into its model.

    A well-formed event is read by the fast reader (`read_event`, in about half the time);
    anything it is not sure of is validated by the model (`validate_event`, engine/events.py),
    which describes what is wrong: the errors are the model's, whichever path an event takes.
    Here rather than in events.py because it builds on both: the models never import their reader.

    Raises:
        EventError: RE410 with one diagnostic per bad field, each naming the field's path.
    """
    if type(data) is dict:
        read = read_event(data)
        if read is not None:
            return read
    return validate_event(data)
