"""Value types of program files: ids, durations, money, rates, windows, and expressions.

Each is an `Annotated` pydantic type that parses the marketer's spelling (`30d`, `1 per 100`,
`rolling 365d`) and publishes a JSON Schema that says the same in the editor. `Expr` marks a
field that holds an expression in the condition language, with the type it must have and the
scope it runs in; `rules_engine.program.compile` finds every such field (`expression_marker`,
`models_in`) and compiles it.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer, WithJsonSchema

from rules_engine.dsl.ast import format_duration
from rules_engine.dsl.values import parse_duration

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
ID_LENGTH = 64  # the most characters of an id
DURATION_PATTERN = r"^([0-9]+[wdhms])+$"
RATE_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s+per\s+[0-9]+(\.[0-9]+)?\s*$"
WINDOW_PATTERN = r"^(calendar_(day|week|month|quarter|year)|lifetime|rolling ([0-9]+[wdhms])+)$"
TIME_OF_DAY_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
EVENT_TYPE_PATTERN = r"^[a-z][a-z0-9_]*$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"

Id = Annotated[
    str,
    Field(pattern=ID_PATTERN, max_length=ID_LENGTH, examples=["double-tuesday"]),
]


@dataclass(frozen=True)
class Expr:
    """Marks a field as an expression: the type it must have, and whether `item` is in scope.

    `per_item` is True, False, or the name of a sibling field whose presence puts `item` in
    scope (an `award` is per item when the rule has `for_each_item`).
    """

    type: Literal["bool", "number"]
    per_item: bool | str = False


def _condition_schema(description: str, example: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "minLength": 1, "description": description, "examples": [example]}
    )


Condition = Annotated[
    str,
    Expr("bool"),
    _condition_schema(
        "A condition in the rules language (docs/dsl.md); true or false.", "basket.total >= 500"
    ),
]
ItemCondition = Annotated[
    str,
    Expr("bool", per_item=True),
    _condition_schema(
        "A condition on one basket line, with `item` in scope (docs/dsl.md).", 'item.category == "gift_card"'
    ),
]
NumberExpr = Annotated[
    str | int | Decimal,
    Expr("number"),
    WithJsonSchema(
        {
            "type": ["string", "number"],
            "description": "A number, or an expression giving a number (docs/dsl.md).",
            "examples": [100, "5 * item.qty"],
        }
    ),
]


def expression_marker(annotation: Any, metadata: Sequence[Any] = ()) -> Expr | None:
    """The `Expr` marker of a field with this annotation (and pydantic's `metadata` for it), if any."""
    found = [m for m in metadata if isinstance(m, Expr)]
    stack = [annotation]
    while stack:
        current = stack.pop()
        if typing.get_origin(current) is typing.Annotated:
            found += [m for m in current.__metadata__ if isinstance(m, Expr)]
            stack.append(typing.get_args(current)[0])
        elif typing.get_origin(current) in (typing.Union, UnionType):
            stack.extend(typing.get_args(current))
    return found[-1] if found else None


def models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class a field holds, and whether it holds a list of them (`list[X] | X | None`)."""
    stack: list[tuple[Any, bool]] = [(annotation, False)]
    while stack:
        current, in_list = stack.pop()
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            return current, in_list
        if origin is list:
            stack.append((typing.get_args(current)[0], True))
        elif origin is typing.Annotated:
            stack.append((typing.get_args(current)[0], in_list))
        elif origin in (typing.Union, UnionType):
            stack.extend((arg, in_list) for arg in typing.get_args(current))
    return None, False


MAX_DURATION = dt.timedelta(days=36_525)
"""The longest duration a program may give (100 years): times computed from an event's (at most
2999) and a few durations stay within the year 9999 that dates end at. `expire_after: 3000000d`
passed validate, then every event of a run was RE417 or stopped it with an OverflowError."""


def _parse_duration(value: Any) -> Any:
    if isinstance(value, str):
        parsed = parse_duration(value)
        if parsed is None:
            raise ValueError("a duration is a number and a unit: 30d, 12h, 15m, 2w (or 1d12h)")
        if parsed > MAX_DURATION:
            raise ValueError(f"a duration is at most 100 years ({MAX_DURATION.days}d), not {value.strip()}")
        return parsed
    return value


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: a number and a unit, w(eeks) d(ays) h(ours) m(inutes) s(econds).",
            "examples": ["30d", "2w", "12h"],
        }
    ),
]

# At most 15 digits, as an event's amounts (engine/events.py): sums and products stay exact.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=15),
    WithJsonSchema({"type": "number", "minimum": 0, "description": "An amount in the program's currency."}),
]
Points = Annotated[
    Decimal,
    Field(ge=0, max_digits=15),
    WithJsonSchema({"type": "number", "minimum": 0, "description": "A number of points."}),
]
Count = Annotated[int, Field(ge=1, examples=[5])]
Percent = Annotated[
    Decimal,
    Field(gt=0, le=100),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100, "examples": [15]}),
]
Multiplier = Annotated[
    Decimal,
    Field(gt=0, le=100),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100, "examples": [2, 1.5]}),
]


def _time_of_day(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(TIME_OF_DAY_PATTERN, value):
        return dt.time.fromisoformat(value)
    if isinstance(value, str):
        raise ValueError('a time of day is HH:MM, e.g. "07:00"')
    return value


TimeOfDay = Annotated[
    dt.time,
    BeforeValidator(_time_of_day),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": TIME_OF_DAY_PATTERN, "examples": ["07:00"]}),
]


def _date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("a date is YYYY-MM-DD, e.g. 2026-12-01") from None
    return value


Date = Annotated[
    dt.date,
    BeforeValidator(_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-12-01"]}),
]


@dataclass(frozen=True)
class Rate:
    """`points` per `per` money units of the earning base: `1 per 100`."""

    points: Decimal
    per: Decimal

    def __str__(self) -> str:
        return f"{self.points} per {self.per}"


def _parse_rate(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(RATE_PATTERN.replace(r"[0-9]+(\.[0-9]+)?", r"([0-9]+(?:\.[0-9]+)?)"), value)
        if not match:
            raise ValueError('a rate is "<points> per <amount>", e.g. "1 per 100"')
        points, per = Decimal(match.group(1)), Decimal(match.group(2))
        if per == 0:
            raise ValueError("the amount after `per` must be more than 0")
        return Rate(points, per)
    return value


EarnRate = Annotated[
    Rate,
    BeforeValidator(_parse_rate),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": RATE_PATTERN,
            "description": "Points per amount of the earning base.",
            "examples": ["1 per 100", "5 per 1"],
        }
    ),
]


@dataclass(frozen=True)
class Window:
    """A period over which something is counted: a calendar unit, a rolling length, or lifetime."""

    kind: Literal[
        "calendar_day",
        "calendar_week",
        "calendar_month",
        "calendar_quarter",
        "calendar_year",
        "rolling",
        "lifetime",
    ]
    length: dt.timedelta | None = None

    def __str__(self) -> str:
        return f"rolling {format_duration(self.length)}" if self.length else self.kind


def _parse_window(value: Any) -> Any:
    if isinstance(value, str):
        if not re.fullmatch(WINDOW_PATTERN, value.strip()):
            raise ValueError(
                "a window is calendar_week, calendar_month, calendar_quarter, calendar_year, "
                "lifetime, or rolling <duration> such as rolling 30d"
            )
        text = value.strip()
        if text.startswith("rolling"):
            length = _parse_duration(text.split()[1])
            if not length:  # an empty window counts nothing, and would be written back as `rolling`
                raise ValueError("a rolling window needs a length of more than 0, e.g. rolling 30d")
            return Window("rolling", length)
        return Window(text)  # type: ignore[arg-type]
    return value


PeriodWindow = Annotated[
    Window,
    BeforeValidator(_parse_window),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": WINDOW_PATTERN,
            "description": "A counting period: calendar_week … calendar_year, lifetime, rolling <duration>",
            "examples": ["calendar_week", "rolling 365d"],
        }
    ),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
EventType = Annotated[
    str,
    Field(pattern=EVENT_TYPE_PATTERN, examples=["purchase", "app_open", "review"]),
]
