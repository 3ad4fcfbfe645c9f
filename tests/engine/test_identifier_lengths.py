"""Every identifier of an event is at most 200 characters and a product's name at most 1,000
(events.py `MAX_ID`, `MAX_NAME`), whichever path reads it: the fast reader on Python data and on
JSON text gives the models' event or the models' error, at the same path, line and column.

A 5 MB customer id was once read, decided and kept as a store's key: these tests hold each field
at its bound, one past it and with odd characters, on both sides of the reader.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import jsonio
from rules_engine.engine.event_text import parse_event_text
from rules_engine.engine.events import MAX_ATTRIBUTES, MAX_ID, MAX_NAME, validate_event
from rules_engine.engine.inputs import locate_in
from rules_engine.errors import EventError, path_text
from tests.engine.test_reader import check

TIME = "2026-12-08T09:00:00+03:00"
BASES: dict[str, dict[str, Any]] = {
    "purchase": {
        "items": [{"sku": "LATTE", "name": "Latte", "category": "coffee", "price": 300, "qty": 1}],
        "coupons": ["WELCOME"],
    },
    "return": {"purchase": "p1", "items": [{"sku": "LATTE", "qty": 1}]},
    "signup": {"referral_code": "REF-1", "tags": ["news"]},
    "review": {"product": "LATTE"},
    "survey": {"survey": "nps"},
    "redeem": {"item": "free-latte"},
    "referral_reward": {"referee": "bob", "qualifying_event": "p9"},
    "app_open": {"channel": "app", "store": "arbat", "device": "d", "payment": "p", "household": "h"},
    "newsletter_signup": {},
}
# Each identifier (and the name) by the event type that has it: its path and its bound.
FIELDS: list[tuple[str, tuple[str | int, ...], int]] = [
    ("app_open", ("id",), MAX_ID),
    ("app_open", ("customer",), MAX_ID),
    *(("app_open", (name,), MAX_ID) for name in ("channel", "store", "device", "payment", "household")),
    ("purchase", ("items", 0, "sku"), MAX_ID),
    ("purchase", ("items", 0, "category"), MAX_ID),
    ("purchase", ("items", 0, "name"), MAX_NAME),
    ("purchase", ("coupons", 0), MAX_ID),
    ("return", ("purchase",), MAX_ID),
    ("return", ("items", 0, "sku"), MAX_ID),
    ("signup", ("referral_code",), MAX_ID),
    ("signup", ("tags", 0), MAX_ID),
    ("review", ("product",), MAX_ID),
    ("survey", ("survey",), MAX_ID),
    ("redeem", ("item",), MAX_ID),
    ("referral_reward", ("referee",), MAX_ID),
    ("referral_reward", ("qualifying_event",), MAX_ID),
    ("newsletter_signup", ("type",), MAX_ID),
]
ODD = ["x", "é", "日", "😀", " ", "\n", '"', "\\", "\ud800", "\x00"]


def event(kind: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = {"id": "e1", "type": kind, "time": TIME, "customer": "anna", **copy.deepcopy(BASES[kind])}
    *above, last = path
    target: Any = data
    for step in above:
        target = target[step]
    target[last] = value
    return data


def text_of(limit: int, size: int, odd: str, at: int, custom_type: bool) -> str:
    """`size` characters, one of them `odd`; a custom type's name in the letters its pattern takes."""
    plain = "a" if custom_type else "x"
    value = plain * size
    if size:
        at %= size
        value = value[:at] + odd + value[at + 1 :]
    return value


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(FIELDS),
    st.sampled_from([-1, 0, 1]),
    st.sampled_from(ODD),
    st.integers(min_value=0, max_value=2000),
)
def test_the_reader_and_the_models_agree_at_each_bound(
    field: tuple[str, tuple[str | int, ...], int], offset: int, odd: str, at: int
) -> None:
    kind, path, limit = field
    value = text_of(limit, limit + offset, odd, at, custom_type=path == ("type",))
    data = event(kind, path, value)
    got = check(data)  # the fast reader and the model: the same event or the same diagnostics
    if odd in ("x", "é", "日", "😀", " ") and path != ("type",):
        if offset <= 0:
            assert not isinstance(got, list), got
        else:
            assert [entry[:3] for entry in got] == [
                ("RE410", f"{path_text(path)}: String should have at most {limit} characters", path)
            ]
    if odd in ("\ud800", "\x00"):
        return  # no JSON text holds them (jsonio refuses both)
    text = jsonio.dumps(data)
    assert result_of_text(text) == result_of_text(text, careful=True)


def result_of_text(text: str, *, careful: bool = False) -> Any:
    """What `loyalty run` makes of an event's text: the event, or its diagnostics located in it."""
    try:
        return validate_event(jsonio.loads(text)) if careful else parse_event_text(text)
    except EventError as error:
        located = locate_in(error.diagnostics, text, "events.jsonl", first_line=3)
        return [(d.code, d.message, d.path, d.span and (d.span.start, d.span.end)) for d in located]


@pytest.mark.parametrize(("kind", "path", "limit"), FIELDS, ids=[path_text(path) for _, path, _ in FIELDS])
def test_a_hostile_identifier_is_refused_where_it_stands(
    kind: str, path: tuple[str | int, ...], limit: int
) -> None:
    value = ("a" if path == ("type",) else "x") * 5_000_000
    text = jsonio.dumps(event(kind, path, value))
    [(code, message, where, span)] = result_of_text(text)
    assert (code, message, where) == (
        "RE410",
        f"{path_text(path)}: String should have at most {limit} characters",
        path,
    )
    assert span is not None
    assert text[span[0] : span[0] + 2] == '"' + value[0]  # the caret under the value's first character


# Custom attributes: a name (key) at most MAX_ID, a text value at most MAX_NAME, at most
# MAX_ATTRIBUTES of them; an event's, a basket's, a line's (the reader's prepared line too).
ATTRIBUTES: list[tuple[str, tuple[str | int, ...]]] = [
    ("app_open", ("attributes",)),
    ("purchase", ("attributes",)),
    ("purchase", ("basket_attributes",)),
    ("purchase", ("items", 0, "attributes")),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(ATTRIBUTES),
    st.sampled_from(["name", "value", "count"]),
    st.sampled_from([-1, 0, 1]),
    st.sampled_from(["x", "é", "😀", '"']),
)
def test_the_reader_and_the_models_agree_on_attributes_at_each_bound(
    where: tuple[str, tuple[str | int, ...]], what: str, offset: int, odd: str
) -> None:
    kind, path = where
    limit = {"name": MAX_ID, "value": MAX_NAME, "count": MAX_ATTRIBUTES}[what]
    size = limit + offset
    if what == "name":
        attributes: dict[str, Any] = {"size": "L", odd + "k" * (size - 1): "v"}
    elif what == "value":
        attributes = {"size": "L", "note": odd + "v" * (size - 1)}
    else:
        attributes = {f"a{n}": n for n in range(size)}
    data = event(kind, path, attributes)
    got = check(data)  # the fast reader and the model: the same event or the same diagnostics
    if offset <= 0:
        assert not isinstance(got, list), got
    else:
        [(code, message, at, hint, _)] = got
        assert code == "RE410" and hint is not None
        if what == "value":
            assert (message, at) == (
                f"{path_text(path)}.note: String should have at most {limit} characters",
                (*path, "note"),
            )
        else:
            assert at == path and f"more than the {limit}" in message
    text = jsonio.dumps(data)
    assert result_of_text(text) == result_of_text(text, careful=True)  # the same path, line, column


def test_a_hostile_attribute_is_refused_without_quoting_its_name() -> None:
    data = event("purchase", ("attributes",), {"k" * 3_000_000: "v" * 3_000_000})
    [(code, message, where, span)] = result_of_text(jsonio.dumps(data))
    assert (code, where) == ("RE410", ("attributes",))
    assert (
        message
        == "attributes: an attribute's name of 3,000,000 characters, more than the 200 a name may have"
    )
    assert span is not None
