"""Basket lines found by their JSON text (engine/line_texts.py): an event whose lines were read
before is the same event, with the same digest, or gets the same error, as the careful road
(`parse_event(jsonio.loads(text))`) gives it — whatever the lines hold: numbers written `1`,
`1.0`, `true`, `-0`, keys given twice, escapes, text beyond ASCII, `}, {` and `}]` inside a
string or a nested object — and the memory of lines stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine import canonical, event_text, line_texts, reader
from rules_engine.engine.events import Purchase
from tests.engine.test_reader import DIFFERENTIAL
from tests.engine.test_reader_text import COFFEE, careful, check, outcome


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    line_texts._TEXTS.clear()
    yield
    line_texts._TEXTS.clear()


def digest(parsed: Any) -> Any:
    return canonical.event_digest(parsed) if isinstance(parsed, Purchase) else parsed


def header(number: int) -> str:
    return (
        f'{{"id": "e-{number}", "type": "purchase", "time": "2026-12-0{1 + number % 9}T10:00:00+03:00", '
        f'"customer": "c-{number % 3}", "items": ['
    )


NUMBERS = [
    "1",
    "2",
    "1.0",
    "2.50",
    "true",
    "false",
    "-0",
    "0",
    "-1",
    "320.0",
    "1e2",
    "1E+2",
    '"1"',
    "null",
    "99999999999",
]
TEXTS = [
    '"LATTE"',
    '"Latte, large"',
    '"caf\\u00e9"',
    '"café"',
    '"a}, {b"',
    '"x}]"',
    '":colon"',
    '""',
    "null",
    "1",
]
ATTRIBUTES = [
    None,
    "{}",
    '{"size": "L"}',
    '{"size": 1}',
    '{"size": true}',
    '{"size": 1.50}',
    '{"size": "L", "size": "M"}',
    '{"a": {"b": 1}, "c": "d"}',
    '{"a": [1, {"b": "}, {"}]}',
    '{"a": null}',
]


def mostly(usual: list[str], odd: list[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from(usual * (3 * len(odd)) + odd)


@st.composite
def line_text(draw: st.DrawFn) -> str:
    """One basket line as clients and mistakes write it: fields missing, repeated or odd."""
    fields = [
        ("sku", draw(mostly(['"LATTE"', '"Latte, large"'], TEXTS))),
        ("name", draw(mostly(['"Latte, large"', '"café"'], TEXTS))),
        ("category", draw(mostly(['"coffee"'], TEXTS))),
        ("price", draw(mostly(["320", "180.5", "2.50", "0"], NUMBERS))),
        ("qty", draw(mostly(["1", "2"], NUMBERS))),
    ]
    attributes = draw(mostly(['{"size": "L"}', "{}"], ATTRIBUTES))
    if attributes is not None:
        fields.append(("attributes", attributes))
    kept = [field for field in fields if field[0] in ("sku", "price", "qty") or draw(st.booleans())]
    if draw(st.integers(0, 19)) == 0:  # a key given twice
        kept.append(draw(st.sampled_from(kept)))
    if draw(st.integers(0, 19)) == 0:
        kept.append(("extra", '"x"'))
    return "{" + ", ".join(f'"{name}": {value}' for name, value in kept) + "}"


def event(number: int, lines: list[str]) -> str:
    return header(number) + ", ".join(lines) + "]}"


def same_as_careful(text: str) -> None:
    read = outcome(event_text.parse_event_text, text)
    expected = outcome(careful, text)
    check(text)  # the event, or the error, as the careful road's (tests/engine/test_reader_text.py)
    assert digest(read) == digest(expected)


@DIFFERENTIAL
@given(st.lists(line_text(), min_size=1, max_size=4), st.lists(line_text(), min_size=0, max_size=2))
def test_lines_read_again_by_their_text_are_the_careful_roads(lines: list[str], others: list[str]) -> None:
    """The same lines read three times (remembered, then found), beside new ones and reordered:
    each time the careful road's event, digest or error."""
    line_texts._TEXTS.clear()
    reader._SEEN.clear()
    for number, basket in enumerate([lines, lines, others + lines[::-1], lines + others]):
        if basket:
            same_as_careful(event(number, basket))


def test_lines_read_before_are_not_scanned_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without this the test above would pass with lines never found."""
    expected = careful(COFFEE)
    assert event_text.parse_event_text(COFFEE) == expected
    assert len(line_texts._TEXTS) == 2
    scanned: list[str] = []
    plain = jsonio.loads_plain
    monkeypatch.setattr(jsonio, "loads_plain", lambda text: scanned.append(text) or plain(text))
    again = COFFEE.replace("evt-1", "evt-2")
    read = event_text.parse_event_text(again)
    assert read == careful(again) and digest(read) == digest(careful(again))
    assert len(scanned) == 1 and '"sku"' not in scanned[0] and '"items": []' in scanned[0]


@pytest.mark.parametrize(
    "change",
    [
        ('"customer": "card-7781"', '"customer": "card-7781", "customer": "card-7781"'),  # twice, beside
        ('"customer": "card-7781"', '"customer": ":card-7781"'),  # a value starting with a colon
        ('"customer": "card-7781"', '"customer": "card\\u00e9"'),  # an escape beside known lines
        ('"customer": "card-7781"', '"customer": "\\ud800"'),  # a lone surrogate
        ('"currency": "RUB"', '"currency": "RUB", "items": []'),  # items given twice
        ('"currency": "RUB"', '"currency": "RUB", "attributes": {"items": 1}'),  # "items" nested too
        ('"type": "purchase"', '"type": "return"'),  # lines of another model
        ('"type": "purchase"', '"type": "newsletter"'),  # an event without lines
        ("]}", "], }"),  # broken after the lines
        ("]}", "]} x"),
        ("]}", "]"),
        ("]}", "]}}"),
        ('"items": [', '"items": [1, '),  # something before the known lines
        ('"items": [', '"attributes": {"deep": ' + "[" * 70 + "]" * 70 + '}, "items": ['),
    ],
)
def test_an_event_around_known_lines_is_read_or_refused_as_the_careful_road(change: tuple[str, str]) -> None:
    same_as_careful(COFFEE)  # its lines remembered
    assert line_texts._TEXTS
    assert change[0] in COFFEE
    same_as_careful(COFFEE.replace(*change))


@pytest.mark.parametrize("text", ['"a}, {b"', '"a}]b"', '"a}, {\\"sku\\": 1}"'])
def test_a_cut_inside_a_string_or_a_nested_object_is_no_known_line(text: str) -> None:
    data = json.loads(COFFEE)
    data["items"][0]["name"] = json.loads(text)
    data["items"][1]["attributes"] = {"a": {"b": "c"}, "d": {"e": "f"}}
    written = json.dumps(data, ensure_ascii=False)
    for number in range(3):
        same_as_careful(written.replace("evt-1", f"evt-{number}"))
    for piece in line_texts._TEXTS:  # only whole objects remembered, if any
        assert piece.startswith('"sku": ')
        value, end = json.JSONDecoder().raw_decode("{" + piece + "}")
        assert end == len(piece) + 2 and isinstance(value, dict)


def test_the_memory_of_lines_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(line_texts, "_KEPT", 16)
    long = '{"sku": "L", "name": "' + "n" * 600 + '", "category": "c", "price": 1, "qty": 1}'
    for number in range(40):
        lines = [f'{{"sku": "S{number}-{at}", "category": "c", "price": {at}, "qty": 1}}' for at in range(3)]
        same_as_careful(event(number, [*lines, long]))
        assert len(line_texts._TEXTS) <= 16
    assert all(len(piece) <= line_texts._LONGEST for piece in line_texts._TEXTS)


def test_a_long_basket_is_cut_in_linear_time() -> None:
    """10,001 lines: more than a purchase may hold, refused as the careful road refuses them."""
    line = '{"sku": "A", "category": "c", "price": 1, "qty": 1}'
    same_as_careful(event(1, [line] * 3))
    assert line_texts.cut(event(2, [line] * 10_001)) is None
    same_as_careful(event(2, [line] * 10_001))
