"""The condition language's types and the symbol table the checker resolves names against.

A `DslType` says what a value is (number, text, a list of items …) and whether it may be null.
The declared context — `event`, `basket`, `item`, `customer` and their attributes — lives in
`rules_engine.dsl.context`; a program extends it with custom attributes and constants, and the
result is a `Symbols` table. Types are immutable and hashable, so typed trees can be shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any


class Kind(StrEnum):
    NUMBER = "number"
    TEXT = "text"
    BOOL = "bool"
    DURATION = "duration"
    DATE = "date"
    TIME = "time"
    DATETIME = "datetime"
    NULL = "null"
    LIST = "list"
    RECORD = "record"
    # Only for error recovery in the checker: the type of a sub-expression already reported.
    ANY = "any"


@dataclass(frozen=True)
class DslType:
    """A type; `nullable` says whether a value of it may be missing at run time.

    `element` is set for lists, `record` for records (objects with named attributes).
    """

    kind: Kind
    nullable: bool = False
    element: DslType | None = None
    record: Record | None = field(default=None, compare=True)

    def __str__(self) -> str:
        if self.kind is Kind.LIST:
            return (
                f"list of {self.element}" if self.element and self.element.kind is not Kind.NULL else "list"
            )
        if self.kind is Kind.RECORD and self.record is not None:
            return self.record.name
        return self.kind.value

    def as_nullable(self, nullable: bool = True) -> DslType:
        return self if self.nullable == nullable else replace(self, nullable=nullable)

    def same_kind(self, other: DslType) -> bool:
        """True when values of both types may be compared with `==` (null aside)."""
        if {Kind.NULL, Kind.ANY} & {self.kind, other.kind}:
            return True
        if self.kind is not other.kind:
            return False
        if self.kind is Kind.LIST:
            assert self.element is not None and other.element is not None
            return self.element.same_kind(other.element)
        if self.kind is Kind.RECORD:
            return self.record == other.record
        return True


@dataclass(frozen=True, eq=False)
class Record:
    """A named object type: `basket`, `item`, `customer` … with typed attributes.

    Records compare by identity: two records with the same name but different attributes are
    different types, and recursive references stay cheap.
    """

    name: str
    attributes: Mapping[str, DslType]
    description: Mapping[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return id(self)


def _t(kind: Kind, nullable: bool = False) -> DslType:
    return DslType(kind, nullable)


NUMBER = _t(Kind.NUMBER)
TEXT = _t(Kind.TEXT)
BOOL = _t(Kind.BOOL)
DURATION = _t(Kind.DURATION)
DATE = _t(Kind.DATE)
TIME = _t(Kind.TIME)
DATETIME = _t(Kind.DATETIME)
NULL = _t(Kind.NULL, nullable=True)
ANY = _t(Kind.ANY, nullable=True)


def list_of(element: DslType, nullable: bool = False) -> DslType:
    return DslType(Kind.LIST, nullable, element=element)


def record_type(record: Record, nullable: bool = False) -> DslType:
    return DslType(Kind.RECORD, nullable, record=record)


# Attributes every date, time and datetime value has. `weekday` is "mon" … "sun".
TEMPORAL_ATTRIBUTES: Mapping[Kind, Mapping[str, DslType]] = MappingProxyType(
    {
        Kind.DATETIME: MappingProxyType(
            {
                "year": NUMBER,
                "month": NUMBER,
                "day": NUMBER,
                "hour": NUMBER,
                "minute": NUMBER,
                "weekday": TEXT,
                "date": DATE,
                "time": TIME,
            }
        ),
        Kind.DATE: MappingProxyType({"year": NUMBER, "month": NUMBER, "day": NUMBER, "weekday": TEXT}),
        Kind.TIME: MappingProxyType({"hour": NUMBER, "minute": NUMBER}),
        Kind.DURATION: MappingProxyType({"days": NUMBER, "hours": NUMBER, "minutes": NUMBER}),
    }
)

_TYPE_NAMES: Mapping[str, DslType] = MappingProxyType(
    {
        "number": NUMBER,
        "money": NUMBER,
        "text": TEXT,
        "bool": BOOL,
        "duration": DURATION,
        "date": DATE,
        "time": TIME,
        "datetime": DATETIME,
    }
)

TYPE_NAMES: tuple[str, ...] = (*_TYPE_NAMES, *(f"list[{name}]" for name in ("number", "text", "date")))


def parse_type_name(name: str) -> DslType | None:
    """The type a program declares for a custom attribute: `text`, `number`, `list[text]` …"""
    name = name.strip()
    if name.startswith("list[") and name.endswith("]"):
        element = _TYPE_NAMES.get(name[5:-1].strip())
        return list_of(element) if element else None
    return _TYPE_NAMES.get(name)


@dataclass(frozen=True)
class Symbols:
    """What an expression can see: top-level names with their types, and program constants.

    `roots` maps `event`, `basket`, `customer` (and `item` in per-item rules) to record types.
    `constants` maps a program's constant names to their (already exact) values.
    """

    roots: Mapping[str, DslType]
    constants: Mapping[str, tuple[DslType, Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [*self.roots, *self.constants]

    def with_roots(self, **roots: DslType) -> Symbols:
        return replace(self, roots={**self.roots, **roots})

    def without_roots(self, *names: str) -> Symbols:
        return replace(self, roots={k: v for k, v in self.roots.items() if k not in names})

    def with_constants(self, constants: Mapping[str, tuple[DslType, Any]]) -> Symbols:
        return replace(self, constants={**self.constants, **constants})
