"""Run-time semantics shared by both back ends: exact arithmetic, null rules, value formatting.

The compiler emits calls to these helpers wherever the native Python operator would differ from
the language (division by zero is null, `%` is floored and exact, rounding is half away from
zero); the interpreter calls the same helpers, so the two back ends cannot drift on them.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal, DecimalException
from typing import Any

# Division, remainder and rounding use their own context. `+ - *` on decimals are Python's own
# operators (the fast path) and use the thread's decimal context: Python's default (28 digits)
# is exact for any amount of money; a host that lowers the precision gets rounded sums. The engine
# evaluates a whole event inside this context.
EXACT = Context(prec=28, rounding=ROUND_HALF_UP)
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
"""Text a number may be written as in events and contexts (`"500.10"`, as payment APIs send
money): digits, an optional sign and decimal part; no exponent, spaces or separators."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"([0-9]+)([wdhms])")
_DURATION_WHOLE = re.compile(r"(?:[0-9]+[wdhms])+")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> dt.timedelta | None:
    """`30d`, `12h`, `15m`, `2w`, `1d12h` → timedelta; anything else → None."""
    text = text.strip()
    if not _DURATION_WHOLE.fullmatch(text):
        return None
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION.findall(text))
    try:
        return dt.timedelta(seconds=seconds)
    except OverflowError:
        return None


def parse_number(text: str) -> int | Decimal:
    return Decimal(text) if "." in text else int(text)


def normalize_number(value: Decimal) -> int | Decimal:
    """An integral result is an int (`6 / 2` is 3), anything else stays an exact Decimal."""
    if value == value.to_integral_value():
        try:
            return int(value)
        except (OverflowError, ValueError):
            return value
    return value


def temporal_add(left: Any, right: Any) -> Any:
    """`+` on dates, times and durations: null when the result leaves years 1–9999."""
    if left is None or right is None:
        return None
    try:
        return left + right
    except OverflowError:
        return None


def temporal_sub(left: Any, right: Any) -> Any:
    """`-` on dates, times and durations: null when the result leaves years 1–9999."""
    if left is None or right is None:
        return None
    try:
        return left - right
    except OverflowError:
        return None


def negate(value: Any) -> Any:
    if value is None:
        return None
    try:
        return -value
    except OverflowError:
        return None


def divide(left: Any, right: Any) -> int | Decimal | None:
    """`/`: exact decimal division; null when either side is null or the divisor is zero."""
    if left is None or right is None or right == 0:
        return None
    try:
        return normalize_number(EXACT.divide(Decimal(left), Decimal(right)))
    except DecimalException:
        return None


def modulo(left: Any, right: Any) -> int | Decimal | None:
    """`%`: the remainder with the sign of the divisor (as Python's); null on zero or null."""
    if left is None or right is None or right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        return left % right
    try:
        a, b = Decimal(left), Decimal(right)
        remainder = EXACT.remainder(a, b)
        if remainder and (remainder < 0) != (b < 0):
            remainder = EXACT.add(remainder, b)
        return normalize_number(remainder)
    except DecimalException:
        return None


def round_half_away(value: Any, places: Any = 0) -> int | Decimal | None:
    """Round half away from zero: round(2.5) is 3, round(-2.5) is -3 (not banker's rounding)."""
    if value is None or places is None:
        return None
    places = int(places)
    if isinstance(value, int) and places >= 0:
        return value
    try:
        quantum = Decimal(1).scaleb(-places)
        result = Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP, context=EXACT)
    except DecimalException:
        return None
    return int(result) if places <= 0 else result


def floor(value: Any) -> int | None:
    if value is None:
        return None
    return value if isinstance(value, int) else int(Decimal(value).to_integral_value(rounding=ROUND_FLOOR))


def ceil(value: Any) -> int | None:
    if value is None:
        return None
    return value if isinstance(value, int) else int(Decimal(value).to_integral_value(rounding=ROUND_CEILING))


def temporal_attribute(value: Any, name: str) -> Any:
    """`.weekday`, `.hour`, `.date` … of a datetime, date, time or duration; null on null."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        return {"days": seconds // 86400, "hours": seconds // 3600, "minutes": seconds // 60}[name]
    if name == "weekday":
        return WEEKDAYS[value.weekday()]
    if name == "date":
        return value.date()
    if name == "time":
        return value.time()
    return getattr(value, name)


def to_json(value: Any) -> Any:
    """A JSON-ready form: Decimals stay Decimals (the encoder writes them digit for digit)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        from rules_engine.dsl.ast import format_duration

        return format_duration(value)
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def display(value: Any) -> str:
    """How a value is shown to a person: in the language's own literal syntax."""
    if value.__class__ is Decimal:  # the most shown, as format_literal writes it (a fast path)
        return format(value, "f")
    from rules_engine.dsl.ast import format_literal

    if isinstance(value, dt.datetime):
        return f'datetime("{value.isoformat()}")'
    if isinstance(value, dt.date):
        return f'date("{value.isoformat()}")'
    if isinstance(value, dt.time):
        return f'time("{value.isoformat(timespec="seconds" if value.second else "minutes")}")'
    if isinstance(value, tuple | list):
        if len(value) > 8:
            return "[" + ", ".join(display(v) for v in value[:8]) + f", … {len(value) - 8} more]"
        return "[" + ", ".join(display(v) for v in value) + "]"
    if isinstance(value, dict):
        shown = ", ".join(f"{k}: {display(v)}" for k, v in list(value.items())[:4])
        return "{" + shown + (", …}" if len(value) > 4 else "}")
    return format_literal(value)
