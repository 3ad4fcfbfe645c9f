"""A tier window and what is measured in it: its bounds at an event, the oldest moment it still
needs, the metric summed over it, the level a metric reaches, and the progress to the next level.

The tier mechanic (tiers.py), its step in place (tiers_working.py), the whole step's result
(whole/result.py) and the tools that read standings (tools/standing.py, tools/leaderboard.py)
all measure windows the same way, here. A window's start and horizon are instants
(`periods.instant`): a wall time in a daylight-saving gap or fold names the earliest instant it
can mean, so that two starts compare in the order of time (docs/engine.md, "Tiers").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from rules_engine import periods
from rules_engine.engine.outcome import TierProgress
from rules_engine.engine.trusted import trusted
from rules_engine.periods import Period
from rules_engine.program.model import TierLevel, Tiers
from rules_engine.program.types import Window
from rules_engine.state.customer import Activity

ZERO = Decimal(0)
_TIER_PROGRESS = {"tier", "metric", "window", "next", "needed"}
"""`TierProgress`'s fields, made from values of the right types already (trusted: not validated again)."""


def calendar_of(window: Window) -> Period:
    """The calendar period of a calendar window (`calendar_month` → month)."""
    return periods.WINDOWS[window.kind]


def metric(kind: str, activity: list[Activity], start: dt.datetime | None, end: dt.datetime) -> Decimal:
    """The sum of one metric (spend, points, visits) of the activity in [start, end)."""
    total = ZERO
    for entry in activity:
        if (start is None or entry.at >= start) and entry.at < end:
            total += Decimal(entry.visits) if kind == "visits" else getattr(entry, kind)
    return total


def window_bounds(window: Window, local: dt.datetime) -> tuple[dt.datetime | None, dt.datetime]:
    """[start, end) of the window an event at `local` is measured in."""
    end = local + dt.timedelta(microseconds=1)  # the event itself counts
    if window.kind == "lifetime":
        return None, end
    if window.kind == "rolling":
        assert window.length is not None
        return periods.instant(local - window.length), end
    return periods.instant(periods.start(calendar_of(window), local)), end


def qualified(tiers: Tiers, value: Decimal) -> TierLevel | None:
    reached = [level for level in tiers.levels if level.threshold <= value]
    return reached[-1] if reached else None


def window_horizon(window: Window, local: dt.datetime) -> dt.datetime | None:
    """The oldest moment the window still needs at `local`: what is older can leave the activity
    (`tiers.record_activity`); None for a lifetime window, which keeps everything."""
    if window.kind == "lifetime":
        return None
    if window.kind == "rolling":
        assert window.length is not None
        return periods.instant(local - 2 * window.length)
    period = calendar_of(window)
    return periods.instant(periods.start(period, periods.start(period, local) - dt.timedelta(seconds=1)))


OFFSETS_APART = dt.timedelta(days=2)
"""More than two UTC offsets can be apart (each is less than a day either way, `tzinfo.utcoffset`).
A rolling window's start, the event's wall time in the program's zone less `length`, is as an
instant the event's less `length`, moved by how much the zone's offset changed in between (an
hour at a daylight-saving change, a day where Samoa skipped one): less than this later."""


def surely_inside(entry: dt.datetime, at: dt.datetime, length: dt.timedelta) -> bool:
    """Whether `entry` is at or after `at - length`, where `at`'s zone is a fixed offset (two
    times in the same zone object compare as plain times: exact for a fixed offset, and without
    the two calls for UTC offsets a comparison across zones makes)."""
    return entry >= at - length


def progress_of(
    tier: str | None, value: Decimal, window: str, after: tuple[str, Decimal] | None
) -> TierProgress:
    """The `TierProgress` `tiers.for_purchase` leaves to be made: the tier, the metric, and the next
    level with what is missing to it (None at the top)."""
    return trusted(
        TierProgress,
        {
            "tier": tier,
            "metric": value,
            "window": window,
            "next": after[0] if after else None,
            "needed": max(ZERO, after[1] - value) if after else None,
        },
        _TIER_PROGRESS,
    )
