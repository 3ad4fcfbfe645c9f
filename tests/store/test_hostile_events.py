"""`Loyalty.handle` with event data from Python refuses what the JSON reader refuses, in every store:
the NUL character anywhere (PostgreSQL cannot keep it, and it stopped `run --db`) and identifiers
longer than 200 characters (a 5 MB customer id was kept as a key). The refusal is RE410 at the
field's path, with the JSON reader's words and hint for NUL and the model's for a length, and
nothing is written: the store holds no customer and no event after it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rules_engine import jsonio
from rules_engine.engine.evaluator import Engine
from rules_engine.engine.event_text import parse_event_text
from rules_engine.errors import EventError
from rules_engine.program.validate import load_program_text
from rules_engine.service import Loyalty
from tests.store.conftest import OpenStore
from tests.store.streams import PROGRAM, START

ENGINE = Engine(load_program_text(PROGRAM, "store-test.yaml"), secret=b"store tests")


def purchase(**changes: Any) -> dict[str, Any]:
    event = {
        "id": "p1",
        "type": "purchase",
        "time": (START + dt.timedelta(hours=1)).isoformat(),
        "customer": "anna",
        "items": [{"sku": "TEA", "price": "4.50", "qty": 2}],
    }
    return {**event, **changes}


HOSTILE: list[tuple[str, dict[str, Any], tuple[str | int, ...], str]] = [
    ("a NUL in the customer", purchase(customer="an\x00na"), ("customer",), jsonio.NUL),
    ("a NUL in the event id", purchase(id="p\x001"), ("id",), jsonio.NUL),
    (
        "a NUL in a line's name",
        purchase(items=[{"sku": "TEA", "name": "\x00", "price": 1, "qty": 1}]),
        ("items", 0, "name"),
        jsonio.NUL,
    ),
    (
        "a NUL in an attribute's key",
        purchase(attributes={"camp\x00aign": "x"}),
        ("attributes", "camp\x00aign"),
        jsonio.NUL,
    ),
    (
        "a NUL in an attribute's value",
        purchase(attributes={"campaign": ["x", "\x00"]}),
        ("attributes", "campaign", 1),
        jsonio.NUL,
    ),
    (
        "a 5 MB customer",
        purchase(customer="c" * 5_000_000),
        ("customer",),
        "String should have at most 200 characters",
    ),
    (
        "a 201-character SKU",
        purchase(items=[{"sku": "T" * 201, "price": 1, "qty": 1}]),
        ("items", 0, "sku"),
        "String should have at most 200 characters",
    ),
    (
        "a 201-character coupon",
        purchase(coupons=["C" * 201]),
        ("coupons", 0),
        "String should have at most 200 characters",
    ),
]


@pytest.mark.parametrize(
    ("data", "path", "words"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE]
)
def test_hostile_data_is_refused_and_nothing_is_kept(
    open_test_store: OpenStore, data: dict[str, Any], path: tuple[str | int, ...], words: str
) -> None:
    loyalty = Loyalty(ENGINE, open_test_store())
    with pytest.raises(EventError) as refused:
        loyalty.handle(data)
    [diagnostic] = refused.value.diagnostics
    assert (diagnostic.code, diagnostic.path) == ("RE410", path)
    assert diagnostic.message.endswith(f": {words}")
    if words == jsonio.NUL:
        assert diagnostic.hint == jsonio.NUL_HINT
    store = open_test_store()
    assert store.customers() == []
    assert store.processed() == 0
    loyalty.handle(purchase())  # the store goes on
    assert store.customers() == ["anna"]


def test_the_json_reader_says_the_same_of_a_nul() -> None:
    """The words an HTTP client (RE805) and `loyalty run` (RE414) get for the same event's text."""
    with pytest.raises(jsonio.JsonError) as refused:
        parse_event_text(jsonio.dumps(purchase(customer="an\x00na")))
    assert (refused.value.message, refused.value.hint) == (jsonio.NUL, jsonio.NUL_HINT)


def test_a_nul_is_found_in_data_that_holds_itself() -> None:
    data: dict[str, Any] = {"a": [1, "b"]}
    data["a"].append(data)
    assert jsonio.nul_path(data) is None
    data["a"].append({"c": "\x00"})
    assert jsonio.nul_path(data) == ("a", 3, "c")
