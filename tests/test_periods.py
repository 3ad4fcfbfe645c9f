"""Calendar periods: one vocabulary for windows, caps, budgets and streaks, keys that never change."""

from __future__ import annotations

import datetime as dt
import typing
import zoneinfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine import periods
from rules_engine.program.model import Budget, Cap, Streak
from rules_engine.program.types import Window

MSK = dt.timezone(dt.timedelta(hours=3))


def test_every_spelling_a_program_file_may_use_names_a_period() -> None:
    windows = typing.get_args(typing.get_type_hints(Window)["kind"])
    assert set(periods.WINDOWS) == set(windows) - {"rolling", "lifetime"}
    assert set(periods.CAPS) == set(Cap.model_fields) - {"per_event"}
    assert set(periods.BUDGETS) == set(typing.get_args(Budget.model_fields["period"].annotation))
    assert set(typing.get_args(Streak.model_fields["unit"].annotation)) <= set(periods.WINDOWS.values())


def test_keys_are_spelt_as_states_and_stores_keep_them() -> None:
    day = dt.date(2026, 12, 5)
    assert [periods.key(p, day) for p in periods.WINDOWS.values()] == [
        "2026-12-05",
        "2026-W49",
        "2026-12",
        "2026-Q4",
        "2026",
    ]
    assert periods.key(None, day) == "lifetime"
    assert [periods.cap_period_key(cap, day) for cap in periods.CAPS] == [
        "day:2026-12-05",
        "week:2026-W49",
        "month:2026-12",
        "year:2026",
        "lifetime",
    ]
    assert periods.BUDGET_PERIODS == {
        "day": "per_day",
        "week": "per_week",
        "month": "per_month",
        "year": "per_year",
        "program": "lifetime",
    }


def test_weeks_are_iso_weeks_from_monday_across_the_new_year() -> None:
    assert periods.key("week", dt.date(2027, 1, 3)) == "2026-W53"  # a Sunday, still 2026's week
    assert periods.key("week", dt.date(2027, 1, 4)) == "2027-W01"
    assert periods.previous_key("week", dt.date(2027, 1, 4)) == "2026-W53"
    assert periods.previous_key("day", dt.date(2027, 1, 1)) == "2026-12-31"
    start = periods.start("week", dt.datetime(2027, 1, 3, 23, 59, tzinfo=MSK))
    assert start == dt.datetime(2026, 12, 28, tzinfo=MSK)


def test_a_period_follows_the_last_one_of_the_year_into_the_next() -> None:
    for period, last, first in [
        ("day", dt.datetime(2026, 12, 31, tzinfo=MSK), dt.datetime(2027, 1, 1, tzinfo=MSK)),
        ("month", dt.datetime(2026, 12, 1, tzinfo=MSK), dt.datetime(2027, 1, 1, tzinfo=MSK)),
        ("quarter", dt.datetime(2026, 10, 1, tzinfo=MSK), dt.datetime(2027, 1, 1, tzinfo=MSK)),
        ("year", dt.datetime(2026, 1, 1, tzinfo=MSK), dt.datetime(2027, 1, 1, tzinfo=MSK)),
    ]:
        assert periods.following(period, last) == first, period
    assert periods.start("quarter", dt.datetime(2026, 11, 15, 8, tzinfo=MSK)) == dt.datetime(
        2026, 10, 1, tzinfo=MSK
    )


def test_labels_say_which_period_in_words() -> None:
    assert periods.label("day") == "today"
    assert periods.label("quarter") == "this calendar quarter"


_ZONES = [
    zoneinfo.ZoneInfo(name)
    for name in ("Europe/Berlin", "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe")
]


@settings(max_examples=400)
@given(
    zone=st.sampled_from(_ZONES),
    walls=st.lists(
        st.datetimes(min_value=dt.datetime(2011, 1, 1), max_value=dt.datetime(2027, 12, 31)),
        min_size=2,
        max_size=2,
    ),
    fold=st.integers(0, 1),
)
def test_an_instant_compares_as_the_earliest_instant_its_wall_time_names(
    zone: zoneinfo.ZoneInfo, walls: list[dt.datetime], fold: int
) -> None:
    """Window starts worked out on wall times compare by instant, whatever the zone did that
    day: a wall time in a gap or a fold stands for the earliest instant it may name, written with
    that instant's offset; a real wall time keeps its text."""
    made = [periods.instant(wall.replace(tzinfo=zone, fold=fold)) for wall in walls]
    earliest = [min(wall.replace(tzinfo=zone, fold=f).astimezone(dt.UTC) for f in (0, 1)) for wall in walls]
    assert [m.astimezone(dt.UTC) for m in made] == earliest
    assert (made[0] < made[1]) == (earliest[0] < earliest[1])
    assert (made[0] == made[1]) == (earliest[0] == earliest[1])
    for wall, moment in zip(walls, made, strict=True):
        assert moment.replace(tzinfo=None) == wall  # the wall time, written as it was


def test_an_instant_in_the_hour_berlin_skips_is_the_hour_before_it() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    skipped = periods.instant(dt.datetime(2026, 3, 29, 2, 30, tzinfo=berlin))
    assert skipped.isoformat() == "2026-03-29T02:30:00+02:00"  # 00:30 UTC: 30 days before 02:30 CEST
    after = dt.datetime(2026, 3, 29, 3, 10, tzinfo=berlin)  # a real wall time: the same text
    assert periods.instant(after).isoformat() == after.isoformat() == "2026-03-29T03:10:00+02:00"
    assert skipped < periods.instant(after)
    usual = dt.datetime(2026, 3, 30, 3, 10, tzinfo=berlin)  # a day of one offset: itself, no time made
    assert periods.instant(usual) is usual
