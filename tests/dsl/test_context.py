"""Turning service data into a context: exact numbers, aware times, every bad field named."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from rules_engine import ContextError, make_context
from rules_engine.jsonio import dumps, loads

EVENT = {"id": "e1", "type": "purchase", "time": "2026-12-05T23:30:00+00:00"}


def problems(data: dict[str, object]) -> list[tuple[str, str]]:
    with pytest.raises(ContextError) as caught:
        make_context(data)
    return [(d.code, d.message) for d in caught.value.diagnostics]


def test_numbers_are_exact_never_float() -> None:
    context = make_context({"basket": {"total": 19.99, "items": [{"sku": "a", "price": 0.1, "qty": 3}]}})
    assert context["basket"]["total"] == Decimal("19.99")
    assert isinstance(context["basket"]["items"][0]["price"], Decimal)
    assert context["basket"]["item_count"] == 3


def test_json_numbers_are_read_exactly_and_written_exactly() -> None:
    data = loads('{"total": 0.1, "big": 12345678901234567890.123456789}')
    assert data["total"] == Decimal("0.1")
    assert dumps({"value": Decimal("3.50"), "n": 7, "d": dt.date(2026, 12, 24)}) == (
        '{"value": 3.5, "n": 7, "d": "2026-12-24"}'
    )
    assert dumps(data) == '{"total": 0.1, "big": 12345678901234567890.123456789}'


def test_defaults_and_nulls() -> None:
    context = make_context({"customer": {}})
    assert context["customer"]["points"] == 0
    assert context["customer"]["tags"] == ()
    assert context["customer"]["tier"] is None


def test_timezone_makes_local_hours_and_dates() -> None:
    context = make_context({"event": EVENT}, timezone=ZoneInfo("Europe/Moscow"))
    assert context["event"]["time"].hour == 2
    assert context["event"]["date"] == dt.date(2026, 12, 6)
    utc = make_context({"event": EVENT})
    assert utc["event"]["date"] == dt.date(2026, 12, 5)


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        ({"event": {**EVENT, "time": "2026-12-05T23:30:00"}}, "RE404", "event.time: has no timezone offset"),
        ({"event": {**EVENT, "time": "yesterday"}}, "RE404", "not an ISO 8601 time"),
        ({"event": {"type": "purchase", "time": EVENT["time"]}}, "RE404", "event.id: is required"),
        ({"basket": {"total": "12,50"}}, "RE404", 'basket.total: expected a number, got text "12,50"'),
        ({"basket": {"total": "1e3"}}, "RE404", 'basket.total: expected a number, got text "1e3"'),
        ({"basket": {"total": True}}, "RE404", "basket.total: expected a number"),
        ({"basket": {"total": float("nan")}}, "RE404", "finite"),
        (
            {"basket": {"total": 1, "items": [{"sku": "a", "price": 1}]}},
            "RE404",
            "basket.items[0].qty: is required",
        ),
        ({"basket": {"total": 1, "items": {"sku": "a"}}}, "RE404", "basket.items: expected a list"),
        ({"customer": {"tags": "vip"}}, "RE404", "customer.tags: expected a list"),
        ({"customer": {"signup_date": "14.03.2025"}}, "RE404", "customer.signup_date: expected a date"),
        ({"shopper": {}}, "RE403", "unknown context object `shopper`"),
    ],
)
def test_bad_data_is_refused_with_the_field_path(data: dict[str, object], code: str, fragment: str) -> None:
    found = problems(data)
    assert any(c == code and fragment in message for c, message in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems({"basket": {"total": "x", "items": [{"price": "y", "qty": 1}]}})
    assert len(found) == 3


def test_required_roots() -> None:
    with pytest.raises(ContextError) as caught:
        make_context({"basket": {"total": 1}}, require=["customer"])
    assert caught.value.code == "RE402"


@pytest.mark.parametrize("total", [Decimal("1e999000"), 10**30, Decimal("1e-40")])
def test_numbers_out_of_range_are_refused(total: object) -> None:
    found = problems({"basket": {"total": total}})
    assert any("out of range" in message for _, message in found)


def test_a_time_with_an_offset_is_not_a_time_of_day() -> None:
    from rules_engine import declare_symbols
    from rules_engine.dsl import types as t

    schema = declare_symbols(event={"opens": t.TIME})
    with pytest.raises(ContextError):
        make_context({"event": {**EVENT, "opens": "09:00+03:00"}}, schema)
    assert make_context({"event": {**EVENT, "opens": "09:00"}}, schema)["event"]["opens"] == dt.time(9)
