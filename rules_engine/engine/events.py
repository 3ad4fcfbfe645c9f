"""What happens to a customer: purchases, returns, sign-ups, app opens, reviews, surveys, redemptions.

Events arrive as JSON from a checkout, POS or app backend. Each type is a pydantic model; the
`type` field picks the model. Validation is strict where a mistake would cost money or break
determinism: times must carry an offset, quantities and prices cannot be negative, the currency
must be the program's. A bad event is refused whole with the path of every bad field.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)
from pydantic import ValidationError as PydanticError
from pydantic_core import PydanticCustomError

from rules_engine import jsonio
from rules_engine.dsl.values import PLAIN_DECIMAL
from rules_engine.errors import (
    Diagnostic,
    EventError,
    PydanticIssue,
    diagnostics_from_pydantic,
    path_text,
    shown,
)
from rules_engine.zones import zone_named

# Bounds that keep every sum and product of an event exact in Python's 28-digit decimal
# arithmetic: a line's amount (price × qty) has at most 15 + 9 digits, a basket of at most 10,000
# lines at most 28. Ten trillion in any currency with two decimals is beyond any basket.
MONEY_DIGITS, QTY_DIGITS, MAX_LINES = 15, 9, 10_000
# The most characters of an identifier: an event's id, a customer, a SKU, a category, a coupon or
# referral code, a store, a tag … Stores keep them as keys and states keep them (coupons used,
# purchases to return), so a hostile 5 MB customer id would be kept as one. 200, what an event id
# has always been held to, is far above any id a till or an app makes (a UUID has 36).
MAX_ID = 200
MAX_EVENT_ID = MAX_ID  # the ids the engine derives from others keep within it (mechanics/referral.py)
# The shape of an erasure's pseudonym (tools/erasure.py), under which an erased customer's books
# are kept: an event naming it would earn on those books, and a referral it qualified would be owed
# to no one (the service pays no pseudonym). So no event may name a customer so.
PSEUDONYM = re.compile(r"erased-[0-9a-f]{32}")
# A product's name is free text for people (a receipt's line), not a key: longer, still bounded.
MAX_NAME = 1_000
# Custom attributes (an event's, a line's, a basket's) are the program's words, not a store's keys,
# but states and outcomes carry what conditions read of them: each bounded as identifiers and names
# are, so that a hostile event cannot carry 5 MB under one name. A name (the key) is at most
# `MAX_ID`, a text value at most `MAX_NAME` characters, and an object holds at most
# `MAX_ATTRIBUTES` of them (a program declares a few).
MAX_ATTRIBUTES = 100
# A till never sends more coupons with one purchase; the bound also keeps `x in basket.coupons`
# inside a per-item rule (lines × coupons steps) far below the loop budget (dsl/budget.py).
MAX_COUPONS = 100
# Event times are bounded to years no program means, so that every date the engine derives
# from one (a window's end, an expiry a few years on) stays within what Python's datetime holds.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)


def _number(value: Any) -> Any:
    """Amounts and quantities: a JSON number, or text holding a plain decimal (read exactly)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "expected a number, got true or false")
    if isinstance(value, str):
        if not PLAIN_DECIMAL.fullmatch(value):  # the same text a context accepts
            raise PydanticCustomError("number_text", "text that is not a plain decimal number")
        return Decimal(value)
    return value


_EPOCH = re.compile(r"\s*[-+]?[0-9.]+\s*$")


def _text_time(value: Any) -> Any:
    """A time is ISO 8601 text; a number would be read as epoch seconds, a silent guess."""
    number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _EPOCH.match(value)):
        raise PydanticCustomError("time_not_text", "a time is ISO 8601 text, not a number")
    return value


_DECIMAL_TEXT = {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=MONEY_DIGITS),
    BeforeValidator(_number),
    WithJsonSchema({"anyOf": [{"type": "number", "minimum": 0}, _DECIMAL_TEXT]}),
]
Id = Annotated[str, Field(max_length=MAX_ID)]
"""Text that names something (`MAX_ID`); the fast reader checks the same bound (reader_checks.py)."""


def _attribute_value(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_NAME:
        raise PydanticCustomError(
            "string_too_long", "String should have at most {max_length} characters", {"max_length": MAX_NAME}
        )
    return value


def _attribute_names(value: Any) -> Any:
    """Before the values are looked at, so that an error about one never quotes a hostile name."""
    if not isinstance(value, dict):
        return value  # the dict's own check says so
    if len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError(
            "too_many_attributes",
            "{count} attributes, more than the {most} an object of attributes may hold",
            {"count": f"{len(value):,}", "most": MAX_ATTRIBUTES},
        )
    for key in value:
        if isinstance(key, str) and len(key) > MAX_ID:
            raise PydanticCustomError(
                "attribute_name_too_long",
                "an attribute's name of {size} characters, more than the {most} a name may have",
                {"size": f"{len(key):,}", "most": MAX_ID},
            )
    return value


Attributes = Annotated[
    dict[str, Annotated[Any, AfterValidator(_attribute_value)]],
    BeforeValidator(_attribute_names),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_ATTRIBUTES,
            "propertyNames": {"maxLength": MAX_ID},
            "additionalProperties": {"not": {"type": "string", "minLength": MAX_NAME + 1}},
        }
    ),
]
"""Custom attributes (`MAX_ATTRIBUTES`): the fast reader checks the same bounds (reader_checks.py
`_attributes`), and leaves an event past them to the model, which says where."""
Quantity = Annotated[
    Decimal,
    Field(gt=0, max_digits=QTY_DIGITS),
    BeforeValidator(_number),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, _DECIMAL_TEXT]}),
]


class EventModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class Line(EventModel):
    """One basket line."""

    sku: Id = Field(min_length=1, examples=["LATTE-L"])
    """Product code."""
    name: str | None = Field(default=None, max_length=MAX_NAME, examples=["Latte, large"])
    """Product name."""
    category: Id | None = Field(default=None, examples=["coffee"])
    """Product category."""
    price: Money = Field(examples=[320])
    """Unit price, before program discounts, tax included."""
    qty: Quantity = Field(examples=[2])
    """Quantity (may be fractional for goods sold by weight)."""
    attributes: Attributes = Field(default_factory=dict, examples=[{"size": "L"}])
    """Custom attributes the program declares under attributes.item."""


def known_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    return zone_named(name) is not None


class BaseEvent(EventModel):
    id: Id = Field(min_length=1, examples=["evt-20261205-0001"])
    """Unique id; an event id is processed at most once."""
    time: Annotated[dt.datetime, BeforeValidator(_text_time)] = Field(examples=["2026-12-05T09:15:00+03:00"])
    """When it happened, with a timezone offset."""
    customer: Id = Field(min_length=1, examples=["card-7781"])
    """Customer id or card number."""
    channel: Id | None = Field(default=None, examples=["app"])
    """app, web, store …"""
    store: Id | None = Field(default=None, examples=["moscow-arbat"])
    """Store id."""
    attributes: Attributes = Field(default_factory=dict, examples=[{"campaign": "winter"}])
    """Custom attributes the program declares under attributes.event."""
    device: Id | None = Field(default=None, min_length=1, examples=["d:9f2c41"])
    """A fingerprint of the customer's device (a hash you compute), for referral fraud checks."""
    payment: Id | None = Field(default=None, min_length=1, examples=["p:77ab03"])
    """A fingerprint of the card or wallet paid with (a hash, never the number), for referral fraud checks."""
    household: Id | None = Field(default=None, min_length=1, examples=["h:c1e5d0"])
    """A hash of the customer's address or household, for referral fraud checks."""

    @field_validator("customer")
    @classmethod
    def _not_a_pseudonym(cls, value: str) -> str:
        if value.startswith("erased-") and PSEUDONYM.fullmatch(value):
            raise PydanticCustomError(
                "reserved_id", "`erased-` and 32 hex digits is the shape of an erased customer's pseudonym"
            )
        return value

    @field_validator("time")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError('time needs a timezone offset, e.g. "2026-12-05T09:15:00+03:00" or "…Z"')
        if not EARLIEST <= value < LATEST:
            raise PydanticCustomError(
                "time_out_of_range", "the time is outside the years 1900 to 2999 events may carry"
            )
        return fixed_offset(value)

    def model_post_init(self, context: Any, /) -> None:
        """An event built in Python (`Purchase(...)`) holding the NUL character in a text is
        refused as a dict given to `Loyalty.handle` is (service.py `_refuse_nul`: RE410, the same
        words and path): a store cannot keep it (PostgreSQL refuses it in text and JSON), and such
        an event reached it. So is data the model validates (`validate_event`). Not the fast
        reader's events (engine/reader.py, which builds them without pydantic): it reads text
        `jsonio.loads` refused NUL in, or data `Loyalty.handle` walked first.

        Raises:
            EventError: RE410 at the first text holding NUL (a key, for a key).
        """
        path = jsonio.nul_path(_as_data(self))
        if path is not None:
            raise EventError(
                [Diagnostic("RE410", f"{path_text(path)}: {jsonio.NUL}", hint=jsonio.NUL_HINT, path=path)]
            )


def _as_data(value: Any) -> Any:
    """A model's fields (its lines' too) as JSON-like data, for `jsonio.nul_path`."""
    if isinstance(value, BaseModel):
        return {name: _as_data(item) for name, item in value.__dict__.items()}
    if isinstance(value, list | tuple):
        return [_as_data(item) for item in value]
    return value


def fixed_offset(moment: dt.datetime) -> dt.datetime:
    """The same aware moment with its UTC offset as its timezone, in place of a named zone, and
    that timezone one shared object per offset.

    A state keeps times as JSON, which holds the offset, not the zone's name. A named zone
    (`ZoneInfo("Europe/Berlin")`) left in a time would make later arithmetic wall-clock across a
    daylight-saving change (a quest's deadline an hour off) until a store's JSON round trip
    turned it absolute: the same customer would be decided differently in memory and in a store.

    The shared object is for speed. Two aware times with the same tzinfo object compare as plain
    ones (~0.03 µs); with different objects each is asked for its UTC offset first, and the
    `TzInfo` pydantic gives every time it parses answers slowly (~0.3 µs a comparison, ten times
    as long). Every time the engine keeps (lots, activity, windows) comes from an event's time,
    and it compares them on every event. The offset and so the JSON are the same either way."""
    offset = moment.utcoffset()
    assert offset is not None  # aware, checked by the callers
    zone = _ZONES.get(offset)
    if zone is None:
        zone = _ZONES.setdefault(offset, dt.UTC if not offset else dt.timezone(offset))
    return moment if moment.tzinfo is zone else moment.replace(tzinfo=zone)


# The shared timezone of each UTC offset seen (at most a few dozen: offsets are whole minutes
# within a day, and few are used).
_ZONES: dict[dt.timedelta, dt.timezone] = {}


class Purchase(BaseEvent):
    """A purchase: the basket, what was charged for shipping, and coupons presented."""

    type: Literal["purchase"] = "purchase"
    items: list[Line] = Field(min_length=1, max_length=MAX_LINES)
    """The basket lines."""
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$", examples=["RUB"])
    """ISO 4217 code; must be the program's currency when given."""
    shipping: Money = Field(default=Decimal(0), examples=[300])
    """Shipping charged before program discounts."""
    tax: Money = Field(default=Decimal(0), examples=[206.75])
    """Tax included in the prices (for an earning base without tax)."""
    paid_with_points: Money = Field(default=Decimal(0), examples=[0])
    """The part of the basket paid with points (money value)."""
    coupons: list[Id] = Field(default_factory=list, max_length=MAX_COUPONS, examples=[["WELCOME-7F3K"]])
    """Coupon codes presented (at most 100)."""
    basket_attributes: Attributes = Field(default_factory=dict, examples=[{"delivery": "courier"}])
    """Custom attributes the program declares under attributes.basket."""


class ReturnLine(EventModel):
    sku: Id = Field(min_length=1, examples=["LATTE-L"])
    """Product code of the returned line."""
    qty: Quantity = Field(examples=[1])
    """Quantity returned."""


class Return(BaseEvent):
    """Goods returned from an earlier purchase."""

    type: Literal["return"] = "return"
    purchase: Id = Field(min_length=1, examples=["evt-20261205-0001"])
    """The id of the original purchase event."""
    items: list[ReturnLine] = Field(min_length=1, max_length=MAX_LINES)
    """What comes back."""


class Signup(BaseEvent):
    """A new customer joins, optionally with a friend's referral code."""

    type: Literal["signup"] = "signup"
    referral_code: Id | None = Field(default=None, examples=["REF-7781"])
    """The referral code of the customer who brought them."""
    birthday: dt.date | None = Field(default=None, examples=["1990-05-17"])
    """Date of birth, if given."""
    tags: list[Id] = Field(default_factory=list, examples=[["newsletter"]])
    """Marketing tags."""
    timezone: Id | None = Field(default=None, examples=["Europe/Berlin"])
    """The customer's IANA time zone, if known: quiet hours are kept in it."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and not known_zone(value):
            raise ValueError(f"unknown time zone `{shown(value)}`; use an IANA name such as Europe/Berlin")
        return value


class AppOpen(BaseEvent):
    type: Literal["app_open"] = "app_open"


class Review(BaseEvent):
    type: Literal["review"] = "review"
    product: Id | None = Field(default=None, examples=["LATTE-L"])
    """What was reviewed."""
    rating: int | None = Field(default=None, ge=1, le=5, examples=[5])
    """Stars, 1 to 5."""


class Survey(BaseEvent):
    type: Literal["survey"] = "survey"
    survey: Id | None = Field(default=None, examples=["nps-2026"])
    """Which survey was completed."""


class ReferralReward(BaseEvent):
    """The referrer's side of a referral: a customer they referred made a qualifying purchase.

    The engine sees one customer at a time: the referee's outcome names the referrer's code
    (trace `referral:referrer`); the caller (or `loyalty run`) then sends this event for the
    referrer, who gets `referral.referrer` within the referral `limit`.
    """

    type: Literal["referral_reward"] = "referral_reward"
    referee: Id = Field(min_length=1, examples=["card-9012"])
    """The referred customer who qualified."""
    qualifying_event: Id = Field(min_length=1, examples=["evt-20261212-0042"])
    """The referee's qualifying purchase."""


class Redeem(BaseEvent):
    """Spending points on a catalog item."""

    type: Literal["redeem"] = "redeem"
    item: Id = Field(min_length=1, examples=["free-latte"])
    """The catalog item id."""


class Custom(BaseEvent):
    """Any other event type a program reacts to (e.g. `newsletter_signup`)."""

    type: Annotated[Id, Field(pattern=r"^[a-z][a-z0-9_]*$", examples=["newsletter_signup"])]


Event = Annotated[
    Purchase | Return | Signup | AppOpen | Review | Survey | Redeem | ReferralReward,
    Field(discriminator="type"),
]
KNOWN_TYPES = ("purchase", "return", "signup", "app_open", "review", "survey", "redeem", "referral_reward")
AnyEvent = Purchase | Return | Signup | AppOpen | Review | Survey | Redeem | ReferralReward | Custom

# Each known type's model, validated alone rather than through the union `Event`: pydantic puts
# the union's tag first in an error's location, which cannot be told from a field of the same
# name (a survey's `survey`) and placed every error of such an event under it.
_MODELS: dict[str, type[BaseEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (Purchase, Return, Signup, AppOpen, Review, Survey, Redeem, ReferralReward)
}


def validate_event(data: Any) -> AnyEvent:
    """`parse_event` (engine/reader.py) by the pydantic models alone: what describes a bad event,
    and what the fast reader is compared with (tests/engine/test_reader.py).

    Raises:
        EventError: RE410 with one diagnostic per bad field, each naming the field's path.
    """
    if isinstance(data, BaseEvent):
        return data  # type: ignore[return-value]
    if not isinstance(data, dict):
        raise EventError(
            [Diagnostic("RE410", "an event is a JSON object", hint='{"id": …, "type": …, "time": …}')]
        )
    try:
        kind = data.get("type")
        model = _MODELS.get(kind, Custom) if isinstance(kind, str) else Custom
        event: AnyEvent = model.model_validate(data)  # type: ignore[assignment]
    except PydanticError as error:
        raise EventError(
            diagnostics_from_pydantic(error, "RE410", data=data, root="event", message=_message, hint=_hint)
        ) from None
    return event


def finer_than(event: AnyEvent, quantum: Decimal) -> list[Diagnostic]:
    """RE410 for every amount of a purchase with more decimals than its currency has (100.005
    RUB): rounding it silently would charge, and reward, another price than the one sent."""
    if not isinstance(event, Purchase):
        return []
    if not any(line.price % quantum for line in event.items) and not (
        event.shipping % quantum or event.tax % quantum or event.paid_with_points % quantum
    ):
        return []  # the usual case: nothing to say, nothing to build
    amounts: list[tuple[tuple[str | int, ...], Decimal]] = [
        (("items", index, "price"), line.price) for index, line in enumerate(event.items)
    ]
    amounts += [((name,), getattr(event, name)) for name in ("shipping", "tax", "paid_with_points")]
    places = max(0, -int(quantum.as_tuple().exponent))
    return [
        Diagnostic(
            "RE410",
            f"{path_text(path)}: {amount} has more than {places} decimal places",
            hint=f"round the amount to the currency's {places} decimal places before sending",
            path=path,
        )
        for path, amount in amounts
        if amount % quantum
    ]


def _message(issue: PydanticIssue) -> str:
    if issue.kind == "too_long" and issue.path == ("coupons",) and isinstance(issue.input, list):
        return f"coupons: {len(issue.input):,} coupons, more than the {MAX_COUPONS} a purchase may present"
    return f"{issue.where('event')}: {issue.message}"


def _hint(issue: PydanticIssue) -> str | None:
    kind = issue.kind
    if kind == "missing":
        return "add the field"
    if kind == "extra_forbidden":
        return "remove the field, or declare it as a custom attribute under `attributes`"
    if kind == "greater_than":
        return "a quantity is more than 0: leave out a line with none"
    if kind == "greater_than_equal":
        return "amounts cannot be negative"
    if kind == "string_type":
        given = issue.input
        shown = given if isinstance(given, int | Decimal) and not isinstance(given, bool) else "card-7781"
        return f'write it as text, in quotes: "{shown}"'
    if kind in ("number_text", "number_type"):
        return 'write a number with digits and a decimal point: 500.10 (or the text "500.10")'
    if kind == "time_not_text" or kind.startswith("datetime"):
        return 'write the time as text with its offset: "2026-12-05T09:15:00+03:00"'
    if kind == "value_error" and issue.path[-1:] == ("time",):  # `_aware`: a time with no offset
        return "write it as 2026-12-05T09:15:00+03:00 or 2026-12-05T06:15:00Z"
    if kind == "reserved_id":
        return "it names the books an erasure kept, not a customer: events use the customer's own ids"
    if kind == "time_out_of_range":
        return "check the year: a time is from 1900 to 2999"
    if kind in ("too_many_attributes", "attribute_name_too_long") or (
        kind == "string_too_long" and any(str(step).endswith("attributes") for step in issue.path[-2:-1])
    ):
        return "attributes are the few short values a program's conditions read: keep the rest out of events"
    if kind == "too_long" and issue.path == ("coupons",):
        return f"a purchase presents at most {MAX_COUPONS} coupons: send the ones the customer chose"
    if kind == "too_long" and issue.path == ("items",):
        return f"a purchase has at most {MAX_LINES:,} lines: split the basket into several events"
    return None


def event_schema() -> dict[str, Any]:
    adapter: TypeAdapter[Any] = TypeAdapter(AnyEvent)
    return adapter.json_schema(mode="validation")


def out_of_range(event: str) -> Diagnostic:
    """RE417: a date derived while processing an event fell past what a calendar holds."""
    return Diagnostic(
        "RE417",
        f"event {event}: a date computed from it falls outside the years 1 to 9999",
        hint="event times are bounded (1900 to 2999), so look for a far-off time in the customer's "
        "state or a very long duration in the program (an expiry, a window, a grace period)",
    )
