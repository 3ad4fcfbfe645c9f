"""What the engine shares or remembers by value for speed must never mix two values that are equal
but written differently: 5 and 5.0 points are equal decimals, not the same JSON.

`trusted.award_records` and `trusted.counted_line` share one frozen model per value,
`money.ratio_of` remembers a decimal's exact ratio, `mechanics.shared.local_words` a moment's
local time in words (bench/README.md, the stream benchmark's results)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine.events import Line
from rules_engine.engine.mechanics.shared import _local_words
from rules_engine.engine.money import ratio_of
from rules_engine.engine.trusted import award_records, awards_records, counted_line, counted_lines
from rules_engine.state.customer import LedgerLine, LotLine


def test_line_shares_of_equal_values_written_differently_stay_apart() -> None:
    quantities = [Decimal("2"), Decimal("2.0")]
    for points in (Decimal("5"), Decimal("5.0"), Decimal("5.00")):
        for line in (0, 1):
            (lot,), (ledger,) = award_records(((line, "A", points),), quantities)
            assert (
                lot.model_dump_json()
                == LotLine(line=line, sku="A", qty=quantities[line], points=points).model_dump_json()
            )
            assert ledger.model_dump_json() == LedgerLine(line=line, points=points).model_dump_json()
            assert str(lot.points) == str(ledger.points) == str(points)
            assert str(lot.qty) == str(quantities[line])


def test_the_same_values_give_the_same_instance() -> None:
    """The sharing itself: what keeps the states' line models few (a model is frozen)."""
    first = award_records(((3, "LATTE", Decimal(7)),), [Decimal(1)] * 4)
    again = award_records(((3, "LATTE", Decimal(7)),), [Decimal(1)] * 4)
    assert first[0][0] is again[0][0] and first[1][0] is again[1][0]
    assert counted_line(1, "X", Decimal(1), Decimal(1)) is counted_line(1, "X", Decimal(1), Decimal(1))
    assert str(counted_line(1, "X", Decimal("1.0"), Decimal(1)).qty) == "1.0"
    assert counted_line(1, "X", Decimal(1), Decimal(1)).model_fields_set == {"line", "sku", "qty", "added"}


@settings(max_examples=200, deadline=None)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9))
def test_a_remembered_ratio_is_the_decimals_own(value: Decimal) -> None:
    for written in (value, value.quantize(Decimal("0.000001")), value.normalize()):
        assert ratio_of(written) == written.as_integer_ratio()


def test_one_instant_has_one_local_time_whatever_its_offset() -> None:
    moscow = ZoneInfo("Europe/Moscow")
    noon = dt.datetime(2026, 12, 8, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    same = noon.astimezone(dt.UTC)
    assert _local_words(noon, moscow) == _local_words(same, moscow) == "2026-12-08 12:00"
    assert _local_words(same, dt.UTC) == "2026-12-08 09:00"


def test_the_records_of_an_event_are_each_awards_own() -> None:
    """The records of several awards made in one pass (the event's lines found once) are those of
    each award alone, and a challenge's counted lines those of each line alone."""
    quantities = [Decimal("2"), Decimal("1.0"), Decimal(1)]
    awards = (
        ((0, "A", Decimal(5)), (1, "B", Decimal("3.0")), (2, "(shipping)", Decimal(1))),
        ((0, "A", Decimal("5.0")), (1, "B", Decimal(3))),
        (),
    )
    together = awards_records(awards, quantities)
    assert together == [award_records(shares, quantities) for shares in awards]
    for (lots, entries), shares in zip(together, awards, strict=True):
        assert [str(lot.points) for lot in lots] == [str(points) for _, _, points in shares]
        assert [str(entry.points) for entry in entries] == [str(points) for _, _, points in shares]
    items = [
        Line(sku="A", price=Decimal(1), qty=Decimal(2)),
        Line(sku="B", price=Decimal(1), qty=Decimal("1.0")),
    ]
    for parts in (None, [Decimal(2), Decimal("0.0")]):
        made = counted_lines(items, parts)
        alone = [
            counted_line(i, line.sku, line.qty, parts[i] if parts else Decimal(0))
            for i, line in enumerate(items)
        ]
        assert made == alone
        assert [(str(m.qty), str(m.added)) for m in made] == [(str(a.qty), str(a.added)) for a in alone]


def test_line_shares_looked_up_by_the_decimal_itself_keep_their_text() -> None:
    """A share's records are looked up by the points decimal first (its very object: `is`), then
    by its text: equal values written differently, met in any order, each object again, keep
    each its own text (the small decimals of money.SMALL are the ones found by object)."""
    from rules_engine.engine.money import SMALL

    quantities = [Decimal(1)]
    seen = [Decimal("9.0"), SMALL[9], Decimal("9"), Decimal("9.00"), SMALL[9], Decimal("9.0")]
    for points in [*seen, *reversed(seen)]:
        (lot,), (ledger,) = award_records(((0, "Z", points),), quantities)
        assert str(lot.points) == str(ledger.points) == str(points)
