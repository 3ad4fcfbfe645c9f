"""An event's JSON text read in one go (engine/event_text.py) against `jsonio.loads` and
`parse_event`: the same event, or the same error (a JSON problem's message, place and hint; an
event's diagnostics), whatever the text: written compactly or not, with a key given twice, a
string starting with a colon, escapes, nesting at the depth limit, or no JSON at all.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine import event_text, line_texts, reader
from rules_engine.engine.reader import parse_event
from rules_engine.errors import EventError
from tests.engine.test_reader import DIFFERENTIAL, EVENTS, broken, same

COFFEE = (
    '{"id": "evt-1", "type": "purchase", "time": "2026-12-08T10:15:00+03:00", "customer": "card-7781", '
    '"channel": "store", "currency": "RUB", "items": [{"sku": "LATTE-L", "name": "Latte, large", '
    '"category": "coffee", "price": 320, "qty": 2, "attributes": {"size": "L"}}, {"sku": "CROISSANT", '
    '"name": "Butter croissant", "category": "pastry", "price": 180.5, "qty": 1}]}'
)


def outcome(parse: Any, text: str) -> Any:
    try:
        return parse(text)
    except jsonio.JsonError as problem:
        return ("json", problem.message, problem.position, problem.hint)
    except EventError as error:
        return [(d.code, d.message, d.path, d.hint) for d in error.diagnostics]


def careful(text: str) -> Any:
    return parse_event(jsonio.loads(text))


def check(text: str) -> Any:
    """`parse_event_text` and the careful road agree on `text`; what they gave."""
    quick, expected = outcome(event_text.parse_event_text, text), outcome(careful, text)
    same(quick, expected)
    return quick


def _plain(value: Any) -> Any:
    """Generated data as JSON can carry it: floats as the decimals they show, times as text."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def written(data: Any) -> str:
    return jsonio.dumps(_plain(data))


def pretty(text: str) -> str:
    """The text indented, as `json.dumps` writes it (numbers as text), if the standard library reads it."""
    try:
        return json.dumps(json.loads(text, parse_float=str, parse_int=str), indent=2)
    except ValueError:
        return text


# How clients and mistakes write the same event: compact, pretty, spaced, escaped, keys repeated.
STYLES = [
    lambda text: text,
    lambda text: text.replace('": ', '":').replace(", ", ","),  # compact: no space anywhere
    lambda text: pretty(text),
    lambda text: text.replace('": ', '" : ', 1),  # a space before a colon
    lambda text: text.replace('{"', '{"id": "again", "', 1),  # the event's id given twice
    lambda text: text.replace('{"sku": ', '{"qty": 1, "sku": ', 1),  # a line's qty given twice
    lambda text: text.replace('"customer": "', '"customer": ":', 1),  # a value starting with a colon
    lambda text: text.replace('"customer": "', '"customer": "\\u00e9', 1),  # an escape
    lambda text: text.replace('"customer": "', '"customer": "\\"', 1),  # an escaped quote
    lambda text: text.replace('"customer": "', '"customer": "é', 1),  # text beyond ASCII
    lambda text: text[: len(text) // 2],  # cut short
]


@DIFFERENTIAL
@given(EVENTS, st.sampled_from(range(len(STYLES))))
def test_generated_events_read_from_text_as_loads_and_parse_event_read_them(data: Any, style: int) -> None:
    check(STYLES[style](written(data)))


@DIFFERENTIAL
@given(broken(), st.sampled_from(range(len(STYLES))))
def test_broken_events_read_from_text_get_the_same_errors(data: Any, style: int) -> None:
    try:
        text = written(data)
    except TypeError:  # an OrderedDict or the like: no text of it to read
        return
    check(STYLES[style](text))


@given(st.text(max_size=60))
def test_any_text_is_read_or_refused_as_loads_does(text: str) -> None:
    check(text)


@pytest.mark.parametrize("depth", [59, 60, 61, 62, 63, 64, 65])
@pytest.mark.parametrize("where", ["event", "line"])
def test_attributes_nested_to_the_depth_limit_and_past_it(depth: int, where: str) -> None:
    """A value nested past `jsonio.MAX_DEPTH` is refused with loads' error wherever it sits; one
    within it is read."""
    data = json.loads(COFFEE)
    owner = data if where == "event" else data["items"][0]
    above = 2 if where == "event" else 4  # the levels above the attributes' values
    nested: Any = 1
    for level in range(depth - above):
        nested = [nested] if level % 2 else {"k": nested}
    owner["attributes"] = {"deep": nested}
    check(json.dumps(data))


def test_a_key_given_twice_is_loads_error_at_its_place() -> None:
    text = COFFEE.replace('"qty": 1}', '"qty": 1, "qty": 2}')
    refused = outcome(event_text.parse_event_text, text)
    assert refused == ("json", 'the key "qty" appears twice in one object', text.rindex('"qty"'), refused[3])


@pytest.mark.parametrize(
    "text",
    [
        COFFEE,
        COFFEE.replace('": ', '":').replace(", ", ","),
        written({**json.loads(COFFEE), "coupons": ["A"]}),
    ],
)
def test_a_valid_event_as_encoders_write_it_is_read_without_loads(text: str, monkeypatch: Any) -> None:
    """Without this the tests above would pass with a `parse_event_text` that always reads the
    careful way."""
    expected = careful(text)
    monkeypatch.setattr(jsonio, "loads", lambda *_: pytest.fail("read the careful way"))
    same(event_text.parse_event_text(text), expected)


def test_the_keys_are_counted_in_nested_attributes() -> None:
    data = json.loads(COFFEE)
    data["attributes"] = {"a": [{"b": 1, "c": [{"d": None}]}, {}], "e": {"f": {}}}
    text = json.dumps(data)
    quick = jsonio.loads_counting_keys(text)
    assert quick is not None and event_text._keys(quick[0]) == quick[1] == text.count('":')
    twice = text.replace('{"d": null}', '{"d": null, "d": null}')
    assert outcome(event_text.parse_event_text, twice)[:2] == (
        "json",
        'the key "d" appears twice in one object',
    )


@pytest.mark.parametrize(
    ("line", "twice"),
    [
        ('"qty": 1}', '"qty": 1, "qty": 1}'),
        ('"size": "L"}', '"size": "L", "size": "L"}'),
        ('"sku": "CROISSANT"', '"sku": "CROISSANT", "sku": "CROISSANT"'),
        ('"customer": "card-7781"', '"attributes": {"a": {"b": 1, "b": 1}}, "customer": "card-7781"'),
    ],
)
def test_a_key_given_twice_beside_lines_read_before_is_loads_error(line: str, twice: str) -> None:
    """The keys of lines found among those read before are counted as they were read
    (`reader.read_lines`), not walked again: a key given twice in such a line, or in the event's
    own attributes beside them, is refused as `loads` refuses it."""
    reader._SEEN.clear()
    line_texts._TEXTS.clear()
    check(COFFEE)
    assert reader._SEEN and line_texts._TEXTS  # its lines remembered, and found now
    customer = '"customer": "card-7781"'
    check(COFFEE.replace(customer, '"attributes": {"a": {"b": 1}}, ' + customer))
    assert line in COFFEE
    refused = check(COFFEE.replace(line, twice))
    assert refused[0] == "json" and "appears twice in one object" in refused[1]


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_a_text_nested_far_too_deep_is_refused_as_loads_refuses_it(depth: int) -> None:
    """Past the C scanner's recursion limit too: loads' error at the bracket past the limit."""
    text = COFFEE[:-1] + ', "attributes": {"deep": ' + "[" * depth + "]" * depth + "}}"
    refused = check(text)
    assert refused[0] == "json" and "nested more than 64 deep" in refused[1]
