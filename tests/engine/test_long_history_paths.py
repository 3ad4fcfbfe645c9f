"""The shortcuts a long history's events take agree with the plain definitions they replace.

Each event of a customer with a year of points expires lots, makes lots available and leaves old
purchase lines out; the code for those takes shortcuts (no conversion to UTC when the times share
one fixed offset, one pass over the lines). Here each is compared with the definition it stands
for, on generated inputs (times in several offsets, dates out of order as late events leave them).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.engine import history, lifecycle
from rules_engine.state.customer import Lot, OlderPurchases, PastLine

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
OFFSETS = [dt.UTC, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-5))]

moments = st.builds(
    lambda minutes, zone: (BASE + dt.timedelta(minutes=minutes)).astimezone(zone),
    st.integers(0, 3 * 24 * 60),  # three days: many lots share a moment or a day
    st.sampled_from(OFFSETS),
)


def _lot(event: int, rule: str, earned: dt.datetime) -> Lot:
    return Lot(
        event=f"e{event}",
        rule=rule,
        points=Decimal(5),
        earned_at=earned,
        available_at=earned + dt.timedelta(days=14),
        expires_at=earned + dt.timedelta(days=365),
    )


lots = st.lists(
    st.builds(_lot, st.integers(0, 9), st.sampled_from(["base", "tier:gold", "early-bird"]), moments),
    max_size=12,
    unique_by=lambda lot: lot.id,
)


@settings(max_examples=200, deadline=None)
@given(lots, st.booleans())
def test_lots_are_put_in_earned_order_as_instants_then_ids(made: list[Lot], one_zone: bool) -> None:
    """`_oldest_first`: by (the instant earned, the lot's id), whichever way it compares them."""
    if one_zone:  # the engine's own times: one fixed offset (the fast path)
        made = [lot.model_copy(update={"earned_at": lot.earned_at.astimezone(OFFSETS[1])}) for lot in made]
    expected = sorted(made, key=lambda lot: (lot.earned_at.astimezone(dt.UTC), lot.id))
    assert [lot.id for lot in lifecycle._oldest_first(made)] == [lot.id for lot in expected]


def _reference_kept(
    purchases: list[PastLine],
    new: list[PastLine],
    older: OlderPurchases | None,
    today: dt.date,
    keep: dt.timedelta,
) -> tuple[list[PastLine], OlderPurchases | None]:
    """`history.kept` as it was first written: the lines before the cutoff found, then their newest date."""
    cutoff = today - dt.timedelta(days=keep.days + 1)
    end = 0
    for line in purchases:
        if line.date >= cutoff:
            break
        end += 1
    if not end:
        return [*purchases, *new], older
    gone = purchases[:end]
    until = max(line.date for line in gone)
    if older is not None and older.until > until:
        until = older.until
    return [*purchases[end:], *new], OlderPurchases(
        lines=(older.lines if older else 0) + len(gone), until=until
    )


def _line(day: int, n: int) -> PastLine:
    return PastLine(
        sku=f"S{n}",
        category="coffee",
        price=Decimal(1),
        qty=Decimal(1),
        date=dt.date(2026, 1, 1) + dt.timedelta(days=day),
        event=f"e{n}",
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 60), max_size=30),  # the lines' days: mostly in order, not always (late events)
    st.integers(0, 3),
    st.integers(0, 90),
    st.integers(1, 40),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_purchase_lines_left_out_and_their_newest_date(
    days: list[int], new: int, today: int, keep: int, older_day: int | None
) -> None:
    purchases = [_line(day, n) for n, day in enumerate(days)]
    added = [_line(today, 100 + n) for n in range(new)]
    older = (
        None
        if older_day is None
        else OlderPurchases(lines=7, until=dt.date(2026, 1, 1) + dt.timedelta(days=older_day))
    )
    on = dt.date(2026, 1, 1) + dt.timedelta(days=today)
    window = dt.timedelta(days=keep)
    assert history.kept(purchases, added, older, on, window) == _reference_kept(
        purchases, added, older, on, window
    )
