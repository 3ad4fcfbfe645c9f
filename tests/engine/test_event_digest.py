"""Event payload digests (engine/events.py): one event, one digest, however it is written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rules_engine.engine.events import event_digest, parse_event

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
