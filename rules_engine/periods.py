"""Calendar periods: the one vocabulary of days, weeks, months, quarters and years.

Program files name periods in the spellings each section documents (docs/programs.md), and those
stay as marketers write them:

    windows: tiers, challenges, leaderboards   calendar_day … calendar_year (and rolling, lifetime)
    caps of earn rules                         per_day … per_year, lifetime
    budgets of earn rules                      day … year, program
    streak units                               day, week

The code names a period one way, `Period`, maps each spelling to it once (`WINDOWS`, `CAPS`,
`BUDGETS`; None is the whole lifetime) and asks this module what every mechanic asks of a moment
in the program's timezone:

    start(period, local) -> datetime   the start of the period it falls in (weeks are ISO: Monday)
    following(period, start)           the start of the next period
    key(period, day) -> str            its key for counters: 2026-12-05, 2026-W49, 2026-12, 2026-Q4, 2026
    label(period) -> str               its name for people: today, this calendar week, …
    instant(moment) -> datetime        a wall time worked out in the zone, as the instant it names

Keys are stored in customer states and stores, so their spelling never changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal, TypeVar

V = TypeVar("V")

Period = Literal["day", "week", "month", "quarter", "year"]

LIFETIME = "lifetime"
"""The key of the one period that never ends (lifetime windows and caps, a budget per program)."""

WINDOWS: dict[str, Period] = {
    "calendar_day": "day",
    "calendar_week": "week",
    "calendar_month": "month",
    "calendar_quarter": "quarter",
    "calendar_year": "year",
}
"""The calendar windows of tiers, challenges and leaderboards (`rolling` and `lifetime` are not
calendar periods)."""

CAPS: dict[str, Period | None] = {
    "per_day": "day",
    "per_week": "week",
    "per_month": "month",
    "per_year": "year",
    LIFETIME: None,
}
"""The periods an earn rule's `cap` limits, in the order a trace names them."""

BUDGETS: dict[str, Period | None] = {
    "day": "day",
    "week": "week",
    "month": "month",
    "year": "year",
    "program": None,
}
"""An earn rule's `budget.period`."""

BUDGET_PERIODS: dict[str, str] = {
    budget: next(cap for cap, same in CAPS.items() if same == period) for budget, period in BUDGETS.items()
}
"""A budget's `period` → the cap period whose counter key it counts under (`month` → `per_month`)."""

_LABELS: dict[Period, str] = {
    "day": "today",
    "week": "this calendar week",
    "month": "this calendar month",
    "quarter": "this calendar quarter",
    "year": "this calendar year",
}


_FIXED: dict[dt.timedelta, dt.timezone] = {}
_UNIFORM: dict[dt.tzinfo, dict[int, bool]] = {}
"""Per zone, per day (its ordinal): whether the zone keeps one offset all that day (`_uniform_days`)."""


def instant(moment: dt.datetime) -> dt.datetime:
    """`moment`, a time worked out on wall times in the program's zone (a window's start, `local`
    less 30 days; a period's midnight), made to compare as the earliest instant its wall time
    names: itself on a day the zone keeps one offset (a table of such days, a zone-year at a
    time), else that instant in its fixed offset (the same text whenever the wall time is real).

    Two times of one `ZoneInfo` compare by their wall times, which is their instants' order only
    for wall times that name one instant each. A wall time moved by days can fall in a
    daylight-saving gap or fold (02:30 on the spring day read as CET is 01:30 UTC, later than
    03:10 CEST): running sums moved by such comparisons missed the purchases of a window that
    moved back. In a gap, the earliest reading is the offset after the change (`fold=1`: "30
    days before 02:30" is exactly 30 days before; read with the offset before, a window of an
    hour across Samoa's skipped day would start after the event it ends at); in a fold, the
    first of the two."""
    zone = moment.tzinfo
    if zone is None or type(zone) is dt.timezone:
        return moment
    days = _UNIFORM.get(zone)
    if days is None:
        days = _UNIFORM[zone] = {}
    day = moment.toordinal()
    uniform = days.get(day)
    if uniform is None:  # a year's days at once (a stream's events walk through days)
        if len(days) >= 16 * 366:
            days.clear()
        days.update(_uniform_days(zone, moment.year))
        uniform = days[day]
    if uniform:  # the common answer, without making a time
        return moment
    offset = moment.utcoffset()
    other = moment.replace(fold=1 - moment.fold).utcoffset()
    if offset is None or other is None:
        return moment
    if other > offset:  # a gap or a fold: the larger offset names the earlier instant
        offset = other
    fixed = _FIXED.get(offset)
    if fixed is None:
        fixed = _FIXED[offset] = dt.timezone(offset)
    return moment.replace(tzinfo=fixed, fold=0)


def _uniform_days(zone: dt.tzinfo, year: int) -> dict[int, bool]:
    """For each day of `year` (its ordinal), whether `zone` has one offset from its start to the
    start of the next, both read either way (`fold`): then no wall time of that day is in a gap
    or a fold (a zone that changed twice in one day and back would pass: none does). ~1.5 ms a
    zone and year, once."""
    first, last = dt.date(year, 1, 1).toordinal(), dt.date(year + 1, 1, 1).toordinal()
    offsets = []
    for day in range(first, last + 1):
        midnight = dt.datetime.fromordinal(day).replace(tzinfo=zone)
        offsets.append((midnight.utcoffset(), midnight.replace(fold=1).utcoffset()))
    return {
        first + index: offsets[index][0]
        == offsets[index][1]
        == offsets[index + 1][0]
        == offsets[index + 1][1]
        for index in range(last - first)
    }


def start(period: Period, local: dt.datetime) -> dt.datetime:
    """The start of the period that `local` (in the program's timezone) falls in."""
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    if period == "quarter":
        return day.replace(day=1, month=3 * ((day.month - 1) // 3) + 1)
    return day.replace(day=1, month=1)


def following(period: Period, begun: dt.datetime) -> dt.datetime:
    """The start of the period after the one that starts at `begun`."""
    if period == "day":
        return begun + dt.timedelta(days=1)
    if period == "week":
        return begun + dt.timedelta(days=7)
    if period == "month":
        return begun.replace(year=begun.year + begun.month // 12, month=begun.month % 12 + 1)
    if period == "quarter":
        month = begun.month + 3
        return begun.replace(year=begun.year + (month - 1) // 12, month=(month - 1) % 12 + 1)
    return begun.replace(year=begun.year + 1)


def key(period: Period | None, day: dt.date) -> str:
    """The key of the period a local date falls in: `2026-12-05`, `2026-W49` (ISO week, Monday to
    Sunday), `2026-12`, `2026-Q4`, `2026`; `lifetime` for None. Keys of one period sort by time."""
    if period is None:
        return LIFETIME
    if period == "day":
        return day.isoformat()
    if period == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return f"{day.year}"


def previous_key(period: Period, day: dt.date) -> str:
    """The key of the period just before the one a local date falls in."""
    first = start(period, dt.datetime.combine(day, dt.time()))
    return key(period, first.date() - dt.timedelta(days=1))


def cap_period_key(cap: str, day: dt.date) -> str:
    """The counter key of a cap period (`per_day` … `lifetime`) for a local date, e.g.
    `week:2026-W49`: caps and budgets count per key, so a new day, ISO week, month or year starts
    from zero without a reset."""
    period = CAPS[cap]
    return LIFETIME if period is None else f"{period}:{key(period, day)}"


def label(period: Period) -> str:
    """The period an event falls in, for people: `today`, `this calendar week` …"""
    return _LABELS[period]


def of_kinds(counts: dict[str, V], current: Sequence[str]) -> dict[str, V]:
    """`counts` (holding every key of `current`) less the keys of a period kind none of `current`
    is of: a cap whose period changed between program versions (`per_week` to `per_day`) counts
    from the new period on, and the old kind's counter leaves with the rule's next count, as the
    whole step's does (engine/whole/generate.py). One comparison when there is none."""
    if len(counts) == len(current):
        return counts
    kinds = {key.partition(":")[0] for key in current}
    return {k: v for k, v in counts.items() if k.partition(":")[0] in kinds}


def without_past(counts: dict[str, V], current: str) -> dict[str, V]:
    """`counts` by period key, less the periods of `current`'s kind that ended before it (keys of
    one kind sort by time): cap counters keep the current period of each cap, not every period
    ever counted. A period after `current` (counted by a later event than a late one) stays."""
    kind = current.partition(":")[0] + ":"
    if not any(k < current and k.startswith(kind) for k in counts):
        return counts
    return {k: v for k, v in counts.items() if not (k < current and k.startswith(kind))}
