"""Event payload digests (engine/canonical.py): one event, one digest, however it is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine import canonical, reader
from rules_engine.engine.canonical import event_digest
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.events import Line, validate_event
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from tests.engine.test_reader import EVENTS, Count, Number, Text, same

ROOT = Path(__file__).resolve().parents[2]

PRICES = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False)
OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)))


def purchase(price: Decimal, qty: Decimal, moment: dt.datetime, **extra: Any) -> dict[str, Any]:
    line = {"sku": "TV", "price": price, "qty": qty}
    return {
        "id": "e1",
        "type": "purchase",
        "time": moment.isoformat(),
        "customer": "c1",
        "items": [line],
        **extra,
    }


MOMENT = dt.datetime(2026, 12, 5, 9, 15, tzinfo=dt.UTC)


@given(price=PRICES, qty=st.integers(1, 50), offset=OFFSETS, zeros=st.integers(0, 4))
def test_the_same_event_written_otherwise_has_the_same_digest(
    price: Decimal, qty: int, offset: dt.timezone, zeros: int
) -> None:
    plain = parse_event(purchase(price, Decimal(qty), MOMENT))
    padded = price.quantize(Decimal(1).scaleb(-(2 + zeros)))  # 500.00 → 500.0000
    written = {**purchase(padded, Decimal(qty), MOMENT.astimezone(offset)), "currency": None}
    reordered = dict(reversed(list(written.items())))
    assert event_digest(parse_event(reordered)) == event_digest(plain)


@given(price=PRICES, other=PRICES)
def test_another_amount_is_another_digest(price: Decimal, other: Decimal) -> None:
    first = event_digest(parse_event(purchase(price, Decimal(1), MOMENT)))
    second = event_digest(parse_event(purchase(other, Decimal(1), MOMENT)))
    assert (first == second) == (price == other)


def test_a_number_and_a_text_are_different_payloads_whatever_python_type_the_number_has() -> None:
    """From Python a number may come as a float: it is the number it shows, never its text."""
    base = {"id": "c1", "type": "app_open", "time": "2026-12-08T09:00:00+03:00", "customer": "ann"}
    as_float, as_text, as_decimal = ({**base, "attributes": {"k": k}} for k in (1.5, "1.5", Decimal("1.50")))
    assert event_digest(parse_event(as_float)) != event_digest(parse_event(as_text))
    assert event_digest(parse_event(as_float)) == event_digest(parse_event(as_decimal))


def test_a_return_reusing_a_purchases_id_has_another_digest() -> None:
    bought = parse_event(purchase(Decimal(500), Decimal(1), MOMENT))
    returned = parse_event(
        {
            "id": "e1",
            "type": "return",
            "time": MOMENT.isoformat(),
            "customer": "c1",
            "purchase": "e0",
            "items": [{"sku": "TV", "qty": 1}],
        }
    )
    assert event_digest(bought) != event_digest(returned)


# -- the digest against its first implementation ------------------------------------------------
# Digests are kept in databases: a digest computed otherwise for the same event would turn every
# redelivery of it into RE443 ("id reused for another event"). `reference_digest` is
# `event_digest` as it was first written (model_dump, then a recursive walk); the faster one must
# give the same hex for every event of every type.


def reference_digest(event: Any) -> str:
    data = event.model_dump(mode="python")
    data["time"] = event.time.astimezone(dt.UTC)
    return hashlib.sha256(_reference_canonical(data).encode()).hexdigest()


def _reference_canonical(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        items = ",".join(
            _quote(str(key)) + ":" + _reference_canonical(value[key]) for key in sorted(value, key=str)
        )
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_reference_canonical(item) for item in value) + "]"
    if value is None or isinstance(value, bool):
        return "null" if value is None else "true" if value else "false"
    if isinstance(value, int):  # written through a float at first: the same digits up to 2**53
        return int.__repr__(value)  # (tests/engine/test_canonical_numbers.py), exact past it
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal):
        if not value:
            return "0"
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, dt.date | dt.time):
        return _quote(value.isoformat())
    return _quote(str(value))


_quote = json.encoder.encode_basestring

# Numbers as JSON text gives them (exponents, trailing zeros), as Python callers give them
# (floats, ints, subclasses), and the odd ones only Python can put in `attributes`.
EXACT = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.sampled_from(["5E+2", "500.00", "0.000", "1E-7", "-0", "12.3400", "1e3"]).map(Decimal),
    st.decimals(min_value=0, max_value=10**6, places=4),
)
PLAIN = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["é", "日本", "\u2028", '"', "\\", "\x00", "😀"]),
    st.integers(min_value=-(10**30), max_value=10**30),
    EXACT,
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.dates(),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.times(),
    st.sampled_from([Count.ONE, Text("t"), Number("1.50"), frozenset({1})]),
)
NESTED = st.recursive(
    PLAIN,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(["a", "b", "é"])), inner, max_size=3),
    ),
    max_leaves=8,
)
NESTED_ATTRIBUTES = st.dictionaries(st.text(max_size=5), NESTED, max_size=4)


@st.composite
def events(draw: st.DrawFn) -> tuple[Any, Any]:
    """A valid event of any type (tests/engine/test_reader.py's), often with nested attributes,
    amounts written with exponents and trailing zeros, and a time in any offset."""
    data = draw(EVENTS)
    if draw(st.booleans()):
        data["attributes"] = draw(NESTED_ATTRIBUTES)
    if data["type"] == "purchase" and draw(st.booleans()):
        data["basket_attributes"] = draw(NESTED_ATTRIBUTES)
        for line in data["items"]:
            line["price"] = draw(st.one_of(EXACT.map(abs), st.floats(min_value=0, max_value=1e6)))
            line["attributes"] = draw(NESTED_ATTRIBUTES)
    if draw(st.booleans()):
        data["time"] = draw(
            st.datetimes(min_value=dt.datetime(1901, 1, 1)).map(lambda t: t.replace(tzinfo=dt.UTC))
        )
        data["time"] = data["time"].astimezone(draw(OFFSETS))
    try:
        return validate_event(data), parse_event(data)
    except EventError:
        reject()


def digest_or_error(digest: Callable[[Any], str], event: Any) -> Any:
    try:
        return digest(event)
    except UnicodeEncodeError as error:  # a lone surrogate from a Python caller: no digest either way
        return type(error)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(events=events())
def test_the_digest_is_the_first_implementations_for_every_event(events: tuple[Any, Any]) -> None:
    """Read by the model or by the fast reader (engine/reader.py), whose instances are built by
    hand: the same digest as the first implementation's."""
    model, read = events
    expected = digest_or_error(reference_digest, model)
    assert digest_or_error(event_digest, model) == expected
    assert digest_or_error(event_digest, read) == expected


def test_a_line_with_a_signalling_nan_attribute_has_the_first_implementations_digest() -> None:
    """A Python caller may put `Decimal("sNaN")` in a line's attributes; it cannot be hashed, so
    the remembered line texts must not be asked for it (found by the property test above)."""
    data = purchase(Decimal(0), Decimal(1), MOMENT)
    data["items"][0]["attributes"] = {"": Decimal("sNaN")}
    for event in (validate_event(data), parse_event(data)):
        assert event_digest(event) == reference_digest(event)


def test_the_digest_of_the_example_events_is_the_first_implementations() -> None:
    for path in sorted((ROOT / "programs" / "events").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                event = parse_event(jsonio.loads(line))
            except (EventError, jsonio.JsonError):
                continue
            assert event_digest(event) == reference_digest(event), (path.name, line)


def test_events_read_from_json_do_not_need_model_dump() -> None:
    """The fast path knows every value JSON text gives (else every event would pay for `model_dump`
    again, unnoticed: the digest is the same either way)."""
    for path in sorted((ROOT / "programs" / "events").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                event = parse_event(jsonio.loads(line))
            except (EventError, jsonio.JsonError):
                continue
            # raises _UnknownValueError for a value it does not know
            canonical._model_text(event, event.time)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the reference, for an int price
def test_a_remembered_line_text_is_only_given_to_a_line_that_writes_the_same_text(monkeypatch: Any) -> None:
    """Lines without attributes are written once per distinct value (canonical._LINE_TEXTS): prices
    equal in Python but of other types (a Python caller may put an int or a float in a line
    made without validation), in other digits, or lines past the memory's size, each get the
    first implementation's digest."""
    monkeypatch.setattr(canonical, "_LINE_TEXTS_KEPT", 4)
    base = parse_event(purchase(Decimal(1), Decimal(1), MOMENT))
    prices: list[Any] = [Decimal("3"), Decimal("3.00"), 3, 3.0, Decimal("3.10"), 3.1, True, Decimal("1"), 1]
    for round_ in range(2):
        for price in prices:
            line = Line.model_construct(
                sku="A", name=None, category=None, price=price, qty=Decimal(1), attributes={}
            )
            event = base.model_copy(update={"items": [line, line]})
            assert event_digest(event) == reference_digest(event), (round_, price)
            assert len(canonical._LINE_TEXTS) <= 4


def test_a_long_line_is_not_remembered() -> None:
    """A hostile stream of lines with megabyte skus cannot fill the memory of line texts."""
    canonical._LINE_TEXTS.clear()
    line = Line.model_construct(
        sku="X" * 100_000, name=None, category=None, price=Decimal(1), qty=Decimal(1), attributes={}
    )
    event = parse_event(purchase(Decimal(1), Decimal(1), MOMENT)).model_copy(update={"items": [line]})
    assert event_digest(event) == reference_digest(event)
    kept = canonical._LINE_TEXTS.values()
    assert not any(len(text) > canonical._LINE_TEXT_LONGEST for text in kept)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the reference, for odd values
def test_a_remembered_line_with_attributes_is_only_given_to_a_line_that_writes_the_same_text() -> None:
    """Lines whose attributes are scalars are remembered too (a size, a colour on every line):
    attribute values equal in Python but of other types, in other digits, or of types whose text
    is not their value's alone (a float, a date, a list, a dict) each get the first
    implementation's digest, in whichever order they come."""
    base = parse_event(purchase(Decimal(1), Decimal(1), MOMENT))
    values: list[Any] = [
        "L",
        "l",
        1,
        True,
        Decimal("1"),
        Decimal("1.0"),
        Decimal("1.5"),
        1.0,
        None,
        "",
        [1],
        {"a": 1},
        dt.date(2026, 1, 1),
        MOMENT,
        MOMENT.astimezone(dt.UTC),
    ]
    canonical._LINE_TEXTS.clear()
    for round_ in range(2):
        for value in values if round_ == 0 else reversed(values):
            shapes = ({"size": value}, {"size": value, "colour": "red"}, {"colour": "red", "size": value})
            for attributes in shapes:
                line = Line.model_construct(
                    sku="A", name=None, category=None, price=Decimal(1), qty=Decimal(1), attributes=attributes
                )
                event = base.model_copy(update={"items": [line, line]})
                assert event_digest(event) == reference_digest(event), (round_, attributes)


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the reference, for odd values
@pytest.mark.parametrize(
    "value",
    [None, "", 0, False, 0.0, -0.0, Decimal(0), Decimal("0.00"), Decimal("-0"), Decimal("0E+3"), {}, [], ()],
)
def test_a_false_value_is_written_as_the_first_implementation_writes_it(value: Any) -> None:
    """An empty or zero field is written without a call (events._EMPTY_TEXT), by its exact type:
    the same text as the first implementation's, whatever the type (a Python caller may put any)."""
    base = parse_event(purchase(Decimal(1), Decimal(1), MOMENT))
    for field in ("channel", "shipping", "attributes", "coupons"):
        event = base.model_copy(update={field: value})
        assert event_digest(event) == reference_digest(event), (field, value)


ODD_VALUES = [None, "", 0, False, 0.0, Decimal(0), Decimal("0.00"), {}, [], (), "x", 1, True, Decimal("2.50")]


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # the reference, for odd values
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                name: st.sampled_from(ODD_VALUES)
                for name in ("channel", "store", "shipping", "tax", "attributes", "coupons", "device")
            },
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_texts_kept_for_empty_fields_fit_every_event_they_are_given_to(
    updates: list[dict[str, Any]],
) -> None:
    """`_model_text` keeps the texts of empty fields by the types of an event's values: events one
    after the other, each with other types and values in its fields, each written as the first
    implementation writes it."""
    base = parse_event(purchase(Decimal(1), Decimal(1), MOMENT))
    for update in updates:
        event = base.model_copy(update=update)
        assert digest_or_error(event_digest, event) == digest_or_error(reference_digest, event), update


# -- lines found by the JSON values they were read from (reader._SEEN, canonical.carry) ------------
# Values that are equal in Python but are other values of the model or write other texts (1 and
# true, 320 and "320", 320 and 320.00 which write one), so that the lines and texts remembered by
# the lines' JSON values meet lines that must not take them.
LINE_NUMBERS = st.sampled_from(["1", "2", "320", "320.00", "320.5", "3.2E+2", '"320"', '"1"', "true", "1.0"])
LINE_TEXTS = st.sampled_from(['"A"', '"a"', '"1"', '""', "null", "1", "true"])
ATTRIBUTE_VALUES = st.sampled_from(
    ['"L"', '"1"', "1", "1.0", "true", "null", "[1]", '{"a":1}', '"2026-12-01"']
)


@st.composite
def line_texts(draw: st.DrawFn) -> str:
    """A basket line's JSON, of any of the shapes a line may be sent in (keys in any order, optional
    fields left out, attributes of every kind of value), often refused by the reader."""
    fields = {"sku": draw(LINE_TEXTS), "price": draw(LINE_NUMBERS), "qty": draw(LINE_NUMBERS)}
    for name in ("name", "category"):
        if draw(st.integers(0, 3)):
            fields[name] = draw(LINE_TEXTS)
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(["size", "colour", "1"]), max_size=3, unique=True))
        fields["attributes"] = "{" + ",".join(f'"{key}":{draw(ATTRIBUTE_VALUES)}' for key in keys) + "}"
    order = draw(st.permutations(list(fields)))
    return "{" + ",".join(f'"{name}":{fields[name]}' for name in order) + "}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(line_texts(), min_size=1, max_size=4), min_size=1, max_size=6), st.integers(1, 8))
def test_an_event_read_from_text_has_the_first_implementations_digest(
    baskets: list[list[str]], kept: int
) -> None:
    """`parse_event_text` finds a purchase's lines among those read before by the values as sent,
    and carries their texts to its digest: events one after the other, whose lines repeat, in
    other types and digits, past the memory's size; each event the model's, down to a Decimal's
    exponent, and each digest the first implementation's."""
    reader._SEEN.clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "_SEEN_KEPT", kept)
        for number, basket in enumerate(baskets):
            text = (
                f'{{"id":"e{number}","type":"purchase","time":"2026-12-08T09:00:00+03:00",'
                f'"customer":"ann","items":[{",".join(basket)}]}}'
            )
            try:
                event = parse_event_text(text)
            except EventError:
                continue
            model = validate_event(jsonio.loads(text))
            same(event, model)
            assert event_digest(event) == reference_digest(model), text
            assert len(reader._SEEN) <= kept


def test_a_purchase_read_from_text_is_carried_to_its_digest() -> None:
    """The fast road carries the lines' texts (else the test above would test nothing new), the
    second time from lines read before; an event not carried (read from data) has the same digest."""
    text = (
        '{"id": "evt-1", "type": "purchase", "time": "2026-12-08T10:15:00+03:00", "customer": "card-7781", '
        '"items": [{"sku": "LATTE-L", "name": "Latte, large", "category": "coffee", "price": 320, "qty": 2, '
        '"attributes": {"size": "L"}}, {"sku": "CROISSANT", "name": "Butter croissant", '
        '"category": "pastry", "price": 180.50, "qty": 1}]}'
    )
    reader._SEEN.clear()
    parse_event_text(text)
    assert reader._SEEN  # its lines remembered
    event = parse_event_text(text)
    assert canonical._CARRIED[id(event)][0] is event
    digest = event_digest(event)
    assert id(event) not in canonical._CARRIED  # taken out by its digest: nothing kept alive
    assert digest == event_digest(event) == event_digest(parse_event(jsonio.loads(text)))
    assert digest == reference_digest(event)


def test_events_read_many_before_their_digests_are_still_carried() -> None:
    """The service reads every request's event on its loop and digests it later on its lane, a
    group at a time: 64 events read in a row (64 in flight) are each carried to their digest,
    which is the first implementation's; once digested, none is kept."""
    texts = [
        f'{{"id": "evt-{number}", "type": "purchase", "time": "2026-12-08T10:15:00+03:00", '
        f'"customer": "c{number}", "items": [{{"sku": "LATTE-L", "category": "coffee", "price": 320, '
        f'"qty": {1 + number % 3}}}, {{"sku": "CROISSANT", "category": "pastry", "price": 180.50, '
        '"qty": 1}]}'
        for number in range(64)
    ]
    canonical._CARRIED.clear()
    for text in texts[:3]:  # their lines remembered (a line read the first time is not carried)
        event_digest(parse_event_text(text))
    events = [parse_event_text(text) for text in texts]
    assert all(canonical._CARRIED[id(event)][0] is event for event in events)
    for text, event in zip(texts, events, strict=True):
        assert event_digest(event) == reference_digest(parse_event(jsonio.loads(text)))
    assert canonical._CARRIED == {}
