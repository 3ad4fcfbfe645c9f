# mypy: disable-error-code="func-returns-value"
"""The declared context — every name an expression can read — and how plain data becomes one.

This is the one place that says which attributes `event`, `basket`, `item` and `customer` have
and of which type. A program adds its own attributes (`item.brand`, `customer.birthday_month`)
with `declare_symbols`; the checker resolves names against the result.

`make_context` turns a JSON-like mapping (what a service sends) into the normalized form the
compiled code and the interpreter read: numbers as `int` or `Decimal` (never float), times as
timezone-aware datetimes, lists as tuples, records as dicts holding exactly the declared
attributes. Bad data is refused here with the path of the field, so evaluation itself never fails.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from rules_engine.dsl import types as t
from rules_engine.dsl.values import PLAIN_DECIMAL
from rules_engine.errors import ContextError, Diagnostic

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Attribute:
    """One declared attribute: its type, whether data must carry it, its default, its meaning."""

    type: t.DslType
    required: bool = False
    default: Any = None
    doc: str = ""


def _record(name: str, attributes: Mapping[str, Attribute]) -> tuple[t.Record, dict[str, Attribute]]:
    types = {
        key: attr.type.as_nullable(not attr.required and attr.default is None)
        for key, attr in attributes.items()
    }
    docs = {key: attr.doc for key, attr in attributes.items()}
    return t.Record(name, types, docs), dict(attributes)


@dataclass(frozen=True)
class ContextSchema:
    """Records by name with their attribute declarations; `roots` are the top-level names."""

    records: Mapping[str, t.Record]
    attributes: Mapping[str, Mapping[str, Attribute]]
    roots: Mapping[str, str]

    def symbols(self, *, per_item: bool = False) -> t.Symbols:
        """The symbol table: `event`, `basket`, `customer`, and `item` for per-item rules."""
        roots = {
            name: t.record_type(self.records[record])
            for name, record in self.roots.items()
            if per_item or name != "item"
        }
        return t.Symbols(roots)


_PURCHASE = {
    "sku": Attribute(t.TEXT, doc="Product code of a line bought earlier."),
    "category": Attribute(t.TEXT, doc="Category of that product."),
    "price": Attribute(t.NUMBER, required=True, doc="Unit price paid."),
    "qty": Attribute(t.NUMBER, required=True, doc="Quantity bought."),
    "date": Attribute(t.DATE, doc="Local date of that purchase."),
    "event": Attribute(t.TEXT, doc="Id of that purchase's event."),
}
_ITEM = {
    "sku": Attribute(t.TEXT, required=True, doc="Product code."),
    "name": Attribute(t.TEXT, doc="Product name as printed on the receipt."),
    "category": Attribute(t.TEXT, doc='Product category, e.g. "coffee".'),
    "price": Attribute(t.NUMBER, required=True, doc="Unit price in the program's currency."),
    "qty": Attribute(t.NUMBER, required=True, doc="Quantity on this line."),
}
_BASKET = {
    "total": Attribute(t.NUMBER, required=True, doc="What the customer pays for the basket."),
    "items": Attribute(t.list_of(t.DslType(t.Kind.NULL)), default=(), doc="The basket lines."),
    "item_count": Attribute(t.NUMBER, doc="Sum of the lines' quantities (computed when absent)."),
    "shipping": Attribute(t.NUMBER, doc="Shipping charged, if any."),
    "tax": Attribute(t.NUMBER, doc="Tax included in the total, if known."),
    "currency": Attribute(t.TEXT, doc="ISO 4217 currency code."),
    "coupons": Attribute(t.list_of(t.TEXT), default=(), doc="Coupon codes presented."),
}
_EVENT = {
    "id": Attribute(t.TEXT, required=True, doc="Unique event id."),
    "type": Attribute(t.TEXT, required=True, doc="purchase, return, signup, app_open, review …"),
    "time": Attribute(t.DATETIME, required=True, doc="When it happened, in the program's timezone."),
    "date": Attribute(t.DATE, doc="Local date of `time` (computed when absent)."),
    "channel": Attribute(t.TEXT, doc="app, web, store …"),
    "store": Attribute(t.TEXT, doc="Store id, for in-store events."),
}
_CUSTOMER = {
    "id": Attribute(t.TEXT, doc="Customer id or card number."),
    "tier": Attribute(t.TEXT, doc="Current tier id, null before the first qualification."),
    "points": Attribute(t.NUMBER, default=0, doc="Available points balance."),
    "tags": Attribute(t.list_of(t.TEXT), default=(), doc='Marketing tags, e.g. "vip".'),
    "purchases": Attribute(t.list_of(t.DslType(t.Kind.NULL)), default=(), doc="Earlier purchase lines."),
    "visits": Attribute(t.NUMBER, default=0, doc="How many purchases the customer made before."),
    "signup_date": Attribute(t.DATE, doc="Date the customer joined."),
    "birthday": Attribute(t.DATE, doc="Date of birth, if the customer gave it."),
}


STANDARD_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "item": tuple(_ITEM),
    "basket": tuple(_BASKET),
    "event": tuple(_EVENT),
    "customer": tuple(_CUSTOMER),
}


def declare_symbols(
    item: Mapping[str, t.DslType] | None = None,
    customer: Mapping[str, t.DslType] | None = None,
    event: Mapping[str, t.DslType] | None = None,
    basket: Mapping[str, t.DslType] | None = None,
) -> ContextSchema:
    """The context schema, extended with a program's custom attributes (all optional: null when absent)."""
    extra = {"item": item or {}, "customer": customer or {}, "event": event or {}, "basket": basket or {}}

    def extended(base: dict[str, Attribute], name: str) -> dict[str, Attribute]:
        out = dict(base)
        for key, typ in extra.get(name, {}).items():
            out.setdefault(key, Attribute(typ.as_nullable(False), doc="Declared by the program."))
        return out

    purchase, purchase_attrs = _record("purchase", _PURCHASE)
    item_record, item_attrs = _record("item", extended(_ITEM, "item"))
    basket_attrs = extended(_BASKET, "basket")
    basket_attrs["items"] = Attribute(
        t.list_of(t.record_type(item_record)), default=(), doc=_BASKET["items"].doc
    )
    basket_record, basket_attrs = _record("basket", basket_attrs)
    event_record, event_attrs = _record("event", extended(_EVENT, "event"))
    customer_attrs = extended(_CUSTOMER, "customer")
    customer_attrs["purchases"] = Attribute(
        t.list_of(t.record_type(purchase)), default=(), doc=_CUSTOMER["purchases"].doc
    )
    customer_record, customer_attrs = _record("customer", customer_attrs)
    return ContextSchema(
        records={
            "purchase": purchase,
            "item": item_record,
            "basket": basket_record,
            "event": event_record,
            "customer": customer_record,
        },
        attributes={
            "purchase": purchase_attrs,
            "item": item_attrs,
            "basket": basket_attrs,
            "event": event_attrs,
            "customer": customer_attrs,
        },
        roots={"event": "event", "basket": "basket", "customer": "customer", "item": "item"},
    )


DEFAULT_SCHEMA = declare_symbols()


class Context(dict[str, Any]):
    """A normalized context: the only form compiled code and the interpreter read."""


def make_context(
    data: Mapping[str, Any],
    schema: ContextSchema = DEFAULT_SCHEMA,
    *,
    require: Iterable[str] = (),
    timezone: dt.tzinfo | None = None,
) -> Context:
    """Validate and normalize a JSON-like mapping into a `Context`.

    Args:
        data: `{"event": {...}, "basket": {...}, "customer": {...}}`; `item` too for per-item rules.
        schema: the declared attributes (a program's, or the default).
        require: root names the expression reads; each must be present.
        timezone: the program's timezone; datetimes are converted to it, so `event.time.hour`
            and `event.date` are local. Without it a datetime keeps its own offset.

    Raises:
        ContextError: naming every bad field by its path, e.g. `basket.items[2].qty`.
    """
    if not isinstance(data, Mapping):
        raise ContextError([Diagnostic("RE401", f"a context is an object, got {_describe(data)}")])
    problems: list[Diagnostic] = []
    out = Context()
    for root in require:
        if root not in data or data[root] is None:
            problems.append(
                Diagnostic(
                    "RE402",
                    f"the expression reads `{root}`, but the context has no `{root}` object",
                    hint=f'add "{root}": {{...}} to the context',
                )
            )
    normalizer = _Normalizer(schema, timezone, problems)
    for root, record in schema.roots.items():
        if root in data and data[root] is not None:
            out[root] = normalizer.record(data[root], record, root)
    unknown = sorted(set(data) - set(schema.roots))
    for key in unknown:
        problems.append(
            Diagnostic("RE403", f"unknown context object `{key}`", hint="use event, basket, customer or item")
        )
    if problems:
        raise ContextError(problems)
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return f"number {value}"
    if isinstance(value, str):
        return f'text "{value}"'
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


class _Normalizer:
    def __init__(self, schema: ContextSchema, timezone: dt.tzinfo | None, problems: list[Diagnostic]) -> None:
        self.schema = schema
        self.timezone = timezone
        self.problems = problems

    def fail(self, path: str, message: str, hint: str | None = None) -> None:
        """Record a problem; returns None, the value a bad field takes while checking goes on."""
        self.problems.append(Diagnostic("RE404", f"{path}: {message}", hint=hint))
        return None

    def record(self, value: Any, record: str, path: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected an object, got {_describe(value)}")
            return None
        out: dict[str, Any] = {}
        for key, attr in self.schema.attributes[record].items():
            raw = value.get(key)
            if raw is None:
                if attr.required:
                    self.fail(f"{path}.{key}", "is required but missing", hint=attr.doc or None)
                out[key] = attr.default
                continue
            out[key] = self.value(raw, attr.type, f"{path}.{key}")
        self._derive(record, out)
        return out

    def _derive(self, record: str, out: dict[str, Any]) -> None:
        if record == "basket" and out.get("item_count") is None:
            out["item_count"] = sum((item["qty"] or 0 for item in out.get("items") or () if item), 0)
        if record == "event" and out.get("date") is None and isinstance(out.get("time"), dt.datetime):
            out["date"] = out["time"].date()

    def value(self, raw: Any, typ: t.DslType, path: str) -> Any:
        kind = typ.kind
        if kind is t.Kind.NUMBER:
            return self.number(raw, path)
        if kind is t.Kind.TEXT:
            if isinstance(raw, str):
                return raw
            return self.fail(path, f"expected text, got {_describe(raw)}")
        if kind is t.Kind.BOOL:
            if isinstance(raw, bool):
                return raw
            return self.fail(path, f"expected true or false, got {_describe(raw)}")
        if kind is t.Kind.DATETIME:
            return self.datetime(raw, path)
        if kind is t.Kind.DATE:
            return self.date(raw, path)
        if kind is t.Kind.TIME:
            return self.time(raw, path)
        if kind is t.Kind.DURATION:
            return self.duration(raw, path)
        if kind is t.Kind.LIST:
            if not isinstance(raw, list | tuple):
                return self.fail(path, f"expected a list, got {_describe(raw)}")
            assert typ.element is not None
            return tuple(self.value(v, typ.element, f"{path}[{i}]") for i, v in enumerate(raw))
        if kind is t.Kind.RECORD:
            assert typ.record is not None
            return self.record(raw, typ.record.name, path)
        return raw

    def number(self, raw: Any, path: str) -> int | Decimal | None:
        if isinstance(raw, str) and PLAIN_DECIMAL.fullmatch(raw):
            raw = Decimal(raw)  # as an event's amounts: exact text is a number too
        if isinstance(raw, bool) or not isinstance(raw, int | Decimal | float):
            return self.fail(path, f"expected a number, got {_describe(raw)}")
        if isinstance(raw, float):
            if not math.isfinite(raw):
                return self.fail(path, "expected a finite number")
            # repr() gives the shortest text that round-trips: 19.99 stays 19.99, not 19.989999…
            raw = Decimal(repr(raw))
        if isinstance(raw, Decimal):
            if not raw.is_finite():
                return self.fail(path, "expected a finite number")
            if raw != 0 and not -30 <= raw.adjusted() < 30:
                return self.fail(path, f"{raw} is out of range", hint="numbers have at most 30 digits")
            return int(raw) if raw == raw.to_integral_value() and raw.as_tuple().exponent == 0 else raw
        if abs(raw) >= 10**30:
            return self.fail(path, f"{raw} is out of range", hint="numbers have at most 30 digits")
        return int(raw)

    def datetime(self, raw: Any, path: str) -> dt.datetime | None:
        value = raw
        if isinstance(raw, str):
            try:
                value = dt.datetime.fromisoformat(raw)
            except ValueError:
                return self.fail(
                    path, f'"{raw}" is not an ISO 8601 time', hint='write e.g. "2026-12-24T09:30:00+03:00"'
                )
        if not isinstance(value, dt.datetime):
            return self.fail(path, f"expected a time, got {_describe(raw)}")
        if value.tzinfo is None or value.utcoffset() is None:
            return self.fail(path, "has no timezone offset", hint='add an offset, e.g. "+03:00" or "Z"')
        return value.astimezone(self.timezone) if self.timezone is not None else value

    def date(self, raw: Any, path: str) -> dt.date | None:
        if isinstance(raw, dt.datetime):
            return self.fail(path, "expected a date, got a date and time")
        if isinstance(raw, dt.date):
            return raw
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                pass
        return self.fail(path, f"expected a date, got {_describe(raw)}", hint='write e.g. "2026-12-24"')

    def time(self, raw: Any, path: str) -> dt.time | None:
        if isinstance(raw, dt.time) and raw.tzinfo is None:
            return raw
        if isinstance(raw, str):
            try:
                value = dt.time.fromisoformat(raw)
            except ValueError:
                pass
            else:
                if value.tzinfo is None:
                    return value
        return self.fail(path, f"expected a time of day, got {_describe(raw)}", hint='write e.g. "09:30"')

    def duration(self, raw: Any, path: str) -> dt.timedelta | None:
        from rules_engine.dsl.values import parse_duration

        if isinstance(raw, dt.timedelta):
            return raw
        if isinstance(raw, str) and (parsed := parse_duration(raw)) is not None:
            return parsed
        return self.fail(path, f"expected a duration, got {_describe(raw)}", hint='write e.g. "30d" or "12h"')


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
