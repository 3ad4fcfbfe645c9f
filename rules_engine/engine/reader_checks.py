"""The fast reader's checks of single values (reader.py): each takes a field's raw JSON value and
gives the value the event's model would hold, or `_BAD` when it is not sure (then pydantic reads
the event and says what is wrong).

Separate from reader.py, which holds the shapes (which fields each model has, lines, the event's
model by its type) and builds the instances: a check knows one kind of value (text, money, a
quantity, a time, a zone) and the bounds events.py sets for it, nothing of the models.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rules_engine.dsl.values import PLAIN_DECIMAL
from rules_engine.engine.events import (
    EARLIEST,
    LATEST,
    MAX_ATTRIBUTES,
    MAX_COUPONS,
    MAX_ID,
    MAX_NAME,
    MONEY_DIGITS,
    PSEUDONYM,
    QTY_DIGITS,
    fixed_offset,
    known_zone,
)

_BAD: Any = object()  # what a check returns for a value it is not sure of (None is a valid value)

# A lone surrogate is no text pydantic accepts (`string_unicode`); ASCII text has none.
_SURROGATE = re.compile("[\ud800-\udfff]")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"  # 2026-12-08T10:15:00
    r"(?:\.[0-9]{1,6})?"  # .5 to .123456
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"  # Z, or an offset of less than a day
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CUSTOM_TYPE = re.compile(r"[a-z][a-z0-9_]*")  # Custom.type's pattern
_ZONES = (dt.timezone, ZoneInfo)
_MAX_MONEY = 10**MONEY_DIGITS
_MAX_QTY = 10**QTY_DIGITS
# Decimal(n) for the small whole numbers most quantities and many prices are (the same value and
# exponent as Decimal(n)).
_SMALL = tuple(Decimal(n) for n in range(1024))


# -- the checks: the value the model would hold, or _BAD -----------------------------------------


def _text(value: Any) -> Any:
    """`Id` (events.py): text of at most `MAX_ID` characters without a lone surrogate."""
    if type(value) is str and len(value) <= MAX_ID and (value.isascii() or _SURROGATE.search(value) is None):
        return value
    return _BAD


def _text_or_none(value: Any) -> Any:
    return None if value is None else _text(value)


def _some_text(value: Any) -> Any:
    """`Id` with `min_length=1` (`_text`'s checks inline: an event's id and customer)."""
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID
        and (value.isascii() or _SURROGATE.search(value) is None)
    ):
        return value
    return _BAD


def _customer(value: Any) -> Any:
    """`_some_text`, and not an erasure's pseudonym (`PSEUDONYM`, the model's `_not_a_pseudonym`)."""
    if _some_text(value) is _BAD or (value.startswith("erased-") and PSEUDONYM.fullmatch(value)):
        return _BAD
    return value


def _some_text_or_none(value: Any) -> Any:
    """`Id | None` with `min_length=1` (device, payment, household)."""
    return None if value is None else _some_text(value)


def _currency(value: Any) -> Any:
    if value is None:
        return None
    return value if type(value) is str and _CURRENCY.fullmatch(value) else _BAD


def _attributes(value: Any) -> Any:
    """`Attributes` (events.py): a new dict with the same keys and values, as pydantic makes."""
    if type(value) is not dict or len(value) > MAX_ATTRIBUTES:
        return _BAD
    for key, item in value.items():
        if type(key) is not str or not (key.isascii() or _SURROGATE.search(key) is None):
            return _BAD
        if len(key) > MAX_ID or (isinstance(item, str) and len(item) > MAX_NAME):
            return _BAD  # the model says where
    return dict(value)


def _bounded(attributes: dict[Any, Any]) -> bool:
    """Whether a line's attributes are ASCII text keys within `Attributes`' bounds (the prepared
    path of reader.py `_line`; any other is read by `_any_line`, through `_attributes`)."""
    if len(attributes) > MAX_ATTRIBUTES:
        return False
    for key, item in attributes.items():
        if type(key) is not str or not key.isascii() or len(key) > MAX_ID:
            return False
        if isinstance(item, str) and len(item) > MAX_NAME:
            return False
    return True


def _texts(value: Any, most: int | None = None) -> Any:
    """`list[str]` (of at most `most`): a new list of the same texts."""
    if type(value) is not list or (most is not None and len(value) > most):
        return _BAD
    for item in value:
        if _text(item) is _BAD:
            return _BAD
    return list(value)


def _coupons(value: Any) -> Any:
    return _texts(value, MAX_COUPONS)


def _plain_decimal(value: Decimal, most: int) -> bool:
    """Whether pydantic keeps `value` as it is under `max_digits=most` and a bound of 0: a number
    that is neither negative, nor infinite, nor NaN, of at most `most` characters written plainly.

    pydantic counts the digits of the normalized number (the larger of its digits and its
    decimals); the plain text has at least that many characters, so what passes here passes
    there. An exponent (`1E+3`, `1E-7`), a sign (`-0`) or a longer text goes to the model.
    """
    text = str(value)
    return len(text) <= most and "0" <= text[0] <= "9" and "E" not in text


def _money(value: Any) -> Any:
    """`Money`: at least 0, at most 15 digits; an int, a Decimal or a plain decimal text."""
    kind = type(value)
    if kind is Decimal:
        return value if _plain_decimal(value, MONEY_DIGITS) else _BAD
    if kind is int:
        if 0 <= value < 1024:
            return _SMALL[value]
        return Decimal(value) if 0 <= value < _MAX_MONEY else _BAD
    if kind is str and PLAIN_DECIMAL.fullmatch(value):
        value = Decimal(value)
        return value if _plain_decimal(value, MONEY_DIGITS) else _BAD
    return _BAD  # a float, a bool, other text: the model's conversions and messages


def _quantity(value: Any) -> Any:
    """`Quantity`: more than 0, at most 9 digits."""
    kind = type(value)
    if kind is int:
        if 0 < value < 1024:
            return _SMALL[value]
        return Decimal(value) if 0 < value < _MAX_QTY else _BAD
    if kind is str and PLAIN_DECIMAL.fullmatch(value):
        value = Decimal(value)
    elif kind is not Decimal:
        return _BAD
    return value if value and _plain_decimal(value, QTY_DIGITS) else _BAD


def _time(value: Any) -> Any:
    """An aware time within the years events may carry, with the shared timezone of its offset
    (`BaseEvent._aware`): ISO text in the one common format, or a datetime in a plain zone.

    Text is read whole by `fromisoformat`, which gives the UTC offset (`Z`, `+00:00`) the shared
    `dt.UTC` itself; another offset is moved to its shared timezone by `astimezone` (the same
    wall time: the offsets are equal). `replace(tzinfo=…)` did that for every time and was half
    of this check (~10k of 20k instructions: its keyword parsing, counted)."""
    if type(value) is str:
        if not _TIME.fullmatch(value):
            return _BAD
        try:
            moment = _from_text(value)
        except ValueError:  # a 30th of February, an hour 24
            return _BAD
        if moment.tzinfo is not _UTC:
            zone = _OFFSETS.get(value[-6:])
            if zone is None:
                return _first_time(moment, value[-6:])
            try:
                moment = moment.astimezone(zone)
            except OverflowError:  # in year 1 or 9999: out of range below, as the model says
                return _BAD
    elif type(value) is dt.datetime and type(value.tzinfo) in _ZONES:
        moment = fixed_offset(value)
    else:
        return _BAD
    if 1900 < moment.year < 2999 or EARLIEST <= moment < LATEST:  # a day's offset cannot cross
        return moment
    return _BAD


def _first_time(moment: dt.datetime, offset: str) -> Any:
    """`_time` for a time whose offset has no timezone kept yet: keep its shared one."""
    moment = fixed_offset(moment)
    _OFFSETS[offset] = moment.tzinfo  # at most 2 × 24 × 60
    return moment if EARLIEST <= moment < LATEST else _BAD


# The shared timezone (`fixed_offset`) of each offset other than UTC as written (`+03:00`) seen
# in a time.
_OFFSETS: dict[str, Any] = {}
_from_text = dt.datetime.fromisoformat
_UTC = dt.UTC


def _date_or_none(value: Any) -> Any:
    if value is None or type(value) is dt.date:
        return value
    if type(value) is not str or not _DATE.fullmatch(value):
        return _BAD
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return _BAD


def _zone_or_none(value: Any) -> Any:
    """`str | None` naming a zone this machine knows (`Signup._known_zone`)."""
    if value is None:
        return None
    return value if _text(value) is not _BAD and known_zone(value) else _BAD


def _rating_or_none(value: Any) -> Any:
    if value is None:
        return None
    return value if type(value) is int and 1 <= value <= 5 else _BAD


def _known_type(value: Any) -> Any:
    return value  # the literal that chose the model (`read_event`)


def _custom_type(value: Any) -> Any:
    return value if type(value) is str and len(value) <= MAX_ID and _CUSTOM_TYPE.fullmatch(value) else _BAD
