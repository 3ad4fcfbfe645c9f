"""The fast event reader against the pydantic models: the same event, or the same errors.

`parse_event` reads a well-formed event with engine/reader.py and leaves anything else to the
models (`validate_event`). Whatever the data, both must give the same thing: instances equal
field by field with the same types (Decimal digits and exponent, the timezone object itself), the
same fields set; or an `EventError` with the same diagnostics (code, message, path, hint).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
from collections import OrderedDict
from decimal import Decimal, localcontext
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator

from rules_engine import jsonio
from rules_engine.engine import reader, reader_checks
from rules_engine.engine.events import Line, Purchase, validate_event
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from rules_engine.tools.expectations.loading import load_suite
from tests.conftest import ROOT

DIFFERENTIAL = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def result(parse: Any, data: Any) -> Any:
    try:
        return parse(data)
    except EventError as error:
        return [(d.code, d.message, d.path, d.hint, d.span) for d in error.diagnostics]


def same(fast: Any, model: Any, where: str = "event") -> None:
    """`fast` is `model`, down to each value's type, a Decimal's exponent and a time's tzinfo object."""
    assert type(fast) is type(model), where
    if isinstance(model, BaseModel):
        assert list(fast.__dict__) == list(model.__dict__), where
        assert fast.model_fields_set == model.model_fields_set, where
        assert fast.__pydantic_extra__ == model.__pydantic_extra__, where
        assert fast.__pydantic_private__ == model.__pydantic_private__, where
        for name, value in model.__dict__.items():
            same(fast.__dict__[name], value, f"{where}.{name}")
    elif isinstance(model, Decimal):
        assert fast.as_tuple() == model.as_tuple(), where
    elif isinstance(model, dt.datetime):
        assert (fast, fast.fold) == (model, model.fold), where
        assert fast.tzinfo is model.tzinfo, where  # the shared timezone of the offset
    elif isinstance(model, dict):
        assert list(fast) == list(model), where
        for key, value in model.items():
            same(fast[key], value, f"{where}[{key!r}]")
    elif isinstance(model, list | tuple):
        assert len(fast) == len(model), where
        for index, (a, b) in enumerate(zip(fast, model, strict=True)):
            same(a, b, f"{where}[{index}]")
    else:
        assert fast is model or fast == model, where


def _json(model: BaseModel) -> str:
    try:
        return model.model_dump_json()
    except ValueError as error:  # text with a lone surrogate, in an attribute (Any) the model keeps
        return f"{type(error).__name__}: {error}"


def check(data: Any) -> Any:
    """Assert that `parse_event` and the models agree on `data`; return what they gave. Data with
    a NUL character has it replaced first: no reader is handed it (`Loyalty.handle` refuses a
    caller's data holding it before, as `jsonio.loads` refuses it in text), and the model refuses
    it (an event built in Python: events.py `BaseEvent.model_post_init`), the reader not."""
    if jsonio.nul_path(data) is not None:
        data = _without_nul(data)
    fast, model = result(parse_event, data), result(validate_event, data)
    same(fast, model)
    same(result(parse_event, data), model)  # again: the reader keeps what it saw first (offsets)
    if isinstance(model, BaseModel):
        assert fast == model
        assert fast.model_dump() == model.model_dump()
        assert result(_json, fast) == result(_json, model)
        for name in ("attributes", "basket_attributes", "coupons", "tags", "items"):
            if isinstance(data, dict) and name in data:  # a copy, as pydantic makes: not the caller's
                assert getattr(fast, name) is not data[name]
    return fast


def _without_nul(data: Any) -> Any:
    if isinstance(data, str):
        return data.replace("\x00", "\x01")
    if isinstance(data, dict):
        return {_without_nul(key): _without_nul(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_nul(value) for value in data]
    return data


# -- the data: valid events of every type, then broken ones -------------------------------------

SURROGATE = "caf\ud800"
TEXT = st.one_of(st.text(max_size=6), st.sampled_from(["", "x" * 200, "x" * 201, SURROGATE, "é", " ", "\n"]))


class Count(IntEnum):
    ONE = 1


class Text(str):
    pass


class Number(Decimal):
    pass


# Values that have broken, or could break, a hand-written reader: every field gets them.
ODD = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        1,
        -1,
        5,
        6,
        Count.ONE,
        10**9 - 1,
        10**9,
        10**15 - 1,
        10**15,
        10**50,
        0.5,
        1.0,
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("-0"),
        Decimal("0"),
        Decimal("0.00"),
        Decimal("-1"),
        Decimal("1E+3"),
        Decimal("1E-7"),
        Decimal("0.000000001"),
        Decimal("999999999.9"),
        Decimal("99999999999999.9"),
        Decimal("999999999999999"),
        Decimal("9999999999999999"),
        Decimal("1.000000000000000"),
        Number("5"),
        "5",
        "5.50",
        "-5",
        "0",
        "1e3",
        " 300",
        "3,00",
        "٣",
        "",
        "x",
        "RUB",
        "rub",
        "RUBX",
        Text("x"),
        SURROGATE,
        "Europe/Berlin",
        "Europe",
        "Mars/Olympus",
        "1990-05-17",
        "1990-02-30",
        "19900517",
        "2026-12-08T10:15:00+03:00",
        "2026-12-08T10:15:00",
        "1765170900",
        1765170900,
        dt.date(1990, 5, 17),
        dt.datetime(2026, 12, 8, 10, 15),
        dt.datetime(2026, 12, 8, 10, 15, tzinfo=ZoneInfo("Europe/Berlin")),
        dt.datetime(2026, 12, 8, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        [],
        [1],
        ["a", "b"],
        ["a", 1],
        [SURROGATE],
        ["x"] * 101,
        (),
        ("a",),
        {},
        {"a": 1},
        {1: "a"},
        {SURROGATE: 1},
        {"a": SURROGATE},
        {"a": {"b": [1, {"c": Decimal("NaN")}]}},
        OrderedDict(a=1),
        object(),
    ]
)

OFFSETS = ["Z", "z", "+00:00", "-00:00", "+03:00", "-05:30", "+14:00", "+23:59", "-23:59", "+24:00"]
OFFSETS += ["+05:75", "+0300", "+03", " +03:00", ""]


@st.composite
def times(draw: st.DrawFn) -> Any:
    """Times as text: mostly in the common format, across the years' edges, with odd variants."""
    moment = draw(st.datetimes(min_value=dt.datetime(1898, 1, 1), max_value=dt.datetime(3001, 12, 31)))
    separator = draw(st.sampled_from(["T", "T", "T", " ", "t"]))
    text = moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    fraction = draw(st.sampled_from(["", "", "", "0", "5", "123456", "1234567", ",5"]))
    if fraction:
        text += fraction if fraction.startswith(",") else "." + fraction
    text += draw(st.sampled_from(OFFSETS))
    return draw(st.sampled_from([text, text, text, text[:17] + "60" + text[19:], text[:11] + "24:00:00Z"]))


DECIMALS = st.one_of(
    st.decimals(min_value=0, max_value=10**15, places=2),
    st.decimals(min_value=0, max_value=1000, places=4),
    st.decimals(allow_nan=True, allow_infinity=True),
)
NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=-(10**16), max_value=10**16),
    DECIMALS,
    DECIMALS.map(lambda d: format(d, "f") if d.is_finite() else str(d)),  # as text, as payment APIs send
    st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e6),
)
ATTRIBUTES = st.dictionaries(
    TEXT, st.one_of(TEXT, st.integers(), DECIMALS, st.booleans(), st.none()), max_size=3
)


def lines(line: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(line, min_size=1, max_size=4)


LINE = st.fixed_dictionaries(
    {"sku": TEXT, "price": NUMBERS, "qty": NUMBERS},
    optional={
        "name": st.one_of(st.none(), TEXT),
        "category": st.one_of(st.none(), TEXT),
        "attributes": ATTRIBUTES,
    },
)
RETURN_LINE = st.fixed_dictionaries({"sku": TEXT, "qty": NUMBERS})
OPTIONAL_TEXT = st.one_of(st.none(), TEXT)
# Times given in Python: in named zones (folds and gaps included), fixed offsets, or naive.
DATETIMES = st.datetimes(
    min_value=dt.datetime(1899, 12, 30),
    max_value=dt.datetime(3000, 1, 2),
    timezones=st.one_of(st.timezones(), st.none(), st.just(dt.UTC)),
    allow_imaginary=True,
)
BASE = {"id": TEXT, "time": st.one_of(times(), times(), DATETIMES), "customer": TEXT}
BASE_OPTIONAL = {
    "channel": OPTIONAL_TEXT,
    "store": OPTIONAL_TEXT,
    "attributes": ATTRIBUTES,
    "device": OPTIONAL_TEXT,
    "payment": OPTIONAL_TEXT,
    "household": OPTIONAL_TEXT,
}
TYPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "purchase": (
        {"items": lines(LINE)},
        {
            "currency": st.one_of(st.none(), st.sampled_from(["RUB", "USD", "rub", "EURO"])),
            "shipping": NUMBERS,
            "tax": NUMBERS,
            "paid_with_points": NUMBERS,
            "coupons": st.lists(TEXT, max_size=3),
            "basket_attributes": ATTRIBUTES,
        },
    ),
    "return": ({"purchase": TEXT, "items": lines(RETURN_LINE)}, {}),
    "signup": (
        {},
        {
            "referral_code": OPTIONAL_TEXT,
            "birthday": st.one_of(st.none(), st.dates().map(str), st.dates()),
            "tags": st.lists(TEXT, max_size=3),
            "timezone": st.one_of(
                st.none(), st.sampled_from(["Europe/Berlin", "UTC", "Mars/Base", "Europe"])
            ),
        },
    ),
    "app_open": ({}, {}),
    "review": ({}, {"product": OPTIONAL_TEXT, "rating": st.one_of(st.none(), st.integers(-1, 7))}),
    "survey": ({}, {"survey": OPTIONAL_TEXT}),
    "redeem": ({"item": TEXT}, {}),
    "referral_reward": ({"referee": TEXT, "qualifying_event": TEXT}, {}),
    "newsletter_signup": ({}, {}),  # a custom event
}


def events_of(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = TYPES[kind]
    return st.fixed_dictionaries(
        {"type": st.just(kind), **BASE, **required}, optional={**BASE_OPTIONAL, **optional}
    )


EVENTS = st.sampled_from(sorted(TYPES)).flatmap(events_of)
FIELDS = sorted(
    {"type", "sku", "name", "category", "price", "qty", "unknown"} | set(BASE) | set(BASE_OPTIONAL)
)
FIELDS += sorted({name for required, optional in TYPES.values() for name in (*required, *optional)})


@st.composite
def broken(draw: st.DrawFn) -> Any:
    """A generated event with a few mutations: a field set to an odd value, removed or added, in
    the event or in one of its lines; its type changed; a container of another type."""
    data = draw(EVENTS)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = data
        items = data.get("items")
        dicts = [line for line in items if isinstance(line, dict)] if isinstance(items, list) else []
        if dicts and draw(st.booleans()):
            target = draw(st.sampled_from(dicts))
        action = draw(st.sampled_from(["set", "set", "set", "remove", "type", "container"]))
        if action == "set":
            target[draw(st.sampled_from(FIELDS))] = draw(st.one_of(ODD, NUMBERS, TEXT, times()))
        elif action == "remove" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif action == "type":
            data["type"] = draw(st.one_of(st.sampled_from([*TYPES, "Purchase", "9x", "", None, 1]), TEXT))
        elif action == "container" and isinstance(items, list):
            data["items"] = draw(st.sampled_from([tuple(items), items * 2, [*items, None], OrderedDict(a=1)]))
    if draw(st.integers(0, 20)) == 0:
        return draw(st.sampled_from([OrderedDict(data), list(data.items()), None, "event"]))
    return data


# -- the differential tests ----------------------------------------------------------------------


@DIFFERENTIAL
@given(EVENTS)
def test_generated_events_parse_as_the_models_parse_them(data: dict[str, Any]) -> None:
    check(data)


@DIFFERENTIAL
@given(broken())
def test_broken_events_get_the_models_errors(data: Any) -> None:
    check(data)


PLAIN_LINE = st.fixed_dictionaries(
    {
        "sku": st.text(min_size=1, max_size=8),
        "price": st.one_of(st.integers(0, 10**6), st.decimals(min_value=0, max_value=10**6, places=2)),
        "qty": st.one_of(st.integers(1, 50), st.decimals(min_value=Decimal("0.001"), max_value=99, places=3)),
    },
    optional={"name": st.text(max_size=8), "category": st.none(), "attributes": st.just({"size": "L"})},
)


@settings(max_examples=100, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "id": st.text(min_size=1, max_size=20),
            "type": st.just("purchase"),
            "time": st.datetimes(min_value=dt.datetime(1901, 1, 1), max_value=dt.datetime(2998, 1, 1)).map(
                lambda moment: moment.isoformat(timespec="seconds") + "+03:00"
            ),
            "customer": st.text(min_size=1, max_size=20),
            "items": st.lists(PLAIN_LINE, min_size=1, max_size=12),
        },
        optional={"currency": st.just("RUB"), "shipping": st.integers(0, 500), "coupons": st.just(["A"])},
    )
)
def test_the_reader_reads_well_formed_purchases_itself(data: dict[str, Any]) -> None:
    # without this the tests above could pass with a reader that always defers to the model
    assert reader.read_event(data) is not None
    check(data)


# Edges each worth a case of its own, whatever the generator draws.
GOOD: dict[str, Any] = {
    "id": "e1",
    "type": "purchase",
    "time": "2026-12-08T09:00:00+03:00",
    "customer": "anna",
    "items": [{"sku": "LATTE", "category": "coffee", "price": Decimal("300.00"), "qty": 1}],
}
EDGES: list[tuple[str, dict[str, Any]]] = [
    ("good", {}),
    ("a bool price", {"items": [{**GOOD["items"][0], "price": True}]}),
    ("a float price", {"items": [{**GOOD["items"][0], "price": 320.1}]}),
    ("a price of 15 digits", {"items": [{**GOOD["items"][0], "price": 10**15 - 1}]}),
    ("a price of 16 digits", {"items": [{**GOOD["items"][0], "price": 10**15}]}),
    ("a price with an exponent", {"items": [{**GOOD["items"][0], "price": Decimal("1E+3")}]}),
    ("a negative zero price", {"items": [{**GOOD["items"][0], "price": Decimal("-0")}]}),
    ("a price as text", {"items": [{**GOOD["items"][0], "price": "320.10"}]}),
    ("a price as text with an exponent", {"items": [{**GOOD["items"][0], "price": "1e3"}]}),
    ("a quantity of 0.000", {"items": [{**GOOD["items"][0], "qty": Decimal("0.000")}]}),
    ("a quantity of 10 digits", {"items": [{**GOOD["items"][0], "qty": 10**9}]}),
    ("an unknown line key", {"items": [{**GOOD["items"][0], "colour": "red"}]}),
    ("a line that is a list", {"items": [["sku", "LATTE"]]}),
    ("no lines", {"items": []}),
    ("lines as a tuple", {"items": (GOOD["items"][0],)}),
    ("10,000 lines", {"items": GOOD["items"] * 10_000}),
    ("10,001 lines", {"items": GOOD["items"] * 10_001}),
    ("a line of a million-character sku", {"items": [{**GOOD["items"][0], "sku": "x" * 1_000_000}]}),
    ("100,000 attributes", {"attributes": {f"a{n}": n for n in range(100_000)}}),
    ("an unknown key", {"colour": "red"}),
    ("a time in Z", {"time": "2026-12-08T09:00:00Z"}),
    ("a time in lowercase z", {"time": "2026-12-08T09:00:00z"}),
    ("a time with a space", {"time": "2026-12-08 09:00:00+03:00"}),
    ("a time with 7 decimals", {"time": "2026-12-08T09:00:00.1234567+03:00"}),
    ("a time at +23:59", {"time": "2026-12-08T09:00:00+23:59"}),
    ("a time at +24:00", {"time": "2026-12-08T09:00:00+24:00"}),
    ("a time with no offset", {"time": "2026-12-08T09:00:00"}),
    ("a time on February 30th", {"time": "2026-02-30T09:00:00+03:00"}),
    ("a time in 1900 just before", {"time": "1900-01-01T00:30:00+01:00"}),
    ("a time in 1900 just after", {"time": "1900-01-01T00:30:00-01:00"}),
    ("a time in 2999 just before", {"time": "2999-12-31T23:30:00+01:00"}),
    ("a time in 2999 just after", {"time": "2999-12-31T23:30:00-01:00"}),
    ("a time in 1899 that is 1900 in UTC", {"time": "1899-12-31T23:30:00-01:00"}),
    ("a time in 3000 that is 2999 in UTC", {"time": "3000-01-01T00:30:00+01:00"}),
    ("a time in year 1 east of UTC", {"time": "0001-01-01T00:30:00+05:00"}),  # no UTC moment
    ("a time in year 9999 west of UTC", {"time": "9999-12-31T23:30:00-05:00"}),
    ("a time in Berlin", {"time": dt.datetime(2026, 12, 8, 9, tzinfo=ZoneInfo("Europe/Berlin"))}),
    ("a naive datetime", {"time": dt.datetime(2026, 12, 8, 9)}),
    ("a number for a time", {"time": 1765170900}),
    ("an id of 200 characters", {"id": "x" * 200}),
    ("an id of 201 characters", {"id": "x" * 201}),
    ("a customer with a lone surrogate", {"customer": SURROGATE}),
    ("a customer as a number", {"customer": 7781}),
    ("a customer as a str subclass", {"customer": Text("anna")}),
    ("101 coupons", {"coupons": ["C"] * 101}),
    ("an attribute key that is a number", {"attributes": {1: "a"}}),
    ("a currency in lowercase", {"currency": "rub"}),
    ("a currency with a newline", {"currency": "RUB\n"}),
    ("attributes as null", {"attributes": None}),
    (
        "a price of 15 digits and 2 decimals",
        {"items": [{**GOOD["items"][0], "price": Decimal("9999999999999.99")}]},
    ),
    (
        "a price of 14 digits and 2 decimals",
        {"items": [{**GOOD["items"][0], "price": Decimal("99999999999999.99")}]},
    ),
    ("a price of 16 digits, whole", {"items": [{**GOOD["items"][0], "price": Decimal("1234567890123456")}]}),
    ("a price of 16 decimals", {"items": [{**GOOD["items"][0], "price": Decimal("0.0000000000000001")}]}),
    ("a quantity of 10 digits", {"items": [{**GOOD["items"][0], "qty": Decimal("99999999.99")}]}),
    ("a quantity of 9 digits", {"items": [{**GOOD["items"][0], "qty": Decimal("9999999.99")}]}),
    ("shipping as text", {"shipping": "300.00"}),
    ("a device of 200 characters", {"device": "d" * 200}),
    ("a device of 201 characters", {"device": "d" * 201}),
    ("an empty payment", {"payment": ""}),
]
OTHERS: list[tuple[str, dict[str, Any]]] = [
    ("a custom event", {"type": "newsletter_signup"}),
    ("a custom type with a newline", {"type": "newsletter\n"}),
    ("a custom type in capitals", {"type": "Newsletter"}),
    ("no type", {}),
    ("a review of 0 stars", {"type": "review", "rating": 0}),
    ("a review of 1 star", {"type": "review", "rating": 1}),
    ("a review of 5 stars", {"type": "review", "rating": 5}),
    ("a review of 6 stars", {"type": "review", "rating": 6}),
    ("a review of true stars", {"type": "review", "rating": True}),
    ("a review of 5.0 stars", {"type": "review", "rating": 5.0}),
    ("a signup in a known zone", {"type": "signup", "timezone": "Europe/Berlin"}),
    ("a signup in an unknown zone", {"type": "signup", "timezone": "Mars/Base"}),
    ("a signup in a folder of zones", {"type": "signup", "timezone": "Europe"}),
    ("a signup with a birthday", {"type": "signup", "birthday": "1990-05-17"}),
    ("a signup with a birthday as a date", {"type": "signup", "birthday": dt.date(1990, 5, 17)}),
    ("a signup with a birthday as a datetime", {"type": "signup", "birthday": dt.datetime(1990, 5, 17)}),
    ("a signup with a birthday without dashes", {"type": "signup", "birthday": "19900517"}),
    ("a signup with a birthday in year 0", {"type": "signup", "birthday": "0000-05-17"}),
    ("a signup with tags", {"type": "signup", "tags": ["a", "b"]}),
    ("a return", {"type": "return", "purchase": "e0", "items": [{"sku": "A", "qty": 1}]}),
    (
        "a return line with a price",
        {"type": "return", "purchase": "e0", "items": [{"sku": "A", "qty": 1, "price": 1}]},
    ),
    (
        "a return line without a quantity",
        {"type": "return", "purchase": "e0", "items": [{"sku": "A", "x": 1}]},
    ),
    ("a redeem", {"type": "redeem", "item": "free-latte"}),
    ("a redeem of nothing", {"type": "redeem", "item": ""}),
    ("a referral reward", {"type": "referral_reward", "referee": "b", "qualifying_event": "e0"}),
    ("an app open with items", {"type": "app_open", "items": []}),
]
BASE_EVENT = {"id": "e1", "time": "2026-12-08T09:00:00+03:00", "customer": "anna"}


@pytest.mark.parametrize(("label", "changes"), EDGES, ids=[label for label, _ in EDGES])
def test_edges_agree(label: str, changes: dict[str, Any]) -> None:
    check({**GOOD, **changes})


@pytest.mark.parametrize(("label", "data"), OTHERS, ids=[label for label, _ in OTHERS])
def test_edges_of_the_other_types_agree(label: str, data: dict[str, Any]) -> None:
    check({**BASE_EVENT, **data})


def test_every_event_type_has_its_reader() -> None:
    # a model that gains a field or a validator the reader does not know is read by pydantic
    # alone: correct, but slow; this says so
    assert set(reader._SHAPES) == {
        "purchase",
        "return",
        "signup",
        "app_open",
        "review",
        "survey",
        "redeem",
        "referral_reward",
    }
    assert reader._CUSTOM is not None


def test_a_model_the_reader_does_not_know_is_left_to_pydantic() -> None:
    class Stricter(Purchase):
        @field_validator("customer")
        @classmethod
        def _upper(cls, value: str) -> str:
            return value.upper()

    class Wider(Purchase):
        loyalty_card: str | None = None

    class NamedLine(Line):
        name: str | None = "item"

    class WiderLine(Line):
        colour: str | None = None

    assert reader._shape(Stricter, reader._TIME_ONLY) is None
    assert reader._shape(Wider, reader._TIME_ONLY) is None
    assert reader._shape(Purchase, reader._TIME_ONLY) is not None
    line = {
        "sku": reader._MISSING,
        "name": None,
        "category": None,
        "price": reader._MISSING,
        "qty": reader._MISSING,
    }
    line["attributes"] = dict
    assert reader._spelt_out(Line, line)
    assert not reader._spelt_out(NamedLine, line)
    assert not reader._spelt_out(WiderLine, line)


def test_a_low_decimal_precision_leaves_amounts_to_pydantic() -> None:
    # pydantic counts the digits of a number rounded to the context's precision
    with localcontext() as context:
        context.prec = 10
        assert reader.read_event(GOOD) is None
        check(GOOD)
    assert reader.read_event(GOOD) is not None


def test_the_reader_can_be_imported_first() -> None:
    code = "import rules_engine.engine.reader as r; assert r._SHAPES"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- the examples ---------------------------------------------------------------------------------


def _example_events() -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for folder in (ROOT / "programs" / "events", ROOT / "tests" / "fixtures" / "events"):
        for path in sorted(folder.rglob("*.json*")):
            text = path.read_text(encoding="utf-8")
            documents = text.splitlines() if path.suffix == ".jsonl" else [text]
            for number, document in enumerate(documents, 1):
                if document.strip():
                    with contextlib.suppress(jsonio.JsonError):  # a fixture of bad JSON: no event
                        found.append((f"{path.relative_to(ROOT)}:{number}", jsonio.loads(document)))
    for path in sorted([*ROOT.glob("programs/*.tests.yaml"), *ROOT.glob("tests/fixtures/*.tests.yaml")]):
        try:
            suite = load_suite(path)
        except Exception:  # a fixture of a broken tests file
            continue
        for case in suite.cases:
            found += [(f"{path.relative_to(ROOT)}: {case.case.name}", case.event)]
            found += [
                (f"{path.relative_to(ROOT)}: {case.case.name} (before)", event) for event in case.before
            ]
    return found


EXAMPLES = _example_events()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) > 100


@pytest.mark.parametrize(("where", "data"), EXAMPLES, ids=[where for where, _ in EXAMPLES])
def test_example_events_parse_as_the_models_parse_them(where: str, data: Any) -> None:
    check(data)


def test_most_example_events_are_read_by_the_reader() -> None:
    read = [
        where for where, data in EXAMPLES if isinstance(data, dict) and reader.read_event(data) is not None
    ]
    assert len(read) > 0.8 * len(EXAMPLES)


# The prepared path of a line (`reader._line`: named, categorised, small numbers) against the path
# for any line (`reader._any_line`), on lines mostly of its shape and some just off it.
COMMON_LINE = st.fixed_dictionaries(
    {
        "sku": st.one_of(st.sampled_from(["LATTE-L", "", "É", "\ud800"]), st.text(max_size=6)),
        "name": st.one_of(st.sampled_from(["Latte", "Crème", None, 7]), st.text(max_size=6)),
        "category": st.one_of(st.sampled_from(["coffee", "", None]), st.text(max_size=6)),
        "price": st.one_of(
            st.integers(-2, 2000),
            st.just(10**15),
            st.just(10**15 - 1),
            st.sampled_from([True, 1.5, "3"]),
            DECIMALS,
        ),
        "qty": st.one_of(st.integers(-1, 1100), st.sampled_from([False, Decimal("1.5"), "2", 2.0])),
    },
    optional={
        "attributes": st.one_of(
            ATTRIBUTES, st.just({"size": "L"}), st.just({"Größe": "L"}), st.just({1: "x"}), st.just([])
        ),
        "unknown": st.just(1),
    },
)


@DIFFERENTIAL
@given(st.one_of(COMMON_LINE, COMMON_LINE.map(lambda line: dict(reversed(line.items())))))
def test_the_prepared_line_reads_as_any_line(data: dict[str, Any]) -> None:
    data = _without_nul(data)  # handed to no reader (`check`)
    fast, careful = reader._line(data), reader._any_line(data)
    assert (fast is reader_checks._BAD) == (careful is reader_checks._BAD)
    if careful is not reader_checks._BAD:
        same(fast, careful, "line")
        same(fast, validate_event({**GOOD, "items": [data]}).items[0], "line")  # type: ignore[union-attr]
